"""Wires the reconciler (app.pipeline.recovery) to Redis and the local Docker engine."""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis import Redis

from app.config import Settings
from app.pipeline.recovery import ReconcileReport, reconcile
from app.pipeline.sites import reconcile_sites
from app.resources import Resources
from app.tasks.queues import (
    enqueue_site_part,
    enqueue_site_results,
    gpu_lookup,
    job_pending,
    make_enqueuer,
    redis_connection,
)
from runners.docker_runner import DockerRunner, RunnerError
from runners.orphans import remove_orphans
from runners.output_area import sweep_stale_areas

log = logging.getLogger(__name__)


def reconcile_once(settings: Settings, *, with_docker: bool = True) -> ReconcileReport:
    resources = Resources(settings)
    connection = redis_connection(settings)
    runner = None
    if with_docker:
        try:
            runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
        except RunnerError as exc:  # leases and the queue can be repaired without the engine
            log.warning("reconciler: skipping orphaned containers: %s", exc)
    try:
        report = reconcile(
            resources,
            enqueue=make_enqueuer(settings, gpu_lookup(resources)),
            job_pending=lambda sid: job_pending(settings, sid, connection),
            remove_orphans=(lambda is_live: _remove_orphans(settings, runner, is_live)) if runner else None,
        )
        _reconcile_reevaluations(settings, resources, connection)
        reconcile_sites(resources, enqueue_part=lambda site, part: enqueue_site_part(settings, site, part),
                        enqueue_results=lambda submission, row: enqueue_site_results(settings, submission, row))
        return report
    finally:
        if runner is not None:
            runner.client.close()
        connection.close()
        resources.close()


def _reconcile_reevaluations(settings: Settings, resources: Resources, connection: Redis) -> None:
    """Re-evaluations' rows (app/pipeline/reevaluation.py): expired leases, lost jobs, the next turns in budget."""
    from app.pipeline.reevaluation import reconcile_reevaluations
    from app.tasks.queues import make_reevaluation_enqueuer, reevaluation_gpu_lookup, reevaluation_job_pending

    queued = reconcile_reevaluations(
        resources, enqueue=make_reevaluation_enqueuer(settings, reevaluation_gpu_lookup(resources)),
        job_pending=lambda row_id: reevaluation_job_pending(settings, row_id, connection))
    if queued:
        log.info("reconciler: re-evaluation runs queued %s", queued)


def _remove_orphans(settings: Settings, runner: DockerRunner, is_live: Callable[[int], bool]) -> list[int]:
    removed = remove_orphans(runner.client, is_live, scope=settings.runner_scope)
    sweep_stale_areas()  # /output mounts of attempts killed before they could clean up
    remove_stale_run_dirs(settings, is_live)
    return removed


def remove_stale_run_dirs(settings: Settings, is_live: Callable[[int], bool]) -> list[str]:
    """Work folders of attempts that died with their worker (runs/run-<submission>-*)."""
    import shutil

    removed: list[str] = []
    runs = settings.worker_cache_dir / "runs"
    if not runs.is_dir():
        return removed
    for folder in runs.iterdir():
        parts = folder.name.split("-")
        if len(parts) >= 3 and parts[0] == "run" and parts[1].isdigit() and not is_live(int(parts[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def refresh_stale_analyses(settings: Settings) -> list[int]:
    """Queue a new analysis where the newest one is out of date: a phase with a public/private split has
    closed (its statistics move to the private part), or its analysis settings changed (new readers' scores)
    and the analysis job could not be queued at the time."""
    from sqlalchemy import select

    from app.models import Phase, ScoreSubset
    from app.models._types import utcnow
    from app.queries.analyses import newest_analysis
    from app.queries.analysis_document import document_of
    from app.tasks.queues import enqueue_analysis

    resources = Resources(settings)
    refreshed: list[int] = []
    try:
        with resources.session() as session:
            for phase in session.scalars(select(Phase)).all():
                newest = newest_analysis(session, phase)
                if newest is None:
                    continue
                document = document_of(newest)
                closed = (phase.split_column is not None and phase.closes_at is not None
                          and phase.closes_at <= utcnow())
                if (closed and document.subset != ScoreSubset.PRIVATE) or document.settings != (phase.analysis or {}):
                    refreshed.append(phase.id)
        for phase_id in refreshed:
            enqueue_analysis(settings, phase_id)
    finally:
        resources.close()
    return refreshed
