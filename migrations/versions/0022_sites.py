"""sites: hospitals that keep a phase's hidden cases on their own storage; their parts of test sets and runs

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 23:55:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sites',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sites', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_cases_site_id_sites', 'sites', ['site_id'], ['id'], ondelete='RESTRICT')
    op.create_table(
        'test_set_parts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('test_set_id', sa.Integer(), nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('storage_prefix', sa.String(length=500), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('case_count', sa.Integer(), nullable=False),
        sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('test_set_id', 'site_id'),
    )
    op.create_index('ix_test_set_parts_test_set_id', 'test_set_parts', ['test_set_id'])
    op.create_table(
        'submission_site_parts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('test_set_id', sa.Integer(), nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('infrastructure_faults', sa.Integer(), nullable=False),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('wall_seconds', sa.Float(), nullable=True),
        sa.Column('cpu_seconds', sa.Float(), nullable=True),
        sa.Column('peak_memory_mb', sa.Float(), nullable=True),
        sa.Column('image_load_seconds', sa.Float(), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('participant_message', sa.Text(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('submission_id', 'test_set_id', 'site_id'),
    )
    op.create_index('ix_submission_site_parts_submission_id', 'submission_site_parts', ['submission_id'])


def downgrade() -> None:
    op.drop_index('ix_submission_site_parts_submission_id', table_name='submission_site_parts')
    op.drop_table('submission_site_parts')
    op.drop_index('ix_test_set_parts_test_set_id', table_name='test_set_parts')
    op.drop_table('test_set_parts')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cases_site_id_sites', type_='foreignkey')
        batch_op.drop_column('site_id')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('sites')
    op.drop_table('sites')
