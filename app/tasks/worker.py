from __future__ import annotations

import logging
import threading

from rq import Worker

from app.config import Settings
from app.tasks.queues import job_queue, redis_connection
from app.tasks.reconciler import reconcile_once, refresh_stale_analyses

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, burst: bool = False, max_jobs: int | None = None,
               reconcile: bool = True) -> bool:
    """Run an RQ worker on the evaluation queue, with the reconciler beside it.

    burst=True reconciles once, then returns when the queue is empty.
    """
    if reconcile:
        reconcile_once(settings)
    stop = threading.Event()
    thread = None
    if reconcile and not burst:
        thread = threading.Thread(target=_reconcile_forever, args=(settings, stop), name="reconciler", daemon=True)
        thread.start()
    connection = redis_connection(settings)
    worker = Worker([job_queue(settings, connection)], connection=connection)
    try:
        return worker.work(burst=burst, max_jobs=max_jobs, logging_level="INFO")
    finally:
        stop.set()


def _reconcile_forever(settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.reconcile_seconds):
        try:
            reconcile_once(settings)
            refresh_stale_analyses(settings)
        except Exception:  # noqa: BLE001 - a service may be briefly down; try again next round
            log.warning("reconciler round failed", exc_info=True)


def queued_job_count(settings: Settings) -> int:
    return job_queue(settings).count
