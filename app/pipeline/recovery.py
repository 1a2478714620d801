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

from app import transitions
from app.models import Submission, SubmissionState
from app.models._types import utcnow
from app.resources import Resources

log = logging.getLogger(__name__)
S = SubmissionState
LEASE_MOVED_ON = "skipped: the lease moved on"
STALE_UPLOAD_MESSAGE = ("the platform stopped while checking or storing this upload; this is not your fault and "
                        "does not count against your submission limit: please upload it again")
INFRASTRUCTURE_MESSAGE = ("the platform failed while evaluating this submission ({reason}); this is not "
                          "your fault and does not count against your submission limit")


def after_infrastructure_fault(resources: Resources, submission_id: int, *, owner: str | None, reason: str,
                               retry: bool = True) -> str:
    """Queue the submission again after a backoff, or fail it once the retry budget is spent."""
    settings = resources.settings
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None or submission.state not in transitions.ACTIVE:
            return "nothing to do"
        faults = submission.infrastructure_faults + 1
        if not retry or faults >= settings.max_infrastructure_faults:
            done = transitions.fail_after_faults(session, submission_id, owner=owner, faults=faults,
                                                 message=INFRASTRUCTURE_MESSAGE.format(reason=reason))
            log.error("submission %s: failed after %s infrastructure fault(s): %s", submission_id, faults, reason)
            return "failed" if done else LEASE_MOVED_ON
        delay = settings.retry_backoff_seconds * 2 ** (faults - 1)
        done = transitions.requeue_after_fault(session, submission_id, owner=owner, faults=faults,
                                               retry_at=utcnow() + timedelta(seconds=delay))
        log.warning("submission %s: infrastructure fault %s (%s); retry in %s s", submission_id, faults, reason,
                    delay)
        return f"requeued: retry in {delay} s" if done else LEASE_MOVED_ON


@dataclass
class ReconcileReport:
    expired: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)
    orphans_removed: list[int] = field(default_factory=list)
    abandoned_uploads: list[int] = field(default_factory=list)


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
        if outcome != LEASE_MOVED_ON:
            report.expired.append(submission_id)

    report.abandoned_uploads = reap_stale_uploads(resources)

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
    if report.expired or report.enqueued or report.orphans_removed or report.abandoned_uploads:
        log.info("reconciler: expired %s, enqueued %s, orphaned containers removed for %s, stale uploads "
                 "failed %s", report.expired, report.enqueued, report.orphans_removed, report.abandoned_uploads)
    return report


def holds_live_lease(resources: Resources, submission_id: int) -> bool:
    """Whether a live attempt holds the submission, or a live re-evaluation run of it (app/pipeline/reevaluation.py):
    its containers and work folders are not orphans."""
    from app.pipeline.reevaluation import holds_live_reevaluation

    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        if (submission is not None and submission.state in (S.RUNNING, S.SCORING)
                and submission.lease_expires_at is not None and submission.lease_expires_at > utcnow()):
            return True
        if (submission is not None and submission.state == S.RUNNING
                and submission.lease_owner == transitions.SITES_OWNER):  # its site parts hold leases of their own
            return True
    return holds_live_reevaluation(resources, submission_id)


def reap_stale_uploads(resources: Resources) -> list[int]:
    """Fail uploads whose web process died (or lost storage) while validating or storing them.

    A submission stays `received` or `validating` only for as long as its archive is checked and stored
    (a minute for the largest); one older than `stale_upload_seconds` was abandoned. It fails as the
    platform's fault, so it never counts against the participant.
    """
    cutoff = utcnow() - timedelta(seconds=resources.settings.stale_upload_seconds)
    reaped = []
    with resources.session() as session:
        stale = session.scalars(select(Submission.id).where(Submission.state.in_((S.RECEIVED, S.VALIDATING)),
                                                            Submission.updated_at < cutoff)).all()
        for submission_id in stale:
            if transitions.abandon_upload(session, submission_id, STALE_UPLOAD_MESSAGE):
                reaped.append(submission_id)
    return reaped


def fault_words(exc: BaseException, *, where: str = "") -> str:
    """What a participant may read about an infrastructure fault, in the platform's words (details stay in the
    worker's log); where: e.g. " at the site"."""
    from sqlalchemy.exc import DBAPIError

    from app.storage import StorageError
    from runners.docker_runner import RunnerError

    if isinstance(exc, RunnerError):
        return f"the container engine failed{where}"
    if isinstance(exc, StorageError):
        return f"storage was unavailable{where}"
    if isinstance(exc, DBAPIError):
        return f"the database was unavailable{where}"
    return f"an internal error{where}"
