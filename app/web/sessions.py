"""The site's sessions (Flask-Login) and its CSRF protection (Flask-WTF's CSRFProtect).

A session's id, kept in the signed session cookie, is `user:version` or `user:version:token`: the user's id,
their session version when the session started (raised by every password change or reset) and, for a session
started with an API token, that token's id. The user loader accepts the session only while the version is
still the user's and the token is neither revoked nor expired; otherwise the visitor is anonymous again.

CSRFProtect checks the token of every POST (PUT, PATCH, DELETE) to the site before its view runs, except for
the REST API (bearer tokens, no cookies: exempted in create_app) and the upload form, whose check runs by
hand after the checks that need no body (so that a refused upload is never read). The form field is `csrf`;
a token is valid for as long as the session that it belongs to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import Flask, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from app.extensions import db_session
from app.models import User
from app.usecases.accounts import user_for_session

login_manager = LoginManager()
csrf = CSRFProtect()
P = ParamSpec("P")


class SessionUser:
    """Who a web session is for: what the pages need, without holding a database session open (the user
    Flask-Login keeps as `current_user`; an anonymous visitor is its AnonymousUserMixin)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: int, username: str, is_admin: bool, version: int, token_id: int | None) -> None:
        self.id, self.username, self.is_admin = user_id, username, is_admin
        self.version, self.token_id = version, token_id

    @classmethod
    def of(cls, user: User, token_id: int | None = None) -> SessionUser:
        return cls(user.id, user.username, user.is_admin, user.session_version, token_id)

    def get_id(self) -> str:
        parts = [self.id, self.version] + ([self.token_id] if self.token_id is not None else [])
        return ":".join(str(part) for part in parts)


def _parse(session_id: str) -> tuple[int, int, int | None] | None:
    parts = session_id.split(":")
    if len(parts) not in (2, 3) or not all(part.isdigit() and len(part) < 12 for part in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else None


def _load(session_id: str) -> SessionUser | None:
    parsed = _parse(session_id)
    if parsed is None:
        return None
    user_id, version, token_id = parsed
    with db_session() as db:
        user = user_for_session(db, user_id, version, token_id)
        return SessionUser.of(user, token_id) if user is not None else None


def _unauthorized() -> ResponseReturnValue:
    return redirect(url_for("web.login", next=request.path))


login_manager.user_loader(_load)
login_manager.unauthorized_handler(_unauthorized)


def signed_in(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """The page needs a signed-in user (Flask-Login's login_required): others go to the sign-in page, and back."""

    @functools.wraps(view)
    def check(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return _unauthorized()
        return view(*args, **kwargs)

    return check


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_FIELD_NAME", "csrf")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # as long as the session
    csrf.init_app(app)
    login_manager.init_app(app)


def signed_in_admin() -> bool | None:
    """True for a signed-in site admin, False for another signed-in user, None when nobody is signed in."""
    if not current_user.is_authenticated:
        return None
    return bool(current_user.is_admin)
