"""Accounts and API tokens. A token is shown once; only its sha256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, ServiceError
from app.models import User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,79}$")
TOKEN_PREFIX = "pod_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, username: str, *, is_admin: bool = False, display_name: str = "") -> tuple[User, str]:
    """Create a user and return it with a fresh API token (shown only now)."""
    if not USERNAME_PATTERN.match(username):
        raise ServiceError(f"username {username!r} must be 2-80 letters, digits, '_.-', starting with a letter "
                           "or digit")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists; use `podium user token {username}` for a new token")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = User(username=username, display_name=display_name or username, is_admin=is_admin,
                api_token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def issue_token(session: Session, username: str) -> str:
    """Replace a user's API token; the old one stops working."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise ServiceError(f"no user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    session.flush()
    return token


def user_for_token(session: Session, token: str | None) -> User | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    return session.scalar(select(User).where(User.api_token_hash == hash_token(token)))
