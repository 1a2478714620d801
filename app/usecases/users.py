"""Accounts an operator makes at the shell, and the API tokens that identify a user to the API.

People sign up on the site themselves (app/usecases/accounts.py); `podium user create` makes an account with an
API token (the operator's first admin comes from it). Tokens are personal and several per user
(app/usecases/api_tokens.py); a token is shown once, and only its sha256 is stored.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, ServiceError
from app.models import User
from app.usecases.api_tokens import DEFAULT_DAYS, active_token, create_token

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,79}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """What is wrong with an (already normalised) email address, or None."""
    if len(email) > MAX_EMAIL or not EMAIL_PATTERN.match(email) or not email.isprintable():
        return "Enter an email address like name@example.org."
    return None


def username_problem(username: str) -> str | None:
    if not USERNAME_PATTERN.match(username):
        return (f"username {username!r} must be 2-80 letters, digits, '_.-', starting with a letter "
                "or digit")
    return None


def username_taken(session: Session, username: str) -> bool:
    """Whether a user has this name, in any letter case ('Ada' and 'ada' would be two people looking alike)."""
    return session.scalar(select(User.id).where(func.lower(User.username) == username.lower()).limit(1)) is not None


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_user(session: Session, username: str, *, is_admin: bool = False, display_name: str = "",
                email: str | None = None) -> tuple[User, str]:
    """Create a user and return it with a fresh API token (shown only now; it expires in 90 days)."""
    problem = username_problem(username)
    if problem:
        raise ServiceError(problem)
    if username_taken(session, username):
        raise Conflict(f"user {username!r} already exists; use `podium user token {username}` for a new token")
    if email is not None:
        email = normalise_email(email)
        problem = email_problem(email)
        if problem:
            raise ServiceError(f"{email!r}: {problem}")
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict(f"another user has the email address {email!r}")
    user = User(username=username, display_name=display_name or username, is_admin=is_admin, email=email)
    session.add(user)
    session.flush()
    _, token = create_token(session, user, "podium user create")
    return user, token


def issue_token(session: Session, username: str, *, name: str = "podium user token", days: int = DEFAULT_DAYS) -> str:
    """An additional API token for the user (their other tokens keep working until revoked or expired)."""
    user = find_user(session, username)
    if user is None:
        raise ServiceError(f"no user {username!r}")
    _, token = create_token(session, user, name, days=days)
    return token


def user_for_token(session: Session, token: str | None) -> User | None:
    """The user of an active (neither revoked nor expired) API token."""
    found = active_token(session, token)
    return found.user if found is not None else None
