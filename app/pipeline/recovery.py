"""Recovery from infrastructure faults: retries with backoff, and the reconciler.

The database is the source of truth and Redis is transport. The reconciler (run by every worker every
few seconds) repairs what a crash or a lost queue leaves behind:
- a running submission whose lease expired (its worker died) goes back to the queue;
- a queued submission that is due but has no pending job (Redis restarted, a retry's backoff ended)
  is enqueued again.
Infrastructure faults never count against the participant's submission limit; after
`max_infrastructure_faults` the submission fails with a message saying it was the platform's fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select

from app.models import Submission, SubmissionState
from app.models._types import utcnow
from app.resources import Resources
from app.transitions import transition

log = logging.getLogger(__name__)
S = SubmissionState
INFRASTRUCTURE_MESSAGE = ("the platform failed while evaluating this submission ({reason}); this is not "
                          "your fault and does not count against your submission limit")


def after_infrastructure_fault(resources: Resources, submission_id: int, *, owner: str | None, reason: str,
                               retry: bool = True) -> str:
    """Queue the submission again after a backoff, or fail it once the retry budget is spent."""
    settings = resources.settings
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None or submission.state not in (S.RUNNING, S.SCORING):
            return "nothing to do"
        faults = submission.infrastructure_faults + 1
        release = {"lease_owner": None, "lease_expires_at": None, "infrastructure_faults": faults}
        if not retry or faults >= settings.max_infrastructure_faults:
            done = transition(session, submission_id, (S.RUNNING, S.SCORING), S.FAILED, owner=owner,
                              failure_message=INFRASTRUCTURE_MESSAGE.format(reason=reason),
                              failure_is_infrastructure=True, **release)
            log.error("submission %s: failed after %s infrastructure fault(s): %s", submission_id, faults, reason)
            return "failed" if done else "skipped: the lease moved on"
        delay = settings.retry_backoff_seconds * 2 ** (faults - 1)
        done = transition(session, submission_id, (S.RUNNING, S.SCORING), S.QUEUED, owner=owner,
                          retry_at=utcnow() + timedelta(seconds=delay), **release)
        log.warning("submission %s: infrastructure fault %s (%s); retry in %s s", submission_id, faults, reason,
                    delay)
        return f"requeued: retry in {delay} s" if done else "skipped: the lease moved on"


@dataclass
class ReconcileReport:
    expired: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)
    orphans_removed: list[int] = field(default_factory=list)


def reconcile(resources: Resources, *, enqueue: Callable[[int], None], job_pending: Callable[[int], bool],
              remove_orphans: Callable[[Callable[[int], bool]], list[int]] | None = None) -> ReconcileReport:
    report = ReconcileReport()
    now = utcnow()
    with resources.session() as session:
        expired = session.execute(
            select(Submission.id, Submission.lease_owner).where(
                Submission.state.in_((S.RUNNING, S.SCORING)), Submission.lease_expires_at < now)
        ).all()
    for submission_id, owner in expired:
        outcome = after_infrastructure_fault(resources, submission_id, owner=owner,
                                             reason="the worker running it stopped responding")
        if outcome != "skipped: the lease moved on":
            report.expired.append(submission_id)

    if remove_orphans is not None:
        report.orphans_removed = remove_orphans(lambda sid: holds_live_lease(resources, sid))

    with resources.session() as session:
        due = session.scalars(
            select(Submission.id).where(Submission.state == S.QUEUED,
                                        or_(Submission.retry_at.is_(None), Submission.retry_at <= utcnow()))
            .order_by(Submission.id)
        ).all()
    for submission_id in due:
        if not job_pending(submission_id):
            enqueue(submission_id)
            report.enqueued.append(submission_id)
    if report.expired or report.enqueued or report.orphans_removed:
        log.info("reconciler: expired %s, enqueued %s, orphaned containers removed for %s",
                 report.expired, report.enqueued, report.orphans_removed)
    return report


def holds_live_lease(resources: Resources, submission_id: int) -> bool:
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        return (submission is not None and submission.state in (S.RUNNING, S.SCORING)
                and submission.lease_expires_at is not None and submission.lease_expires_at > utcnow())
