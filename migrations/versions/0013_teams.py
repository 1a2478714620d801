"""teams: teams, members (one team per person per challenge), invitations; the team on each submission;
submission locks keyed by entrant (a participant alone or a team); challenges' largest team size

The lock rows only serialise claims, so the table is recreated empty.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('challenge_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_teams_challenge_id_challenges'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_teams_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
        sa.UniqueConstraint('challenge_id', 'name', name=op.f('uq_teams_challenge_id_name')),
    )
    op.create_index(op.f('ix_teams_challenge_id'), 'teams', ['challenge_id'], unique=False)
    op.create_table(
        'team_members',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('challenge_id', sa.Integer(), nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'],
                                name=op.f('fk_team_members_challenge_id_challenges'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('team_id', 'user_id', name=op.f('pk_team_members')),
        sa.UniqueConstraint('challenge_id', 'user_id', name=op.f('uq_team_members_challenge_id_user_id')),
    )
    op.create_table(
        'team_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'],
                                name=op.f('fk_team_invitations_invited_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_invitations_team_id_teams'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_invitations_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_team_invitations')),
        sa.UniqueConstraint('team_id', 'user_id', name=op.f('uq_team_invitations_team_id_user_id')),
    )
    op.create_index(op.f('ix_team_invitations_team_id'), 'team_invitations', ['team_id'], unique=False)
    op.create_index(op.f('ix_team_invitations_user_id'), 'team_invitations', ['user_id'], unique=False)
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_submissions_team_id'), ['team_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_submissions_team_id_teams'), 'teams', ['team_id'], ['id'])
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_team_size', sa.Integer(), nullable=True))
    op.drop_table('submission_locks')
    op.create_table(
        'submission_locks',
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('entrant', sa.String(length=24), nullable=False),
        sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], name=op.f('fk_submission_locks_phase_id_phases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('phase_id', 'entrant', name=op.f('pk_submission_locks')),
    )


def downgrade() -> None:
    op.drop_table('submission_locks')
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
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.drop_column('max_team_size')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_submissions_team_id_teams'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_submissions_team_id'))
        batch_op.drop_column('team_id')
    op.drop_table('team_invitations')
    op.drop_table('team_members')
    op.drop_table('teams')
