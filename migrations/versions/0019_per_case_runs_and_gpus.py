"""per-case mode and GPU phases: a phase's GPUs and cases run at once; per case: wall time, CPU seconds, peak memory

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 20:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gpus', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('cases_in_parallel', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('case_outcomes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wall_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cpu_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('peak_memory_mb', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_outcomes', schema=None) as batch_op:
        batch_op.drop_column('peak_memory_mb')
        batch_op.drop_column('cpu_seconds')
        batch_op.drop_column('wall_seconds')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('cases_in_parallel')
        batch_op.drop_column('gpus')
