"""final submissions: a participant's selection, and the phase's rule for those who select none

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('final_submissions', sa.Integer(), nullable=False, server_default='2'))
        batch_op.add_column(sa.Column('final_rule', sa.String(length=20), nullable=False,
                                      server_default='best-public'))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selected_final', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('selected_final')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('final_rule')
        batch_op.drop_column('final_submissions')
