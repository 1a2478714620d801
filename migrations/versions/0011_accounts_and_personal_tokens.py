"""accounts: email, password hash and session version on users; personal API tokens; sign-in attempts

Each user's single `users.api_token_hash` becomes a token named "migrated" (no expiry) in `api_tokens`, so every
token issued before keeps working. Downgrading puts one active token per user back (the "migrated" one if it is
still active, else the newest active one); the others are lost with the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:30:00
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table(
        'sign_in_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account', sa.String(length=300), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempts')),
    )
    op.create_index('ix_sign_in_attempts_account_at', 'sign_in_attempts', ['account', 'at'], unique=False)
    op.create_index('ix_sign_in_attempts_address_at', 'sign_in_attempts', ['address', 'at'], unique=False)
    op.create_index(op.f('ix_sign_in_attempts_at'), 'sign_in_attempts', ['at'], unique=False)

    # Every existing token keeps working: it becomes a personal token named "migrated" that never expires
    # (made when its user was: the closest date known).
    op.execute("INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
               "SELECT id, 'migrated', api_token_hash, created_at FROM users WHERE api_token_hash IS NOT NULL")

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_unique_constraint(batch_op.f('uq_users_email'), ['email'])
        batch_op.drop_constraint(batch_op.f('uq_users_api_token_hash'), type_='unique')
        batch_op.drop_column('api_token_hash')


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_api_token_hash'), ['api_token_hash'])

    # One token per user goes back: the "migrated" one if it is still active, else the newest active one.
    connection = op.get_bind()
    tokens = sa.table('api_tokens', sa.column('id', sa.Integer()), sa.column('user_id', sa.Integer()),
                      sa.column('name', sa.String()), sa.column('token_hash', sa.String()),
                      sa.column('expires_at', sa.DateTime(timezone=True)),
                      sa.column('revoked_at', sa.DateTime(timezone=True)))
    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('api_token_hash', sa.String()))
    now = datetime.now(timezone.utc)
    chosen: dict[int, tuple[bool, int, str]] = {}  # user id -> (is the migrated one, token id, hash)
    for token_id, user_id, name, token_hash, expires_at in connection.execute(
            sa.select(tokens.c.id, tokens.c.user_id, tokens.c.name, tokens.c.token_hash, tokens.c.expires_at)
            .where(tokens.c.revoked_at.is_(None))):
        if expires_at is not None and _utc(expires_at) <= now:
            continue
        candidate = (name == 'migrated' and expires_at is None, token_id, token_hash)
        if user_id not in chosen or candidate[:2] > chosen[user_id][:2]:
            chosen[user_id] = candidate
    for user_id, (_, _, token_hash) in chosen.items():
        connection.execute(users.update().where(users.c.id == user_id).values(api_token_hash=token_hash))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_email'), type_='unique')
        batch_op.drop_column('session_version')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('email')
    op.drop_index(op.f('ix_sign_in_attempts_at'), table_name='sign_in_attempts')
    op.drop_index('ix_sign_in_attempts_address_at', table_name='sign_in_attempts')
    op.drop_index('ix_sign_in_attempts_account_at', table_name='sign_in_attempts')
    op.drop_table('sign_in_attempts')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes (they were stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
