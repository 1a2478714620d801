"""re-evaluations: runs of a phase's submissions on another version of its test set, within a budget

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 00:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reevaluations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('test_set_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('budget', sa.Integer(), nullable=False),
        sa.Column('selection', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_reevaluations_phase_id', 'reevaluations', ['phase_id'])
    op.create_table(
        'reevaluation_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reevaluation_id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('infrastructure_faults', sa.Integer(), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['reevaluation_id'], ['reevaluations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['run_id'], ['evaluation_runs.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('reevaluation_id', 'submission_id'),
    )
    op.create_index('ix_reevaluation_runs_reevaluation_id', 'reevaluation_runs', ['reevaluation_id'])


def downgrade() -> None:
    op.drop_index('ix_reevaluation_runs_reevaluation_id', table_name='reevaluation_runs')
    op.drop_table('reevaluation_runs')
    op.drop_index('ix_reevaluations_phase_id', table_name='reevaluations')
    op.drop_table('reevaluations')
