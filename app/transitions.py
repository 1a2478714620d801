"""The submission state machine: every change of a submission's state, as one named compare-and-set.

Each function here is one transition. It runs
`UPDATE submissions SET <its own fixed columns> WHERE id = :id AND state IN (:from) [AND lease_owner = :owner]`
and returns True when it moved the submission, False when the submission was not in a state it starts
from (another process moved it first: a job delivered twice, two workers racing, a cancel). None of them
commits: the caller's transaction decides, and should commit at once when other processes must see the
new state.

    received -> validating -> queued -> running -> scoring -> succeeded
         \\           \\          \\  ^      \\         \\-> failed (participant's fault, or the platform's
          \\           \\          \\  \\_______\\_________/        after its retry budget)
           \\___________\\__________\\__________\\________-> cancelled (participant or organiser)

The lease columns (lease_owner, lease_expires_at) say which attempt holds a running or scoring submission;
they are written only here.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.models import ShardState, SitePartState, Submission, SubmissionShard, SubmissionSitePart, SubmissionState
from app.models._types import utcnow
from app.models.reevaluation import ReevaluationRun, ReevaluationRunState

S = SubmissionState

ALLOWED_TRANSITIONS: dict[SubmissionState, frozenset[SubmissionState]] = {
    S.RECEIVED: frozenset({S.VALIDATING, S.FAILED, S.CANCELLED}),
    S.VALIDATING: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SCORING, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.SCORING: frozenset({S.SUCCEEDED, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
ACTIVE: tuple[SubmissionState, ...] = (S.RUNNING, S.SCORING)
CANCELLABLE: tuple[SubmissionState, ...] = (S.RECEIVED, S.VALIDATING, S.QUEUED, S.RUNNING, S.SCORING)
_RELEASE_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


class AttemptOutcome(enum.StrEnum):
    """How one attempt at running a submission ended (the worker logs it; the job returns it)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # final: the participant's fault, or the platform's after its retry budget
    REQUEUED = "requeued"  # an infrastructure fault; queued again after a backoff
    SKIPPED = "skipped"  # not queued, not due yet, or taken by another worker
    STOPPED = "stopped"  # another attempt holds the submission now, or it was cancelled
    AT_SITES = "at sites"  # handed to the sites holding the test set (app/pipeline/sites.py); they finish it


class IllegalTransition(ValueError):
    """A transition the state machine does not have (a programming error, never a race)."""


def _compare_and_set(session: Session, submission_id: int, expected: tuple[SubmissionState, ...],
                     new: SubmissionState, values: dict[str, Any], *, owner: str | None = None,
                     conditions: tuple[ColumnElement[bool], ...] = ()) -> bool:
    for state in expected:
        if new not in ALLOWED_TRANSITIONS[state]:
            raise IllegalTransition(f"a submission cannot go from {state.value} to {new.value}")
    now = utcnow()
    row: dict[str, Any] = {"state": new, "updated_at": now, **values}
    if new.is_final:
        row["finished_at"] = now
    where = [Submission.id == submission_id, Submission.state.in_(expected), *conditions]
    if owner is not None:  # only the attempt holding the lease may move it on
        where.append(Submission.lease_owner == owner)
    result = session.execute(update(Submission).where(*where).values(**row)
                             .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


# ---- receiving an upload (web process) ------------------------------------------------------------

def start_validation(session: Session, submission_id: int) -> bool:
    """received -> validating: the upload is complete and its archive is being checked."""
    return _compare_and_set(session, submission_id, (S.RECEIVED,), S.VALIDATING, {})


def refuse_upload(session: Session, submission_id: int, message: str) -> bool:
    """validating -> failed: the archive is not a usable image (the participant's fault)."""
    return _compare_and_set(session, submission_id, (S.VALIDATING,), S.FAILED,
                            {"failure_message": message, "failure_is_infrastructure": False})


def abandon_upload(session: Session, submission_id: int, message: str) -> bool:
    """received or validating -> failed: the platform could not store the upload (never the participant's)."""
    return _compare_and_set(session, submission_id, (S.RECEIVED, S.VALIDATING), S.FAILED,
                            {"failure_message": message, "failure_is_infrastructure": True})


def queue_upload(session: Session, submission_id: int, *, upload_key: str, image_config_digest: str | None,
                 image_tags: str) -> bool:
    """validating -> queued: the archive is stored; a worker may run it."""
    return _compare_and_set(session, submission_id, (S.VALIDATING,), S.QUEUED,
                            {"upload_key": upload_key, "image_config_digest": image_config_digest,
                             "image_tags": image_tags[:500]})


# ---- an attempt (worker process) ------------------------------------------------------------------

def start_attempt(session: Session, submission_id: int, *, owner: str, lease_seconds: int) -> bool:
    """queued -> running for the attempt `owner`, with a lease, if it is due (its retry backoff is over)."""
    now = utcnow()
    return _compare_and_set(
        session, submission_id, (S.QUEUED,), S.RUNNING,
        {"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=lease_seconds),
         "attempts": Submission.attempts + 1},
        conditions=(or_(Submission.retry_at.is_(None), Submission.retry_at <= now),))


def renew_lease(session: Session, submission_id: int, *, owner: str, lease_seconds: int) -> bool:
    """Extend the lease of the attempt `owner` (no state change); False when it no longer holds it."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.lease_owner == owner, Submission.state.in_(ACTIVE))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def holds_lease(session: Session, submission_id: int, *, owner: str) -> bool:
    """Inside the caller's transaction: whether `owner` still holds the submission (locks the row)."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.lease_owner == owner, Submission.state.in_(ACTIVE))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def begin_scoring(session: Session, submission_id: int, *, owner: str) -> bool:
    """running -> scoring: the container ran and its outputs are stored."""
    return _compare_and_set(session, submission_id, (S.RUNNING,), S.SCORING, {}, owner=owner)


def succeed(session: Session, submission_id: int, *, owner: str) -> bool:
    """scoring -> succeeded: scores are stored (in the same transaction); the lease is released."""
    return _compare_and_set(session, submission_id, (S.SCORING,), S.SUCCEEDED, dict(_RELEASE_LEASE), owner=owner)


def fail(session: Session, submission_id: int, *, owner: str, message: str, infrastructure: bool = False,
         output: str | None = None) -> bool:
    """running or scoring -> failed, final: the participant's fault (or, with infrastructure=True, the
    organiser's evaluation container's, which never counts against the participant). `output` is what the
    container itself said (its last stderr line), kept apart from the platform's message."""
    return _compare_and_set(session, submission_id, ACTIVE, S.FAILED,
                            {"failure_message": message, "failure_is_infrastructure": infrastructure,
                             "failure_output": output, **_RELEASE_LEASE}, owner=owner)


def requeue_after_fault(session: Session, submission_id: int, *, owner: str | None, faults: int,
                        retry_at: datetime) -> bool:
    """running or scoring -> queued after an infrastructure fault, not to be run before retry_at."""
    return _compare_and_set(session, submission_id, ACTIVE, S.QUEUED,
                            {"infrastructure_faults": faults, "retry_at": retry_at, **_RELEASE_LEASE}, owner=owner)


def fail_after_faults(session: Session, submission_id: int, *, owner: str | None, faults: int, message: str) -> bool:
    """running or scoring -> failed when the platform's retry budget is spent (never the participant's fault)."""
    return _compare_and_set(session, submission_id, ACTIVE, S.FAILED,
                            {"infrastructure_faults": faults, "failure_message": message,
                             "failure_is_infrastructure": True, **_RELEASE_LEASE}, owner=owner)


# ---- people ---------------------------------------------------------------------------------------

def cancel(session: Session, submission_id: int, *, message: str) -> bool:
    """Any unfinished state -> cancelled. A running attempt loses its lease and stops its container."""
    return _compare_and_set(session, submission_id, CANCELLABLE, S.CANCELLED,
                            {"failure_message": message, "failure_is_infrastructure": False, **_RELEASE_LEASE})


# ---- an organiser's re-run ------------------------------------------------------------------------

RERUNNABLE: tuple[SubmissionState, ...] = (S.SUCCEEDED, S.FAILED)


def rerun(session: Session, submission_id: int) -> bool:
    """succeeded or failed -> queued: an organiser runs the submission again (app/usecases/rerun.py).

    The one way out of a final state, and deliberately not in ALLOWED_TRANSITIONS (which says what the
    pipeline and participants may do): a fresh start for the attempt's bookkeeping (attempts, infrastructure
    faults, backoff, lease, failure texts, finished_at) and one more in `reruns`. failure_is_infrastructure
    is kept: whether the submission takes a place in its entrant's limits does not change because an
    organiser re-ran it (app/usecases/submission_limits.py counts platform failures as free)."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.state.in_(RERUNNABLE))
        .values(state=S.QUEUED, updated_at=utcnow(), attempts=0, infrastructure_faults=0, retry_at=None,
                failure_message=None, failure_output=None, participant_failure_message=None, finished_at=None,
                reruns=Submission.reruns + 1, **_RELEASE_LEASE)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


# ---- shards of a sharded run (app/pipeline/shards.py) ---------------------------------------------------------
#   pending -> running (claimed by one worker, with a lease) -> done | failed
#                  \-> pending (its worker's infrastructure fault, or its lease expired: retried alone)

def claim_shard(session: Session, shard_id: int, *, owner: str, lease_seconds: int) -> bool:
    """pending -> running for the worker `owner`, with a lease."""
    return _claim_part(session, SubmissionShard, shard_id, owner=owner, lease_seconds=lease_seconds)


def renew_shard(session: Session, shard_id: int, *, owner: str, lease_seconds: int) -> bool:
    """Extend the lease of the worker running the shard; False when it no longer holds it."""
    return _renew_part(session, SubmissionShard, shard_id, owner=owner, lease_seconds=lease_seconds)


def finish_shard(session: Session, shard_id: int, *, owner: str, state: ShardState, **fields: Any) -> bool:
    """running -> done or failed, by the worker that holds it, with what its run used and why it failed."""
    return _finish_part(session, SubmissionShard, shard_id, owner=owner, state=state, **fields)


def release_shard(session: Session, shard_id: int, *, owner: str | None, max_faults: int, message: str) -> bool:
    """running -> pending after an infrastructure fault (its worker's, or its lease expired: owner None), or -> failed
    once the shard has had max_faults of them (the platform's fault, never the participant's)."""
    return _release_part(session, SubmissionShard, shard_id, owner=owner, max_faults=max_faults, message=message)


# A part of a run, claimed and leased on its own: a shard, or a site's part. Both have the same states
# (pending, running, done, failed) and lease columns.
_Part = type[SubmissionShard] | type[SubmissionSitePart]


def _claim_part(session: Session, model: _Part, part_id: int, *, owner: str, lease_seconds: int) -> bool:
    result = session.execute(
        update(model).where(model.id == part_id, model.state == ShardState.PENDING)
        .values(state=ShardState.RUNNING, claimed_by=owner,
                lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), attempts=model.attempts + 1)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def _renew_part(session: Session, model: _Part, part_id: int, *, owner: str, lease_seconds: int) -> bool:
    result = session.execute(
        update(model).where(model.id == part_id, model.state == ShardState.RUNNING, model.claimed_by == owner)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def _finish_part(session: Session, model: _Part, part_id: int, *, owner: str, state: str, **fields: Any) -> bool:
    assert state in (ShardState.DONE, ShardState.FAILED)
    result = session.execute(
        update(model).where(model.id == part_id, model.state == ShardState.RUNNING, model.claimed_by == owner)
        .values(state=state, lease_expires_at=None, finished_at=utcnow(), **fields)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def _release_part(session: Session, model: _Part, part_id: int, *, owner: str | None, max_faults: int,
                  message: str) -> bool:
    where = [model.id == part_id, model.state == ShardState.RUNNING]
    if owner is not None:
        where.append(model.claimed_by == owner)
    gave_up = model.infrastructure_faults + 1 >= max_faults
    result = session.execute(
        update(model).where(*where)
        .values(state=case((gave_up, ShardState.FAILED.value), else_=ShardState.PENDING.value),
                claimed_by=None, lease_expires_at=None, infrastructure_faults=model.infrastructure_faults + 1,
                message=case((gave_up, message), else_=model.message))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


# ---- runs of a re-evaluation on another test set version (app/pipeline/reevaluation.py) -------------------------
#   pending (queued_at set when its job is queued, within the budget) -> running (claimed, leased) -> done | failed
#                  \-> pending (its worker's infrastructure fault, or its lease expired: retried within the budget)
# The submission itself is never moved by these: its state and its other runs stay as they are.
RR = ReevaluationRunState


def take_reevaluation_turns(session: Session, reevaluation_id: int, budget: int) -> list[int]:
    """Mark as queued the pending runs that fit in the re-evaluation's budget (runs queued or running count against
    it) and return their ids, oldest first: the caller queues a job for each, and commits first."""
    busy = session.scalar(select(func.count(ReevaluationRun.id)).where(
        ReevaluationRun.reevaluation_id == reevaluation_id,
        or_(ReevaluationRun.state == RR.RUNNING,
            (ReevaluationRun.state == RR.PENDING) & ReevaluationRun.queued_at.is_not(None)))) or 0
    free = budget - busy
    if free <= 0:
        return []
    waiting = session.scalars(select(ReevaluationRun.id).where(
        ReevaluationRun.reevaluation_id == reevaluation_id, ReevaluationRun.state == RR.PENDING,
        ReevaluationRun.queued_at.is_(None)).order_by(ReevaluationRun.id).limit(free)).all()
    taken = []
    for run_id in waiting:
        result = session.execute(
            update(ReevaluationRun).where(ReevaluationRun.id == run_id, ReevaluationRun.state == RR.PENDING,
                                          ReevaluationRun.queued_at.is_(None))
            .values(queued_at=utcnow()).execution_options(synchronize_session=False))
        if _rowcount(result) == 1:
            taken.append(run_id)
    return taken


def forget_reevaluation_job(session: Session, run_id: int) -> bool:
    """A pending run whose job was lost (Redis restarted): its turn is taken again by the next top-up."""
    result = session.execute(
        update(ReevaluationRun).where(ReevaluationRun.id == run_id, ReevaluationRun.state == RR.PENDING)
        .values(queued_at=None).execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def claim_reevaluation_run(session: Session, run_id: int, *, owner: str, lease_seconds: int, budget: int) -> bool:
    """pending -> running for the worker `owner`, with a lease, while fewer than `budget` runs of its re-evaluation
    run (the budget holds even when more jobs than it were queued, say by two reconcilers at once)."""
    siblings = select(ReevaluationRun.reevaluation_id).where(ReevaluationRun.id == run_id).scalar_subquery()
    running = (select(func.count(ReevaluationRun.id))
               .where(ReevaluationRun.reevaluation_id == siblings, ReevaluationRun.state == RR.RUNNING)
               .scalar_subquery())
    now = utcnow()
    result = session.execute(
        update(ReevaluationRun).where(ReevaluationRun.id == run_id, ReevaluationRun.state == RR.PENDING,
                                      running < budget)
        .values(state=RR.RUNNING, claimed_by=owner, lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=now, attempts=ReevaluationRun.attempts + 1)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def renew_reevaluation_run(session: Session, run_id: int, *, owner: str, lease_seconds: int) -> bool:
    """Extend the lease of the worker running it; False when it no longer holds it."""
    result = session.execute(
        update(ReevaluationRun).where(ReevaluationRun.id == run_id, ReevaluationRun.state == RR.RUNNING,
                                      ReevaluationRun.claimed_by == owner)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def finish_reevaluation_run(session: Session, run_id: int, *, owner: str, done: bool, message: str | None = None,
                            evaluation_run_id: int | None = None) -> bool:
    """running -> done (its EvaluationRun stored) or failed (the participant's fault on this version, or the
    organiser's evaluator's), by the worker that holds it."""
    result = session.execute(
        update(ReevaluationRun).where(ReevaluationRun.id == run_id, ReevaluationRun.state == RR.RUNNING,
                                      ReevaluationRun.claimed_by == owner)
        .values(state=RR.DONE if done else RR.FAILED, lease_expires_at=None, finished_at=utcnow(), message=message,
                run_id=evaluation_run_id)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def release_reevaluation_run(session: Session, run_id: int, *, owner: str | None, max_faults: int,
                             message: str) -> bool:
    """running -> pending (not queued: the next top-up queues it) after an infrastructure fault (its worker's, or its
    lease expired: owner None), or -> failed once it has had max_faults of them (the platform's fault)."""
    where = [ReevaluationRun.id == run_id, ReevaluationRun.state == RR.RUNNING]
    if owner is not None:
        where.append(ReevaluationRun.claimed_by == owner)
    gave_up = ReevaluationRun.infrastructure_faults + 1 >= max_faults
    result = session.execute(
        update(ReevaluationRun).where(*where)
        .values(state=case((gave_up, RR.FAILED.value), else_=RR.PENDING.value), claimed_by=None, lease_expires_at=None,
                queued_at=None, infrastructure_faults=ReevaluationRun.infrastructure_faults + 1,
                finished_at=case((gave_up, utcnow()), else_=None),
                message=case((gave_up, message), else_=ReevaluationRun.message))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


# ---- sites (app/pipeline/sites.py, site_part.py) ---------------------------------------------------------------
#   A submission whose test set is held at sites stays running while its parts run: its lease owner is SITES_OWNER
#   (no expiry: each part has its own lease, and the reconciler repairs parts) until every part is final and one
#   worker takes it back (take_from_sites) to pool the parts' results.
#   part: pending -> running (one site worker, with a lease) -> done | failed
#                        \-> pending (an infrastructure fault, or its lease expired: retried alone)

SITES_OWNER = "sites"


def hand_to_sites(session: Session, submission_id: int, *, owner: str) -> bool:
    """running (held by `owner`) -> running, held by its sites' parts (no lease expiry)."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.state == S.RUNNING, Submission.lease_owner == owner)
        .values(lease_owner=SITES_OWNER, lease_expires_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def take_from_sites(session: Session, submission_id: int, *, owner: str, lease_seconds: int) -> bool:
    """running, held by its sites -> running, held by the worker `owner` that pools the parts' results."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.state == S.RUNNING, Submission.lease_owner == SITES_OWNER)
        .values(lease_owner=owner, lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def claim_site_part(session: Session, part_id: int, *, owner: str, lease_seconds: int) -> bool:
    """pending -> running for the site worker `owner`, with a lease."""
    return _claim_part(session, SubmissionSitePart, part_id, owner=owner, lease_seconds=lease_seconds)


def renew_site_part(session: Session, part_id: int, *, owner: str, lease_seconds: int) -> bool:
    """Extend the lease of the site worker running the part; False when it no longer holds it."""
    return _renew_part(session, SubmissionSitePart, part_id, owner=owner, lease_seconds=lease_seconds)


def finish_site_part(session: Session, part_id: int, *, owner: str, state: SitePartState, **fields: Any) -> bool:
    """running -> done or failed, by the site worker that holds it, with its result or why it failed."""
    return _finish_part(session, SubmissionSitePart, part_id, owner=owner, state=state, **fields)


def release_site_part(session: Session, part_id: int, *, owner: str | None, max_faults: int, message: str) -> bool:
    """running -> pending after an infrastructure fault (its worker's, or its lease expired: owner None), or -> failed
    once the part has had max_faults of them (the platform's fault, never the participant's)."""
    return _release_part(session, SubmissionSitePart, part_id, owner=owner, max_faults=max_faults, message=message)


def hand_reevaluation_to_sites(session: Session, run_id: int, *, owner: str) -> bool:
    """A re-evaluation run (running, held by `owner`) -> running, held by its sites' parts (no lease expiry; it still
    counts against its re-evaluation's budget)."""
    result = session.execute(
        update(ReevaluationRun)
        .where(ReevaluationRun.id == run_id, ReevaluationRun.state == ReevaluationRunState.RUNNING,
               ReevaluationRun.claimed_by == owner)
        .values(claimed_by=SITES_OWNER, lease_expires_at=None)
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1


def take_reevaluation_from_sites(session: Session, run_id: int, *, owner: str, lease_seconds: int) -> bool:
    """A re-evaluation run held by its sites -> held by the worker `owner` that pools the parts' results."""
    result = session.execute(
        update(ReevaluationRun)
        .where(ReevaluationRun.id == run_id, ReevaluationRun.state == ReevaluationRunState.RUNNING,
               ReevaluationRun.claimed_by == SITES_OWNER)
        .values(claimed_by=owner, lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    return _rowcount(result) == 1
