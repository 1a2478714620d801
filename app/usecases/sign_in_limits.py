"""The rate limit on password sign-ins, kept in the database so that every web process shares it.

After `MAX_ACCOUNT_FAILURES` failed attempts on one account within `WINDOW`, or `MAX_ADDRESS_FAILURES` from one
client address, further attempts for that account (or from that address) are refused for `LOCKOUT` without
checking the password. A successful sign-in clears the account's failures.

An attempt is written (as pending, in a transaction of its own) before its password is checked, and the pending
attempts recorded before it count: a burst of concurrent guesses sees itself and is refused, instead of each guess
finding the count below the limit before the others are recorded; the earliest of a burst (by the order they were
recorded in) are the ones checked, so a burst never locks out every guess before one was checked. Refused attempts
do not extend the lock-out.

The account is the user's id when a user has the name or address typed, and the name itself otherwise, so an
unknown name is limited exactly like a known one (the answers do not tell which names exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app.errors import RateLimited
from app.models import SignInAttempt

MAX_ACCOUNT_FAILURES = 5
# Many people can share one address (a university's or a company's NAT), so an address gets more tries than
# one account; it still stops one machine from guessing across many accounts.
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
KEPT = timedelta(days=1)
COUNTED = ("pending", "failed")


@dataclass(frozen=True)
class Lock:
    until: datetime
    of_account: bool  # else: of the address

    def message(self) -> str:
        when = self.until.strftime("%H:%M UTC")
        if self.of_account:
            return (f"Too many failed sign-ins for this account. Try again after {when}, or reset your password "
                    "if you have forgotten it.")
        return f"Too many failed sign-ins from your network address. Try again after {when}."


def account_key(user_id: int | None, typed: str) -> str:
    return f"user:{user_id}" if user_id is not None else "name:" + typed.strip().lower()[:250]


def begin(session: Session, account: str, address: str, now: datetime) -> SignInAttempt:
    """Record an attempt as pending, committed at once so that concurrent attempts count it.

    Attempts on one account (and from one address) are recorded one at a time: on PostgreSQL under a transaction
    advisory lock (SQLite writes one transaction at a time anyway), so an attempt's id is higher than every attempt
    of the account committed before it, and the check counts exactly the ones recorded before it."""
    address = (address or "unknown")[:64]
    if session.get_bind().dialect.name == "postgresql":
        for key in (account, address):  # always in this order: no two attempts wait on each other in a cycle
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"podium-sign-in:{key}"})
    session.execute(delete(SignInAttempt).where(SignInAttempt.at < now - KEPT))
    attempt = SignInAttempt(account=account, address=address, at=now, outcome="pending")
    session.add(attempt)
    session.commit()
    return attempt


def lock_on(session: Session, attempt: SignInAttempt, now: datetime) -> Lock | None:
    """The lock that refuses this attempt, if its account or address is locked out."""
    found: Lock | None = None
    for column, value, limit, of_account in ((SignInAttempt.account, attempt.account, MAX_ACCOUNT_FAILURES, True),
                                              (SignInAttempt.address, attempt.address, MAX_ADDRESS_FAILURES, False)):
        times = sorted(session.scalars(
            select(SignInAttempt.at)
            .where(column == value, SignInAttempt.id < attempt.id, SignInAttempt.outcome.in_(COUNTED),
                   SignInAttempt.at > now - WINDOW - LOCKOUT)
            .order_by(SignInAttempt.at.desc()).limit(1000)))
        until = _locked_until(times, limit)
        if until is not None and until > now and (found is None or until > found.until):
            found = Lock(until, of_account)
    return found


def _locked_until(times: list[datetime], limit: int) -> datetime | None:
    """The end of the latest lock-out these failures (oldest first) caused: `limit` of them within WINDOW."""
    until = None
    for i in range(limit - 1, len(times)):
        if times[i] - times[i - limit + 1] <= WINDOW:
            until = times[i] + LOCKOUT
    return until


def check(session: Session, attempt: SignInAttempt, now: datetime) -> None:
    """Raise RateLimited (and mark the attempt refused) when its account or address is locked out."""
    lock = lock_on(session, attempt, now)
    if lock is not None:
        attempt.outcome = "refused"
        session.commit()
        raise RateLimited(lock.message())


def failed(session: Session, attempt: SignInAttempt) -> None:
    attempt.outcome = "failed"
    session.commit()


def clear_account(session: Session, account: str) -> None:
    """Forget the account's failures (a successful sign-in, a password reset)."""
    session.execute(delete(SignInAttempt).where(SignInAttempt.account == account))


# ---- password reset mails ------------------------------------------------------------------------------------

MAX_RESET_MAILS_PER_ACCOUNT = 3  # within RESET_WINDOW
MAX_RESET_REQUESTS_PER_ADDRESS = 20
RESET_WINDOW = timedelta(hours=1)


def allow_reset_mail(session: Session, user_id: int | None, address: str, now: datetime) -> bool:
    """Whether a reset link may be mailed now: at most MAX_RESET_MAILS_PER_ACCOUNT to one account and
    MAX_RESET_REQUESTS_PER_ADDRESS requests from one client address per RESET_WINDOW (so nobody can flood an
    inbox or use the site as a mail cannon). Every request is recorded, for an unknown address too, so the
    work done does not depend on whether the account exists. Commits."""
    from sqlalchemy import func

    address = (address or "unknown")[:64]
    since = now - RESET_WINDOW
    account = f"reset:{user_id}" if user_id is not None else "reset:-"
    from_address = session.scalar(select(func.count(SignInAttempt.id)).where(
        SignInAttempt.address == address, SignInAttempt.outcome == "reset", SignInAttempt.at > since)) or 0
    to_account = session.scalar(select(func.count(SignInAttempt.id)).where(
        SignInAttempt.account == account, SignInAttempt.outcome == "reset", SignInAttempt.at > since)) or 0
    session.execute(delete(SignInAttempt).where(SignInAttempt.at < now - KEPT))
    session.add(SignInAttempt(account=account, address=address, at=now, outcome="reset"))
    session.commit()
    if from_address >= MAX_RESET_REQUESTS_PER_ADDRESS:
        return False
    return user_id is not None and to_account < MAX_RESET_MAILS_PER_ACCOUNT
