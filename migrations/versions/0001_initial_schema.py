"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 14:53:09.922311
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('public_files', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenges')),
    sa.UniqueConstraint('slug', name=op.f('uq_challenges_slug'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('api_token_hash', sa.String(length=64), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('api_token_hash', name=op.f('uq_users_api_token_hash')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('phases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('submission_kind', sa.String(length=30), nullable=False),
    sa.Column('run_mode', sa.String(length=30), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('time_limit_seconds', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('cpus', sa.Float(), nullable=False),
    sa.Column('pids_limit', sa.Integer(), nullable=False),
    sa.Column('tmp_mb', sa.Integer(), nullable=False),
    sa.Column('output_mb', sa.Integer(), nullable=False),
    sa.Column('log_kb', sa.Integer(), nullable=False),
    sa.Column('max_upload_mb', sa.Integer(), nullable=False),
    sa.Column('submissions_per_day', sa.Integer(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('outputs', sa.JSON(), nullable=False),
    sa.Column('ground_truth', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('ranking_metric', sa.String(length=100), nullable=False),
    sa.Column('ranking_order', sa.String(length=10), nullable=False),
    sa.Column('current_test_set_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_phases_challenge_id_challenges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phases')),
    sa.UniqueConstraint('challenge_id', 'slug', name=op.f('uq_phases_challenge_id_slug'))
    )
    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('received', 'validating', 'queued', 'running', 'scoring', 'succeeded', 'failed', 'cancelled', name='submission_state', native_enum=False, length=20), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('upload_key', sa.String(length=500), nullable=True),
    sa.Column('upload_bytes', sa.BigInteger(), nullable=True),
    sa.Column('upload_sha256', sa.String(length=64), nullable=True),
    sa.Column('image_config_digest', sa.String(length=80), nullable=True),
    sa.Column('image_tags', sa.String(length=500), nullable=False),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('failure_is_infrastructure', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_submissions_phase_id_phases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_submissions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions'))
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submissions_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_phase_id'), ['phase_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_user_id'), ['user_id'], unique=False)

    op.create_table('test_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('storage_prefix', sa.String(length=500), nullable=False),
    sa.Column('case_count', sa.Integer(), nullable=False),
    sa.Column('metadata_columns', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_test_sets_phase_id_phases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_sets')),
    sa.UniqueConstraint('phase_id', 'version', name=op.f('uq_test_sets_phase_id_version'))
    )
    # phases and test_sets refer to each other: add this key once both exist (batch mode for SQLite).
    with op.batch_alter_table('phases') as batch_op:
        batch_op.create_foreign_key(op.f('fk_phases_current_test_set_id_test_sets'), 'test_sets',
                                    ['current_test_set_id'], ['id'], ondelete='SET NULL')
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('test_set_id', sa.Integer(), nullable=False),
    sa.Column('case_key', sa.String(length=200), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], name=op.f('fk_cases_test_set_id_test_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('test_set_id', 'case_key', name=op.f('uq_cases_test_set_id_case_key'))
    )
    op.create_table('evaluation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('test_set_id', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('container_seconds', sa.Float(), nullable=True),
    sa.Column('image_load_seconds', sa.Float(), nullable=True),
    sa.Column('stdout_key', sa.String(length=500), nullable=True),
    sa.Column('stderr_key', sa.String(length=500), nullable=True),
    sa.Column('stderr_tail', sa.Text(), nullable=False),
    sa.Column('cases_valid', sa.Integer(), nullable=False),
    sa.Column('cases_invalid', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_evaluation_runs_submission_id_submissions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], name=op.f('fk_evaluation_runs_test_set_id_test_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_runs')),
    sa.UniqueConstraint('submission_id', 'test_set_id', name=op.f('uq_evaluation_runs_submission_id_test_set_id'))
    )
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_runs_submission_id'), ['submission_id'], unique=False)

    op.create_table('case_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('prediction', sa.JSON(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_outcomes_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['evaluation_runs.id'], name=op.f('fk_case_outcomes_run_id_evaluation_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_outcomes')),
    sa.UniqueConstraint('run_id', 'case_id', name=op.f('uq_case_outcomes_run_id_case_id'))
    )
    op.create_table('scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['evaluation_runs.id'], name=op.f('fk_scores_run_id_evaluation_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scores')),
    sa.UniqueConstraint('run_id', 'metric', name=op.f('uq_scores_run_id_metric'))
    )


def downgrade() -> None:
    with op.batch_alter_table('phases') as batch_op:
        batch_op.drop_constraint(op.f('fk_phases_current_test_set_id_test_sets'), type_='foreignkey')
    op.drop_table('scores')
    op.drop_table('case_outcomes')
    with op.batch_alter_table('evaluation_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_runs_submission_id'))

    op.drop_table('evaluation_runs')
    op.drop_table('cases')
    op.drop_table('test_sets')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_user_id'))
        batch_op.drop_index(batch_op.f('ix_submissions_state'))
        batch_op.drop_index(batch_op.f('ix_submissions_phase_id'))
        batch_op.drop_index(batch_op.f('ix_submissions_created_at'))

    op.drop_table('submissions')
    op.drop_table('phases')
    op.drop_table('users')
    op.drop_table('challenges')
