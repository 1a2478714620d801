"""participant-safe failure text: the failure message and run notes in the platform's own words, beside the
full text that may quote what the container wrote (file names, values)

Rows from before this revision keep NULL: participants under the failure-message policy read a generic text
for them, never the full one.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('participant_failure_message', sa.Text(), nullable=True))
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('participant_notes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.drop_column('participant_notes')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('participant_failure_message')
