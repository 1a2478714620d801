"""Submission limits per phase and entrant (a participant alone, or their team: app/queries/entrants.py): per day
(a rolling 24 hours) and in total, enforced atomically.

What counts: every submission the entrant made that was not refused as an unusable image and did not
fail by the platform's fault (those are free). In-flight uploads (received, validating) count, so that 50
uploads sent at once against a limit of 5 take exactly 5 places. Refused uploads are limited separately,
because each one costs the server a full decompression of the archive.

Atomic: `claim_submission` first updates the entrant's row in `submission_locks` (one per phase and
entrant). That takes a row lock on PostgreSQL and the write lock on SQLite, so one entrant's claims (a
team's members' included) run one at a time inside the database, and the count and the insert that follow
cannot interleave with another claim's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.errors import RateLimited
from app.models import Phase, Submission, SubmissionLock, SubmissionState, User
from app.models._types import utcnow
from app.queries.entrants import entrant_of

WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class LimitStatus:
    """What an entrant has left in a phase, and when the next daily place frees."""

    per_day: int
    used_today: int
    total: int | None  # None: no total limit
    used_total: int
    next_frees_at: datetime | None  # when the oldest counted submission of the window leaves it
    refused_today: int
    refused_per_day: int
    subject: str = "you"  # whose limits: "you" or "your team 'name'"

    @property
    def remaining_today(self) -> int:
        left = self.per_day - self.used_today
        if self.total is not None:
            left = min(left, self.total - self.used_total)
        return max(0, left)

    @property
    def _have(self) -> str:
        return "you have" if self.subject == "you" else f"{self.subject} has"

    def refusal(self, phase_slug: str) -> str | None:
        """Why a new submission is refused now, or None."""
        if self.refused_today >= self.refused_per_day:
            return (f"{self.refused_today} of your uploads to phase {phase_slug!r} were refused in the last 24 hours; "
                    "check your archive first with `podium check-image ARCHIVE`, then try again later")
        if self.total is not None and self.used_total >= self.total:
            return f"{self._have} used all {self.total} submissions allowed in phase {phase_slug!r}"
        if self.used_today >= self.per_day:
            when = f" at {self.next_frees_at.isoformat(timespec='seconds')}" if self.next_frees_at else " later"
            return (f"{self._have} used all {self.per_day} submissions for phase {phase_slug!r} in the last 24 hours; "
                    f"the next one frees{when}")
        return None


def limits_json(status: LimitStatus) -> dict[str, object]:
    return {"per_day": status.per_day, "used_today": status.used_today, "remaining_today": status.remaining_today,
            "next_frees_at": status.next_frees_at.isoformat(timespec="seconds") if status.next_frees_at else None,
            "total": status.total, "used_total": status.used_total, "refused_today": status.refused_today,
            "refused_per_day": status.refused_per_day, "counted_for": status.subject}


def refused_upload_limit(phase: Phase) -> int:
    """Refused uploads allowed per day: each one costs the server a full decompression of the archive."""
    return max(10, 2 * phase.submissions_per_day)


def _counted() -> ColumnElement[bool]:
    """A submission that takes a place: not refused (failed before it was stored), not the platform's fault."""
    refused = and_(Submission.state == SubmissionState.FAILED, Submission.upload_key.is_(None))
    return and_(Submission.failure_is_infrastructure.is_(False), not_(refused))


def _refused() -> ColumnElement[bool]:
    return and_(Submission.state == SubmissionState.FAILED, Submission.upload_key.is_(None),
                Submission.failure_is_infrastructure.is_(False))


def limit_status(session: Session, phase: Phase, user: User) -> LimitStatus:
    entrant = entrant_of(session, phase.challenge_id, user)
    since = utcnow() - WINDOW
    mine = (Submission.phase_id == phase.id, entrant.submissions())
    used_today, oldest = session.execute(
        select(func.count(Submission.id), func.min(Submission.created_at))
        .where(*mine, Submission.created_at >= since, _counted())).one()
    used_total = session.scalar(select(func.count(Submission.id)).where(*mine, _counted())) or 0
    refused_today = session.scalar(select(func.count(Submission.id))
                                   .where(*mine, Submission.created_at >= since, _refused())) or 0
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive values from an aggregate
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    return LimitStatus(per_day=phase.submissions_per_day, used_today=used_today or 0,
                       total=phase.submissions_total, used_total=used_total,
                       next_frees_at=oldest + WINDOW if oldest is not None and used_today else None,
                       refused_today=refused_today, refused_per_day=refused_upload_limit(phase),
                       subject=entrant.subject)


def check_limits(session: Session, phase: Phase, user: User) -> LimitStatus:
    """Raise RateLimited when the participant may not submit to the phase now."""
    status = limit_status(session, phase, user)
    refusal = status.refusal(phase.slug)
    if refusal:
        raise RateLimited(refusal)
    return status


def claim_submission(session: Session, phase: Phase, user: User, *, comment: str, upload_bytes: int,
                     upload_sha256: str) -> Submission:
    """Check the limits and insert the submission (received) as one step that concurrent claims cannot split.

    Commits: the place is taken (or RateLimited is raised and nothing is written)."""
    session.commit()  # whatever the caller read: the claim runs in a transaction of its own
    first_key = entrant_of(session, phase.challenge_id, user).key
    lock_entrant(session, phase.id, first_key)
    try:
        entrant = entrant_of(session, phase.challenge_id, user)  # read again under the lock
        if entrant.key != first_key:  # joined a team meanwhile (app/usecases/teams.py takes "user:<id>" too)
            lock_entrant(session, phase.id, entrant.key)
        check_limits(session, phase, user)
        submission = Submission(phase_id=phase.id, user_id=user.id, team_id=entrant.team_id,
                                state=SubmissionState.RECEIVED,
                                comment=comment, upload_bytes=upload_bytes, upload_sha256=upload_sha256)
        session.add(submission)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return submission


def lock_entrant(session: Session, phase_id: int, entrant_key: str) -> None:
    """Serialise this entrant's changes in the phase until the transaction ends (row lock / write lock)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(SubmissionLock).values(phase_id=phase_id, entrant=entrant_key, locked_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["phase_id", "entrant"]))
    session.execute(update(SubmissionLock)
                    .where(SubmissionLock.phase_id == phase_id, SubmissionLock.entrant == entrant_key)
                    .values(locked_at=utcnow()))
