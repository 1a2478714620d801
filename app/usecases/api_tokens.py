"""Personal API tokens: several per user, each named, expiring and revocable.

A token's secret is 256 random bits with a recognisable prefix; it is shown once, when it is made, and only its
sha256 is stored (a fast hash is enough for a random secret of that length: there is nothing to guess). A
token's last use is written at most once a minute, in a short transaction of its own (`record_use`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidFields, NotFound
from app.models import ApiToken, User
from app.models._types import utcnow

TOKEN_PREFIX = "pod_"
DEFAULT_DAYS = 90
MAX_DAYS = 365
MAX_NAME = 80
MAX_ACTIVE_TOKENS = 50  # per user: a stolen token cannot fill the table with new ones
USE_RECORDED_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def name_problem(name: str) -> str | None:
    if not name.strip():
        return "Give the token a name (what it is for, e.g. 'laptop' or 'CI')."
    if len(name.strip()) > MAX_NAME:
        return f"A token's name has at most {MAX_NAME} characters."
    if not name.isprintable():
        return "A token's name cannot hold control characters."
    return None


def days_problem(days: int) -> str | None:
    if not 1 <= days <= MAX_DAYS:
        return f"A token lasts from 1 to {MAX_DAYS} days."
    return None


def create_token(session: Session, user: User, name: str, *, days: int = DEFAULT_DAYS,
                 now: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token of `user` that expires after `days`; returns it with its secret (shown only now)."""
    problems = {field: problem for field, problem in (("name", name_problem(name)), ("days", days_problem(days)))
                if problem}
    if problems:
        raise InvalidFields(problems)
    now = now or utcnow()
    active = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)))
    if (active or 0) >= MAX_ACTIVE_TOKENS:
        raise Conflict(f"you already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use first")
    secret = new_secret()
    token = ApiToken(user_id=user.id, name=name.strip(), token_hash=hash_token(secret), created_at=now,
                     expires_at=now + timedelta(days=days))
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens that are not revoked (expired ones included, so that they can be seen), newest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int, *, now: datetime | None = None) -> ApiToken:
    """Revoke one of the user's tokens: API calls with it answer 401, web sessions started with it end."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound(f"no token {token_id} of yours")
    token.revoked_at = now or utcnow()
    session.flush()
    return token


def active_token(session: Session, secret: str | None, *, now: datetime | None = None) -> ApiToken | None:
    """The token with this secret, if it is neither revoked nor expired."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.is_active(now or utcnow()):
        return None
    return token


def token_is_active(session: Session, token_id: int, user_id: int, *, now: datetime | None = None) -> bool:
    token = session.get(ApiToken, token_id)
    return token is not None and token.user_id == user_id and token.is_active(now or utcnow())


def use_to_record(token: ApiToken, *, now: datetime | None = None) -> bool:
    """Whether this use should be written (the last one written is over a minute old)."""
    return token.last_used_at is None or token.last_used_at <= (now or utcnow()) - USE_RECORDED_EVERY


def record_use(session: Session, token_id: int, *, now: datetime | None = None) -> None:
    """Write the token's last use, unless another request wrote one less than a minute ago."""
    now = now or utcnow()
    session.execute(update(ApiToken).where(
        ApiToken.id == token_id,
        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - USE_RECORDED_EVERY),
    ).values(last_used_at=now))
