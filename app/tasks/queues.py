from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.challenge_yaml import MAX_TIME_LIMIT_SECONDS
from app.config import Settings
from app.resources import Resources

# RQ's timeout only interrupts Python; a container's own deadline is enforced inside the job. A job may run
# the participant's container and then the organiser's evaluation container, each up to the phase's time
# limit, plus staging, image load and scoring: RQ must never kill an attempt that is within its limits.
JOB_TIMEOUT_SECONDS = 2 * MAX_TIME_LIMIT_SECONDS + 3600


def redis_connection(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=30,
                          health_check_interval=30)


def job_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    """The installation's queue: CPU submissions, analyses, imports."""
    return Queue(settings.queue_name, connection=connection or redis_connection(settings))


def gpu_queue_name(settings: Settings) -> str:
    return f"{settings.queue_name}-gpu"


def gpu_job_queue(settings: Settings, connection: Redis | None = None) -> Queue:
    """Submissions to phases that ask for GPUs (limits.gpus): only `podium worker --gpu` listens on it."""
    return Queue(gpu_queue_name(settings), connection=connection or redis_connection(settings))


def submission_queue(settings: Settings, needs_gpu: bool, connection: Redis | None = None) -> Queue:
    return gpu_job_queue(settings, connection) if needs_gpu else job_queue(settings, connection)


def shard_queue(settings: Settings, gpu: bool, connection: Redis | None = None) -> Queue:
    """Shards of sharded runs (app/pipeline/shards.py): workers take them before new submissions, so that a run
    already under way finishes first."""
    name = f"{gpu_queue_name(settings) if gpu else settings.queue_name}-shards"
    return Queue(name, connection=connection or redis_connection(settings))


def make_shard_enqueuer(settings: Settings, needs_gpu: Callable[[int], bool]) -> Callable[[int, int], None]:
    def enqueue(submission_id: int, shard: int) -> None:
        connection = redis_connection(settings)
        try:
            shard_queue(settings, needs_gpu(submission_id), connection).enqueue(
                "app.tasks.jobs.run_shard", submission_id, shard, job_timeout=JOB_TIMEOUT_SECONDS,
                description=f"run shard {shard + 1} of submission {submission_id}", result_ttl=3600,
                failure_ttl=7 * 24 * 3600)
        finally:
            connection.close()

    return enqueue


def latest_job_key(settings: Settings, submission_id: int) -> str:
    """Per queue: installations (and test runs) sharing one Redis number their submissions from 1 each."""
    return f"podium:submission-job:{settings.queue_name}:{submission_id}"


def job_pending(settings: Settings, submission_id: int, connection: Redis | None = None) -> bool:
    """Whether the latest job for this submission still waits in the queue, or started so recently that
    its attempt may not have taken the submission's lease yet.

    A job that started longer ago than a lease lasts and left the submission queued is not pending: its
    worker died before the attempt began. (A second delivery would be harmless, since it finds nothing to
    do, but on a loaded machine the reconciler would queue one every round while a job starts up.)
    """
    return keyed_job_pending(connection or redis_connection(settings), latest_job_key(settings, submission_id),
                             started_grace_seconds=settings.lease_seconds)


def make_enqueuer(settings: Settings, needs_gpu: Callable[[int], bool] | None = None) -> Callable[[int], None]:
    """needs_gpu(submission_id): whether the submission's phase asks for GPUs (its job then goes to the GPU queue);
    by default the database is asked."""
    if needs_gpu is None:
        needs_gpu = _gpu_lookup(settings)

    def enqueue(submission_id: int) -> None:
        connection = redis_connection(settings)
        if job_pending(settings, submission_id, connection):
            return
        job = submission_queue(settings, needs_gpu(submission_id), connection).enqueue(
            "app.tasks.jobs.run_submission",
            submission_id,
            job_id=f"run-submission-{submission_id}-{uuid.uuid4().hex[:8]}",
            job_timeout=JOB_TIMEOUT_SECONDS,
            description=f"run submission {submission_id}",
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )
        connection.set(latest_job_key(settings, submission_id), job.id, ex=30 * 24 * 3600)

    return enqueue


def gpu_lookup(resources: Resources) -> Callable[[int], bool]:
    """needs_gpu for make_enqueuer, asking the database through the caller's resources."""
    from app.queries.phases import submission_needs_gpu

    def needs_gpu(submission_id: int) -> bool:
        with resources.session() as session:
            return submission_needs_gpu(session, submission_id)

    return needs_gpu


def _gpu_lookup(settings: Settings) -> Callable[[int], bool]:
    """For callers without resources of their own (scripts, tests): opened at the first enqueue."""
    from app.resources import Resources

    opened: list[Callable[[int], bool]] = []

    def needs_gpu(submission_id: int) -> bool:
        if not opened:
            opened.append(gpu_lookup(Resources(settings)))
        return opened[0](submission_id)

    return needs_gpu


ANALYSIS_JOB_TIMEOUT_SECONDS = 3600


def _analysis_waiting_key(settings: Settings, phase_id: int, test_set_id: int | None = None) -> str:
    """Per queue: installations (and test runs) that share one Redis have queues of their own. Per version of the
    test set asked for (None: the one the phase ranks on)."""
    version = "" if test_set_id is None else f":test-set-{test_set_id}"
    return f"podium:analysis-waiting:{settings.queue_name}:{phase_id}{version}"


def enqueue_analysis(settings: Settings, phase_id: int, connection: Redis | None = None, *,
                     test_set_id: int | None = None) -> bool:
    """Ask for a phase's analysis; False when one is already waiting in the queue (it will read the phase as it
    is when it starts, so this request is covered). Requests coalesce: at most one analysis waits per phase, and
    at most one more runs (the job clears the mark as it starts, `analysis_started`). Over a phase's life the
    number of analyses grows with the bursts of scored submissions, not with each one. The mark expires with the
    job's timeout, so a lost job does not block the phase for ever. test_set_id: the analysis of another version of
    the phase's test set (a re-evaluation's), coalesced apart from the ranked version's."""
    connection = connection or redis_connection(settings)
    key = _analysis_waiting_key(settings, phase_id, test_set_id)
    if not connection.set(key, "1", nx=True, ex=ANALYSIS_JOB_TIMEOUT_SECONDS):
        return False
    try:
        job_queue(settings, connection).enqueue("app.tasks.jobs.analyse_phase", phase_id,
                                                *(() if test_set_id is None else (test_set_id,)),
                                                job_timeout=ANALYSIS_JOB_TIMEOUT_SECONDS,
                                                description=f"analyse phase {phase_id}"
                                                + ("" if test_set_id is None else f" on test set {test_set_id}"),
                                                result_ttl=3600)
    except Exception:
        connection.delete(key)  # not queued: the next request must queue one
        raise
    return True


def analysis_started(settings: Settings, phase_id: int, connection: Redis | None = None, *,
                     test_set_id: int | None = None) -> None:
    """Called by the analysis job before it reads anything: a request from now on queues a new analysis."""
    (connection or redis_connection(settings)).delete(_analysis_waiting_key(settings, phase_id, test_set_id))


def queue_status(settings: Settings) -> dict[str, dict[str, int]]:
    """Per queue of this installation (CPU and GPU): jobs waiting, jobs running, workers listening. Plain data for
    the web process (/metrics), which does not import the queue library."""
    from rq import Worker
    from rq.registry import StartedJobRegistry

    connection = redis_connection(settings)
    try:
        status: dict[str, dict[str, int]] = {}
        for queue in (job_queue(settings, connection), gpu_job_queue(settings, connection)):
            status[queue.name] = {"queued": queue.count,
                                  "running": StartedJobRegistry(queue=queue).count,
                                  "workers": Worker.count(queue=queue)}
        return status
    finally:
        connection.close()


# ---- re-evaluations on another test set version (app/pipeline/reevaluation.py) -----------------------------------

def reevaluation_job_key(settings: Settings, row_id: int) -> str:
    return f"podium:reevaluation-job:{settings.queue_name}:{row_id}"


def make_reevaluation_enqueuer(settings: Settings, needs_gpu: Callable[[int], bool]) -> Callable[[int], None]:
    """enqueue(row_id): a job running one re-evaluation row, on its phase's submission queue (the GPU queue when the
    phase asks for GPUs: needs_gpu(row_id)). Callers queue only the rows the budget gives a turn to
    (transitions.take_reevaluation_turns)."""
    def enqueue(row_id: int) -> None:
        connection = redis_connection(settings)
        try:
            job = submission_queue(settings, needs_gpu(row_id), connection).enqueue(
                "app.tasks.jobs.run_reevaluation", row_id,
                job_id=f"reevaluate-{row_id}-{uuid.uuid4().hex[:8]}", job_timeout=JOB_TIMEOUT_SECONDS,
                description=f"re-evaluation run {row_id}", result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)
            connection.set(reevaluation_job_key(settings, row_id), job.id, ex=30 * 24 * 3600)
        finally:
            connection.close()

    return enqueue


def reevaluation_job_pending(settings: Settings, row_id: int, connection: Redis | None = None) -> bool:
    """Whether the row's latest job still waits in its queue, or started so recently that it may not have claimed the
    row yet (a job that started longer ago than a lease lasts and left the row pending: its worker died)."""
    return keyed_job_pending(connection or redis_connection(settings), reevaluation_job_key(settings, row_id),
                             started_grace_seconds=settings.lease_seconds)


def reevaluation_gpu_lookup(resources: Resources) -> Callable[[int], bool]:
    """needs_gpu for make_reevaluation_enqueuer, asking the database through the caller's resources."""
    from app.queries.test_set_versions import reevaluation_run_needs_gpu

    def needs_gpu(row_id: int) -> bool:
        with resources.session() as session:
            return reevaluation_run_needs_gpu(session, row_id)

    return needs_gpu


# ---- sites (app/pipeline/sites.py, site_part.py) ---------------------------------------------------------------

def site_queue_name(settings: Settings, site: str) -> str:
    """The queue only `podium worker --site NAME` listens on."""
    return f"{settings.queue_name}-site-{site}"


def _site_part_job_key(settings: Settings, part_id: int) -> str:
    return f"podium:site-part-job:{settings.queue_name}:{part_id}"


def _site_results_job_key(settings: Settings, submission_id: int, reevaluation_run_id: int | None) -> str:
    run = "" if reevaluation_run_id is None else f":r{reevaluation_run_id}"
    return f"podium:site-results-job:{settings.queue_name}:{submission_id}{run}"


def keyed_job_pending(connection: Redis, key: str, started_grace_seconds: float | None = None) -> bool:
    """Whether the job whose id is stored under key still waits in its queue, or runs. With started_grace_seconds,
    a started job counts only that long after it started (a job that started longer ago and left its work pending:
    its worker died, see job_pending)."""
    latest = connection.get(key)
    if latest is None:
        return False
    try:
        job = Job.fetch(latest.decode() if isinstance(latest, bytes) else latest, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        return job.id in Queue(job.origin, connection=connection).get_job_ids()
    if status == JobStatus.STARTED and started_grace_seconds is not None:
        started = job.started_at
        return started is not None and datetime.now(UTC) - started < timedelta(seconds=started_grace_seconds)
    return status in (JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def enqueue_site_part(settings: Settings, site: str, part_id: int) -> bool:
    """A job for one site's part of a run, on that site's queue, unless one waits already; True when queued."""
    connection = redis_connection(settings)
    try:
        key = _site_part_job_key(settings, part_id)
        if keyed_job_pending(connection, key, started_grace_seconds=settings.lease_seconds):
            return False
        job = Queue(site_queue_name(settings, site), connection=connection).enqueue(
            "app.tasks.jobs.run_site_part", part_id, job_id=f"site-part-{part_id}-{uuid.uuid4().hex[:8]}",
            job_timeout=JOB_TIMEOUT_SECONDS, description=f"site {site}: part {part_id}", result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600)
        connection.set(key, job.id, ex=30 * 24 * 3600)
        return True
    finally:
        connection.close()


def enqueue_site_results(settings: Settings, submission_id: int, reevaluation_run_id: int | None = None) -> bool:
    """A central job pooling a run's site parts (a submission's own, or a re-evaluation run's) once every one is final,
    unless one waits already."""
    connection = redis_connection(settings)
    try:
        key = _site_results_job_key(settings, submission_id, reevaluation_run_id)
        if keyed_job_pending(connection, key):
            return False
        run = "" if reevaluation_run_id is None else f" (re-evaluation run {reevaluation_run_id})"
        job = job_queue(settings, connection).enqueue(
            "app.tasks.jobs.pool_site_results", submission_id, reevaluation_run_id,
            job_id=f"site-results-{submission_id}-{uuid.uuid4().hex[:8]}", job_timeout=3600,
            description=f"pool the sites' results of submission {submission_id}{run}", result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600)
        connection.set(key, job.id, ex=30 * 24 * 3600)
        return True
    finally:
        connection.close()
