"""per phase: a ranking across several metrics; the decision report published to participants

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ranking_across', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('report_published', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('report_published')
        batch_op.drop_column('ranking_across')
