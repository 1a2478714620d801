"""sharding: a phase's shards, and the shards of a submission's run (who runs each, its lease and outcome)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 21:35:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shards', sa.Integer(), nullable=False, server_default='1'))
    op.create_table(
        'submission_shards',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('test_set_id', sa.Integer(), nullable=False),
        sa.Column('shard', sa.Integer(), nullable=False),
        sa.Column('shards', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('infrastructure_faults', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('wall_seconds', sa.Float(), nullable=True),
        sa.Column('cpu_seconds', sa.Float(), nullable=True),
        sa.Column('peak_memory_mb', sa.Float(), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('participant_message', sa.Text(), nullable=True),
        sa.Column('output', sa.Text(), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('submission_id', 'shard'),
    )
    op.create_index('ix_submission_shards_submission_id', 'submission_shards', ['submission_id'])


def downgrade() -> None:
    op.drop_index('ix_submission_shards_submission_id', table_name='submission_shards')
    op.drop_table('submission_shards')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('shards')
