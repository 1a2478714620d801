from __future__ import annotations

from rq import Worker

from app.config import Settings
from app.tasks.queues import evaluation_queue, redis_connection


def run_worker(settings: Settings, *, burst: bool = False, max_jobs: int | None = None) -> bool:
    """Run an RQ worker on the evaluation queue. burst=True returns when the queue is empty."""
    connection = redis_connection(settings)
    worker = Worker([evaluation_queue(settings, connection)], connection=connection)
    return worker.work(burst=burst, max_jobs=max_jobs, logging_level="INFO")


def queued_job_count(settings: Settings) -> int:
    return evaluation_queue(settings).count
