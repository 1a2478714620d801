"""Retries, leases and the reconciler against a real database and a real Redis."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import update

from app import transitions
from app.models import Challenge, Phase, Submission, SubmissionState
from app.models._types import utcnow
from app.pipeline.leases import acquire, renew
from app.pipeline.recovery import after_infrastructure_fault, reconcile
from app.resources import Resources
from app.tasks.queues import job_pending, latest_job_key, make_enqueuer, redis_connection
from app.tasks.worker import queued_job_count
from app.usecases.submission_limits import limit_status
from app.usecases.users import create_user

S = SubmissionState


def _queued_submission(resources: Resources, username: str = "ada") -> int:
    with resources.session() as session:
        user, _ = create_user(session, username)
        challenge = Challenge(slug="c", title="C")
        phase = Phase(challenge=challenge, slug="p", title="P", ranking_metric="auroc")
        session.add_all([challenge, phase])
        session.flush()
        submission = Submission(phase_id=phase.id, user_id=user.id, state=S.QUEUED, upload_key="k")
        session.add(submission)
        session.flush()
        return submission.id


def _state(resources: Resources, submission_id: int) -> Submission:
    with resources.session() as session:
        return session.get(Submission, submission_id)


def test_an_infrastructure_fault_is_retried_with_backoff_then_fails_without_counting(resources: Resources) -> None:
    settings = resources.settings  # 3 faults allowed, backoff 10 s doubling
    sid = _queued_submission(resources)
    assert acquire(resources, sid, "attempt-1")
    assert after_infrastructure_fault(resources, sid, owner="attempt-1", reason="storage was unavailable") \
        == "requeued: retry in 10 s"
    submission = _state(resources, sid)
    assert submission.state == S.QUEUED and submission.infrastructure_faults == 1
    assert submission.lease_owner is None
    assert timedelta(seconds=9) < submission.retry_at - utcnow() <= timedelta(seconds=10)
    assert not acquire(resources, sid, "too-early")  # the backoff holds

    with resources.session() as session:
        session.execute(update(Submission).where(Submission.id == sid).values(retry_at=utcnow()))
    assert acquire(resources, sid, "attempt-2")
    assert after_infrastructure_fault(resources, sid, owner="attempt-2", reason="x") == "requeued: retry in 20 s"
    with resources.session() as session:
        session.execute(update(Submission).where(Submission.id == sid).values(retry_at=utcnow()))
    assert acquire(resources, sid, "attempt-3")
    assert after_infrastructure_fault(resources, sid, owner="attempt-3", reason="storage was unavailable") == "failed"
    submission = _state(resources, sid)
    assert submission.state == S.FAILED and submission.failure_is_infrastructure
    assert submission.attempts == 3 and settings.max_infrastructure_faults == 3
    assert "storage was unavailable" in submission.failure_message
    assert "does not count against your submission limit" in submission.failure_message
    with resources.session() as session:
        s = session.get(Submission, sid)
        assert limit_status(session, s.phase, s.user).used_today == 0


def test_a_zombie_attempt_cannot_write_after_its_lease_moved_on(resources: Resources) -> None:
    sid = _queued_submission(resources)
    assert acquire(resources, sid, "zombie")
    with resources.session() as session:  # the zombie's worker stopped renewing
        session.execute(update(Submission).where(Submission.id == sid)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1), retry_at=None))
    report = reconcile(resources, enqueue=lambda _: None, job_pending=lambda _: True)
    assert report.expired == [sid]
    with resources.session() as session:
        session.execute(update(Submission).where(Submission.id == sid).values(retry_at=utcnow()))
    assert acquire(resources, sid, "successor")
    assert not renew(resources, sid, "zombie")
    with resources.session() as session:
        assert not transitions.begin_scoring(session, sid, owner="zombie")
        assert transitions.begin_scoring(session, sid, owner="successor")


def test_the_reconciler_enqueues_due_submissions_that_no_job_carries(resources: Resources) -> None:
    settings = resources.settings
    sid = _queued_submission(resources)
    enqueue = make_enqueuer(settings)
    pending = lambda s: job_pending(settings, s)  # noqa: E731
    assert not pending(sid)
    report = reconcile(resources, enqueue=enqueue, job_pending=pending)
    assert report.enqueued == [sid] and queued_job_count(settings) == 1
    # A second round finds the job pending and adds nothing.
    assert reconcile(resources, enqueue=enqueue, job_pending=pending).enqueued == []
    assert queued_job_count(settings) == 1
    # The queue is lost (e.g. Redis restarted without persistence): the next round enqueues it again.
    redis_connection(settings).delete(f"rq:queue:{settings.queue_name}")
    assert queued_job_count(settings) == 0
    assert reconcile(resources, enqueue=enqueue, job_pending=pending).enqueued == [sid]
    assert queued_job_count(settings) == 1


def test_a_job_that_just_started_counts_as_pending_until_a_lease_would_have_expired(resources: Resources) -> None:
    from datetime import UTC, datetime, timedelta

    from rq.job import Job, JobStatus

    settings = resources.settings
    sid = _queued_submission(resources)
    make_enqueuer(settings)(sid)
    connection = redis_connection(settings)
    job = Job.fetch(connection.get(latest_job_key(settings, sid)).decode(), connection=connection)
    job.set_status(JobStatus.STARTED)
    job.started_at = datetime.now(UTC)
    job.save()
    assert job_pending(settings, sid)  # its attempt may not have taken the lease yet: no second job
    assert reconcile(resources, enqueue=make_enqueuer(settings), job_pending=lambda s: job_pending(settings, s)
                     ).enqueued == []
    job.started_at = datetime.now(UTC) - timedelta(seconds=settings.lease_seconds + 1)
    job.save()
    assert not job_pending(settings, sid)  # its worker died before the attempt began
    assert reconcile(resources, enqueue=make_enqueuer(settings), job_pending=lambda s: job_pending(settings, s)
                     ).enqueued == [sid]


def test_a_heartbeat_keeps_a_lease_alive(resources: Resources) -> None:
    from app.pipeline.leases import Heartbeat

    resources.settings = resources.settings.with_overrides(lease_seconds=2)
    sid = _queued_submission(resources)
    assert acquire(resources, sid, "alive")
    with Heartbeat(resources, sid, "alive"):
        time.sleep(3)
        report = reconcile(resources, enqueue=lambda _: None, job_pending=lambda _: True)
    assert report.expired == []
    assert _state(resources, sid).state == S.RUNNING


def _upload_in_state(resources: Resources, state: SubmissionState, age_seconds: int, username: str) -> int:
    with resources.session() as session:
        user, _ = create_user(session, username)
        phase = session.query(Phase).one_or_none()
        if phase is None:
            challenge = Challenge(slug="c", title="C")
            phase = Phase(challenge=challenge, slug="p", title="P", ranking_metric="auroc")
            session.add_all([challenge, phase])
            session.flush()
        submission = Submission(phase_id=phase.id, user_id=user.id, state=state)
        session.add(submission)
        session.flush()
        session.execute(update(Submission).where(Submission.id == submission.id)
                        .values(updated_at=utcnow() - timedelta(seconds=age_seconds)))
        return submission.id


def test_stale_uploads_are_failed_as_the_platforms_fault_and_fresh_ones_left_alone(resources: Resources) -> None:
    """Defect: a storage error (or a dead web process) while receiving an upload left it `validating` forever."""
    stale = resources.settings.stale_upload_seconds + 5
    stuck_validating = _upload_in_state(resources, S.VALIDATING, stale, "vera")
    stuck_received = _upload_in_state(resources, S.RECEIVED, stale, "rita")
    fresh = _upload_in_state(resources, S.VALIDATING, 5, "fred")
    report = reconcile(resources, enqueue=lambda _: None, job_pending=lambda _: True)
    assert sorted(report.abandoned_uploads) == sorted([stuck_validating, stuck_received])
    for sid in (stuck_validating, stuck_received):
        submission = _state(resources, sid)
        assert submission.state == S.FAILED and submission.failure_is_infrastructure
        assert "not your fault" in (submission.failure_message or "")
    assert _state(resources, fresh).state == S.VALIDATING
