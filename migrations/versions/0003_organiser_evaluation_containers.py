"""organiser evaluation containers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 15:38:23.979493
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evaluator', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('evaluator')

