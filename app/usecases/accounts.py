"""Accounts with passwords: sign-up, sign-in (rate-limited), password change and reset, and which web sessions
are still valid.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommendation); a hash made with
weaker parameters than today's is replaced at the next sign-in. A user's `session_version` is part of every web
session's id: changing or resetting the password raises it, which ends all of the user's sessions.

A password reset link is signed with the site's secret key (itsdangerous), names the user and their session
version, and expires after an hour; the reset raises the version, so a link works once (and every link sent
before it stops working too).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import InvalidFields, ServiceError
from app.models import User
from app.models._types import utcnow
from app.usecases import sign_in_limits
from app.usecases.api_tokens import token_is_active
from app.usecases.mail import Mailer
from app.usecases.users import EMAIL_PATTERN, email_problem, normalise_email, username_problem, username_taken

log = logging.getLogger(__name__)

MIN_LENGTH = 12
MIN_LENGTH_WITH_MIX = 8
MAX_LENGTH = 1024
PASSWORD_RULE = (f"At least {MIN_LENGTH} characters, or at least {MIN_LENGTH_WITH_MIX} that mix three of: "
                 "lower-case letters, capitals, digits, other characters.")
RESET_VALID_FOR = timedelta(hours=1)
RESET_SALT = "podium.password-reset"
WRONG_CREDENTIALS = "Wrong username, email address or password."

_hasher = PasswordHasher()
_dummy_hash: str | None = None


class WrongCredentials(ServiceError):
    status_code = 401


class InvalidResetLink(ServiceError):
    pass


# --- passwords ------------------------------------------------------------------------------------------------

def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """What is wrong with a new password, or None. The rule: PASSWORD_RULE."""
    if len(password) > MAX_LENGTH:
        return f"At most {MAX_LENGTH} characters."
    kinds = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if len(password) < MIN_LENGTH_WITH_MIX:
        return f"Too short: at least {MIN_LENGTH_WITH_MIX} characters, and {MIN_LENGTH} unless it mixes three kinds."
    if len(password) < MIN_LENGTH and kinds < 3:
        return (f"Under {MIN_LENGTH} characters, a password must mix three of: lower-case letters, capitals, digits, "
                "other characters.")
    lowered = password.lower()
    if lowered in {username.lower(), email.lower(), email.lower().split("@")[0]} - {""}:
        return "Choose a password that is not your username or email address."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(user: User | None, password: str) -> bool:
    """Check the password; without a user (or a password) a dummy hash is checked, so that the time taken does
    not tell whether the account exists."""
    global _dummy_hash
    if user is None or not user.password_hash:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash("not anyone's password")
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash, password)
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1  # every web session of the user ends


# --- sign-up and sign-in --------------------------------------------------------------------------------------

def sign_up_problems(session: Session, *, username: str, email: str, password: str) -> dict[str, str]:
    """What is wrong with a sign-up, field by field (empty: nothing)."""
    username, email = username.strip(), normalise_email(email)
    problems: dict[str, str] = {}
    if username_problem(username):
        problems["username"] = "2 to 80 letters, digits, '_', '.' or '-', starting with a letter or digit."
    elif username_taken(session, username):
        problems["username"] = "That username is taken; choose another."
    if email_problem(email):
        problems["email"] = "Enter an email address like name@example.org."
    elif session.scalar(select(User.id).where(User.email == email)) is not None:
        problems["email"] = "An account already uses this address: sign in, or reset its password."
    problem = password_problem(password, username=username, email=email)
    if problem:
        problems["password"] = problem
    return problems


def sign_up(session: Session, *, username: str, email: str, password: str) -> User:
    """A new account with a password. Raises InvalidFields naming each field that is wrong."""
    problems = sign_up_problems(session, username=username, email=email, password=password)
    if problems:
        raise InvalidFields(problems)
    username, email = username.strip(), normalise_email(email)
    user = User(username=username, display_name=username, email=email, password_hash=hash_password(password))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # the same name or address, signed up at the same moment
        session.rollback()
        raise InvalidFields({"username": "That username or email address was just taken; choose another."}) from None
    return user


def find_by_login(session: Session, login: str) -> User | None:
    """The user whose username or email address this is (a username in any letter case, if only one matches)."""
    login = login.strip()
    if "@" in login:
        return session.scalar(select(User).where(User.email == normalise_email(login)))
    exact = session.scalar(select(User).where(User.username == login))
    if exact is not None:
        return exact
    found = session.scalars(select(User).where(func.lower(User.username) == login.lower()).limit(2)).all()
    return found[0] if len(found) == 1 else None


def sign_in(session: Session, login: str, password: str, *, address: str, now: datetime | None = None) -> User:
    """The user with this username or email address and password.

    Raises RateLimited (429) while the account or the address is locked out, else WrongCredentials (401) with
    the same message whether the account exists or not. Commits: failures must be kept whatever the caller does.
    """
    now = now or utcnow()
    user = find_by_login(session, login)
    attempt = sign_in_limits.begin(session, sign_in_limits.account_key(user.id if user else None, login), address,
                                   now)
    sign_in_limits.check(session, attempt, now)
    if len(password) > MAX_LENGTH or not _verify(user, password):
        sign_in_limits.failed(session, attempt)
        raise WrongCredentials(WRONG_CREDENTIALS)
    assert user is not None
    sign_in_limits.clear_account(session, attempt.account)
    session.commit()
    return user


def user_for_session(session: Session, user_id: int, version: int, token_id: int | None, *,
                     now: datetime | None = None) -> User | None:
    """The user of a web session, if it is still valid: the password has not changed since it started, and the
    API token it was started with (if any) is neither revoked nor expired."""
    user = session.get(User, user_id)
    if user is None or user.session_version != version:
        return None
    if token_id is not None and not token_is_active(session, token_id, user.id, now=now):
        return None
    return user


# --- changing and resetting the password ----------------------------------------------------------------------

def change_password(session: Session, user: User, *, current: str, new: str, address: str,
                    now: datetime | None = None) -> None:
    """Set a new password (the current one is needed, if the account has one). Ends all of the user's web
    sessions; the caller signs the current one in again. Wrong current passwords count toward the sign-in limit."""
    now = now or utcnow()
    if user.password_hash:
        attempt = sign_in_limits.begin(session, sign_in_limits.account_key(user.id, user.username), address, now)
        sign_in_limits.check(session, attempt, now)
        if len(current) > MAX_LENGTH or not _verify(user, current):
            sign_in_limits.failed(session, attempt)
            raise InvalidFields({"current_password": "That is not your current password."})
        sign_in_limits.clear_account(session, attempt.account)
    problem = password_problem(new, username=user.username, email=user.email or "")
    if problem:
        raise InvalidFields({"new_password": problem})
    _set_password(user, new)
    session.flush()


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=RESET_SALT)


def reset_token(secret_key: str, user: User) -> str:
    return _serializer(secret_key).dumps([user.id, user.session_version])


def user_for_reset_token(session: Session, secret_key: str, token: str, *, now: datetime | None = None) -> User:
    """The user a reset link is for; raises InvalidResetLink when it is forged, over an hour old or used."""
    now = now or utcnow()
    invalid = InvalidResetLink("This reset link has expired or was already used. Ask for a new one.")
    try:
        data, signed_at = _serializer(secret_key).loads(token, return_timestamp=True)
    except BadSignature:
        raise invalid from None
    if (not isinstance(data, list) or len(data) != 2 or not all(type(v) is int for v in data)
            or now - signed_at > RESET_VALID_FOR):
        raise invalid
    user = session.get(User, data[0])
    if user is None or user.session_version != data[1]:
        raise invalid
    return user


def request_password_reset(session: Session, email: str, *, secret_key: str, link: Callable[[str], str],
                           mailer: Mailer, client_address: str = "unknown") -> None:
    """Mail a reset link to the account with this address. An address no account has gets nothing, and the
    caller answers the same either way: the answer does not tell who has an account. Rate-limited per account
    and per client address (sign_in_limits.allow_reset_mail): past the limit, nothing is sent, and the answer
    is still the same."""
    address = normalise_email(email)
    user = session.scalar(select(User).where(User.email == address)) if EMAIL_PATTERN.match(address) else None
    if user is not None and user.email is None:
        user = None
    if not sign_in_limits.allow_reset_mail(session, user.id if user else None, client_address, utcnow()):
        if user is not None:
            log.warning("password reset for user %s not mailed: too many requests within the hour", user.id)
        return
    if user is None or user.email is None:
        log.info("password reset asked for an address no account has")
        return
    url = link(reset_token(secret_key, user))
    written = mailer.send(
        user.email, "Reset your Podium password",
        f"Hello {user.username},\n\n"
        "someone (we hope you) asked to reset the password of your Podium account. To choose a new password,\n"
        f"open this link within an hour:\n\n{url}\n\n"
        "The link works once. If you did not ask for it, ignore this message: your password stays as it is.\n")
    if written is not None:
        log.info("reset link written to %s", written)


def reset_password(session: Session, secret_key: str, token: str, new: str, *, now: datetime | None = None) -> User:
    """Set the password of the reset link's user; the link stops working and every web session of the user
    ends. The account's sign-in failures are forgotten."""
    user = user_for_reset_token(session, secret_key, token, now=now)
    problem = password_problem(new, username=user.username, email=user.email or "")
    if problem:
        raise InvalidFields({"password": problem})
    _set_password(user, new)
    sign_in_limits.clear_account(session, sign_in_limits.account_key(user.id, user.username))
    session.flush()
    return user
