"""log visibility per phase; the container's own failure output kept apart from the platform's message

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_visibility', sa.String(length=20), nullable=False,
                                      server_default='failure-message'))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_output', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('failure_output')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('log_visibility')
