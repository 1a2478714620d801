"""per evaluation run: the container's CPU seconds and peak memory (cost and time per case)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cpu_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('peak_memory_mb', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.drop_column('peak_memory_mb')
        batch_op.drop_column('cpu_seconds')
