"""uploads in parts; per phase: leaderboard columns, results published, per-case results; submission re-runs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 12:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'parted_uploads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('total_bytes', sa.BigInteger(), nullable=False),
        sa.Column('received_bytes', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_parted_uploads_phase_id_phases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_parted_uploads_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_parted_uploads')),
        sa.UniqueConstraint('token', name=op.f('uq_parted_uploads_token')),
    )
    with op.batch_alter_table('parted_uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parted_uploads_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaderboard_columns', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('results_published', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('case_results_visible', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reruns', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('reruns')
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('case_results_visible')
        batch_op.drop_column('results_published')
        batch_op.drop_column('leaderboard_columns')
    with op.batch_alter_table('parted_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parted_uploads_user_id'))
    op.drop_table('parted_uploads')
