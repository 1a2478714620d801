"""challenge membership: organisers in a join table (from the JSON list of usernames), join requests, terms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:40:00
"""

import json

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'challenge_organisers',
        sa.Column('challenge_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'],
                                name=op.f('fk_challenge_organisers_challenge_id_challenges'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_challenge_organisers_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('challenge_id', 'user_id', name=op.f('pk_challenge_organisers')),
    )
    op.create_table(
        'participations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('challenge_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('terms_accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'],
                                name=op.f('fk_participations_challenge_id_challenges'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_participations_decided_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_participations_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_participations')),
        sa.UniqueConstraint('challenge_id', 'user_id', name=op.f('uq_participations_challenge_id_user_id')),
    )
    op.create_index(op.f('ix_participations_challenge_id'), 'participations', ['challenge_id'], unique=False)
    op.create_index(op.f('ix_participations_user_id'), 'participations', ['user_id'], unique=False)

    connection = op.get_bind()
    users = dict(connection.execute(sa.text("SELECT username, id FROM users")).all())
    for challenge_id, organisers in connection.execute(sa.text("SELECT id, organisers FROM challenges")).all():
        names = json.loads(organisers) if isinstance(organisers, str) else (organisers or [])
        for user_id in sorted({users[name] for name in names if name in users}):
            connection.execute(sa.text("INSERT INTO challenge_organisers (challenge_id, user_id, added_at) "
                                       "VALUES (:c, :u, CURRENT_TIMESTAMP)"), {"c": challenge_id, "u": user_id})

    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_policy', sa.String(length=10), nullable=False, server_default='auto'))
        batch_op.add_column(sa.Column('terms', sa.Text(), nullable=False, server_default=''))
        batch_op.drop_column('organisers')


def downgrade() -> None:
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisers', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.drop_column('terms')
        batch_op.drop_column('join_policy')
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT o.challenge_id, u.username FROM challenge_organisers o JOIN users u ON u.id = o.user_id")).all()
    by_challenge: dict[int, list[str]] = {}
    for challenge_id, username in rows:
        by_challenge.setdefault(challenge_id, []).append(username)
    for challenge_id, names in by_challenge.items():
        connection.execute(sa.text("UPDATE challenges SET organisers = :o WHERE id = :c"),
                           {"o": json.dumps(sorted(names)), "c": challenge_id})
    op.drop_index(op.f('ix_participations_user_id'), table_name='participations')
    op.drop_index(op.f('ix_participations_challenge_id'), table_name='participations')
    op.drop_table('participations')
    op.drop_table('challenge_organisers')
