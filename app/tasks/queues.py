from __future__ import annotations

from collections.abc import Callable

from redis import Redis
from rq import Queue

from app.config import Settings

# RQ's timeout only interrupts Python; a container's own deadline is enforced inside the job.
JOB_TIMEOUT_SECONDS = 6 * 3600


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)


def evaluation_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    return Queue(settings.queue_name, connection=connection or redis_connection(settings))


def make_enqueuer(settings: Settings) -> Callable[[int], None]:
    def enqueue(submission_id: int) -> None:
        evaluation_queue(settings).enqueue(
            "app.tasks.jobs.evaluate",
            submission_id,
            job_timeout=JOB_TIMEOUT_SECONDS,
            description=f"evaluate submission {submission_id}",
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )

    return enqueue
