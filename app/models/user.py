from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Lower-cased; null for accounts an operator made at the shell without one (they sign in with a token).
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    # argon2id (argon2-cffi's encoded form); null until the account has a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Part of every web session's id: raising it (password changed or reset) ends all of the user's sessions.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                      passive_deletes=True)


class ApiToken(Base):
    """A personal API token. Only the sha256 of its secret is kept; the secret is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Null: never expires (only tokens carried over from before personal tokens existed).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written at most once a minute per token.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="api_tokens")

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class SignInAttempt(Base):
    """A password sign-in attempt, kept for the rate limit (in the database: every web process sees it).

    `account` is the account's key (its id, or the name typed when no account has it); `address` the client's.
    An attempt is recorded as pending before the password is checked, then marked failed or refused, or
    deleted with the account's other failures when it succeeds.
    """

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_account_at", "account", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(10), default="pending")  # pending, failed, refused
