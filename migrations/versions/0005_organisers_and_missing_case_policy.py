"""organisers and missing-case policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 15:48:58.781620
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisers', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))

    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missing_cases', sa.String(length=10), nullable=False, server_default='fail'))



def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('missing_cases')

    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.drop_column('organisers')

