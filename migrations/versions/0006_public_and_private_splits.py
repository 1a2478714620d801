"""public and private splits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:59:04.093329
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('split_column', sa.String(length=100), nullable=True))

    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subset', sa.String(length=10), server_default='all', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_scores_run_id_metric'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_scores_run_id_metric_subset'), ['run_id', 'metric', 'subset'])


def downgrade() -> None:
    op.execute("DELETE FROM scores WHERE subset <> 'all'")
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_scores_run_id_metric_subset'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_scores_run_id_metric'), ['run_id', 'metric'])
        batch_op.drop_column('subset')

    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('split_column')

