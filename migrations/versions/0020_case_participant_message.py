"""per case: the problem in the platform's words (what participants read where the phase does not show full logs)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 21:25:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_outcomes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('participant_message', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_outcomes', schema=None) as batch_op:
        batch_op.drop_column('participant_message')
