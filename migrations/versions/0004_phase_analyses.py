"""phase analyses

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 15:43:39.383888
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('phase_analyses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('test_set_id', sa.Integer(), nullable=False),
    sa.Column('submission_ids', sa.JSON(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_phase_analyses_phase_id_phases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['test_set_id'], ['test_sets.id'], name=op.f('fk_phase_analyses_test_set_id_test_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phase_analyses'))
    )
    with op.batch_alter_table('phase_analyses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phase_analyses_phase_id'), ['phase_id'], unique=False)

    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('analysis', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))



def downgrade() -> None:
    with op.batch_alter_table('phases', schema=None) as batch_op:
        batch_op.drop_column('analysis')

    with op.batch_alter_table('phase_analyses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phase_analyses_phase_id'))

    op.drop_table('phase_analyses')
