"""Leases: which attempt holds a running submission, renewed by a heartbeat while the work goes on.

A worker that dies (kill -9, lost machine) stops renewing; the reconciler sees the lease expire and
queues the submission again. Every write of an attempt checks that it still holds the lease, so a
zombie attempt can never overwrite the results of the attempt that replaced it.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType

from sqlalchemy import or_, update

from app.models import Submission, SubmissionState
from app.models._types import utcnow
from app.resources import Resources

log = logging.getLogger(__name__)
S = SubmissionState


def acquire(resources: Resources, submission_id: int, owner: str) -> bool:
    """QUEUED → RUNNING for this attempt, if it is due (not waiting for a retry backoff)."""
    now = utcnow()
    with resources.session() as session:
        result = session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.state == S.QUEUED,
                   or_(Submission.retry_at.is_(None), Submission.retry_at <= now))
            .values(state=S.RUNNING, lease_owner=owner, updated_at=now, attempts=Submission.attempts + 1,
                    lease_expires_at=now + timedelta(seconds=resources.settings.lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def renew(resources: Resources, submission_id: int, owner: str) -> bool:
    with resources.session() as session:
        result = session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.lease_owner == owner,
                   Submission.state.in_((S.RUNNING, S.SCORING)))
            .values(lease_expires_at=utcnow() + timedelta(seconds=resources.settings.lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


class Heartbeat:
    """Renews a lease every third of its length in a background thread while the block runs."""

    def __init__(self, resources: Resources, submission_id: int, owner: str) -> None:
        self.resources = resources
        self.submission_id = submission_id
        self.owner = owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{submission_id}", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(0.5, self.resources.settings.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                if not renew(self.resources, self.submission_id, self.owner):
                    # Either the attempt has just finished, or another attempt took over.
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - the database may be briefly down; try again next beat
                log.warning("submission %s: could not renew the lease", self.submission_id, exc_info=True)
