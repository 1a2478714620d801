from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.config import Settings

# RQ's timeout only interrupts Python; a container's own deadline is enforced inside the job.
JOB_TIMEOUT_SECONDS = 6 * 3600
# A job that says "started" for longer than this while its submission is queued was lost with its worker.
STALE_START_SECONDS = 120


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=30,
                          health_check_interval=30)


def evaluation_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    return Queue(settings.queue_name, connection=connection or redis_connection(settings))


def job_id(submission_id: int) -> str:
    return f"evaluate-submission-{submission_id}"


def job_pending(settings: Settings, submission_id: int, connection: Redis | None = None) -> bool:
    """Whether a job for this submission waits in the queue or has just been picked up."""
    connection = connection or redis_connection(settings)
    try:
        job = Job.fetch(job_id(submission_id), connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        return job.id in evaluation_queue(settings, connection).get_job_ids()
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED and job.started_at is not None:
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        return datetime.now(UTC) - started < timedelta(seconds=STALE_START_SECONDS)
    return False


def make_enqueuer(settings: Settings) -> Callable[[int], None]:
    def enqueue(submission_id: int) -> None:
        connection = redis_connection(settings)
        if job_pending(settings, submission_id, connection):
            return
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job_id(submission_id), connection=connection).delete()
        evaluation_queue(settings, connection).enqueue(
            "app.tasks.jobs.evaluate",
            submission_id,
            job_id=job_id(submission_id),
            job_timeout=JOB_TIMEOUT_SECONDS,
            description=f"evaluate submission {submission_id}",
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )

    return enqueue
