from __future__ import annotations

import logging
import multiprocessing
import os
import threading

from rq import Queue, Worker

from app.config import Settings
from app.logs import configure_logging
from app.tasks.queues import gpu_job_queue, job_queue, redis_connection, shard_queue, site_queue_name
from app.tasks.reconciler import reconcile_once, refresh_stale_analyses

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, burst: bool = False, max_jobs: int | None = None,
               reconcile: bool = True, gpu: bool = False, site: str | None = None) -> bool:
    """Run an RQ worker on the evaluation queue, with the reconciler beside it.

    burst=True reconciles once, then returns when the queue is empty. gpu=True listens on the GPU queue
    instead (submissions to phases with limits.gpus > 0; docs/operations.md, "GPU workers"). site="NAME" listens only
    on that site's queue (its parts of runs on test sets held at sites; docs/sites.md): settings must name the same
    site and its storage.

    The reconciler runs in a process of its own, started with ``spawn``: RQ forks a work horse for
    every job, and a fork taken while a thread of this process held a lock (logging, a connection
    pool) left the work horse waiting on that lock for ever.
    """
    if reconcile:
        reconcile_once(settings)
    reconciler = None
    if reconcile and not burst:
        reconciler = multiprocessing.get_context("spawn").Process(
            target=reconcile_forever, args=(settings, os.getpid()), name="podium-reconciler", daemon=True)
        reconciler.start()
    connection = redis_connection(settings)
    if site is not None:
        worker = Worker([Queue(site_queue_name(settings, site), connection=connection)], connection=connection)
    else:
        queue = gpu_job_queue(settings, connection) if gpu else job_queue(settings, connection)
        worker = Worker([shard_queue(settings, gpu, connection), queue], connection=connection)
    try:
        return worker.work(burst=burst, max_jobs=max_jobs, logging_level="INFO")
    finally:
        if reconciler is not None:
            reconciler.terminate()
            reconciler.join(timeout=10)


def reconcile_forever(settings: Settings, worker_pid: int) -> None:
    """The reconciler's process: a round every ``reconcile_seconds`` while its worker lives."""
    configure_logging()
    stop = threading.Event()
    while not stop.wait(settings.reconcile_seconds):
        if os.getppid() != worker_pid:  # the worker is gone (killed with -9): so is its reconciler
            return
        try:
            reconcile_once(settings)
            refresh_stale_analyses(settings)
        except Exception:  # noqa: BLE001 - a service may be briefly down; try again next round
            log.warning("reconciler round failed", exc_info=True)


def queued_job_count(settings: Settings) -> int:
    return job_queue(settings).count
