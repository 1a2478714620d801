"""atomic submission limits: a lock row per participant and phase; a total limit per phase

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:40:00
"""

from alembic import op
import sqlalchemy as sa



revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'submission_locks',
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_submission_locks_phase_id_phases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_submission_locks_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('phase_id', 'user_id', name=op.f('pk_submission_locks')),
    )
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submissions_total', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('submissions_total')
    op.drop_table('submission_locks')
