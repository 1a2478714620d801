"""Job functions, run by RQ in the worker. They take ids, build their own resources and close them before returning."""

from __future__ import annotations

import logging
import os
import socket

from app.config import Settings
from app.logs import bound
from app.models import Submission
from app.pipeline import stage_cache
from app.pipeline.analysis import analyse_phase as compute_phase_analysis
from app.pipeline.attempt import run_attempt, run_shard_job
from app.resources import Resources
from app.tasks.queues import (
    analysis_started,
    enqueue_analysis,
    enqueue_site_part,
    enqueue_site_results,
    gpu_lookup,
    make_shard_enqueuer,
)
from app.transitions import AttemptOutcome
from runners.docker_runner import DockerRunner

log = logging.getLogger(__name__)


def run_submission(submission_id: int) -> str:
    with bound(submission_id=submission_id):  # on every line the attempt logs (docs/operations.md, "Logs")
        return _run_submission(submission_id)


def _run_submission(submission_id: int) -> str:
    settings = Settings.from_env()
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    try:
        outcome = run_attempt(resources, runner, submission_id, worker_name=worker_name(),
                              enqueue_shard=make_shard_enqueuer(settings, gpu_lookup(resources)),
                              at_sites=(lambda site, part: enqueue_site_part(settings, site, part),
                                        lambda submission, row: enqueue_site_results(settings, submission, row)))
        log.info("submission %s: %s", submission_id, outcome)
        if outcome == AttemptOutcome.SUCCEEDED:
            _analyse_phase_of(settings, resources, submission_id)
        return outcome.value
    finally:
        runner.client.close()
        resources.close()


def _analyse_phase_of(settings: Settings, resources: Resources, submission_id: int) -> None:
    """A submission scored: its phase's statistics follow (coalesced per phase)."""
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        phase_id = submission.phase_id if submission is not None else None
    if phase_id is not None:
        enqueue_analysis(settings, phase_id)


def run_shard(submission_id: int, shard: int) -> str:
    """Help with a sharded run: one shard of a running submission, if nobody took it yet (app/pipeline/shards.py)."""
    with bound(submission_id=submission_id, shard=shard):
        settings = Settings.from_env()
        resources = Resources(settings)
        runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
        try:
            return run_shard_job(resources, runner, submission_id, shard, worker_name())
        finally:
            runner.client.close()
            resources.close()


def run_reevaluation(row_id: int) -> str:
    """One submission of a re-evaluation, run on the re-evaluation's test set version (app/pipeline/reevaluation.py);
    then the re-evaluation's next rows are queued while its budget allows."""
    from app.pipeline.reevaluation import run_reevaluation as run_row

    with bound(reevaluation_run=row_id):
        settings = Settings.from_env()
        resources = Resources(settings)
        runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
        try:
            outcome = run_row(resources, runner, row_id, worker_name(),
                              at_sites=(lambda site, part: enqueue_site_part(settings, site, part),
                                        lambda submission, row: enqueue_site_results(settings, submission, row)))
            log.info("re-evaluation run %s: %s", row_id, outcome)
            if outcome == "done":
                _analyse_version(settings, resources, row_id)
            _top_up_reevaluation(settings, resources, row_id)
            return outcome
        finally:
            runner.client.close()
            resources.close()


def _top_up_reevaluation(settings: Settings, resources: Resources, row_id: int) -> None:
    """Queue the re-evaluation's next rows while its budget allows (one of its rows just ended or was handed on)."""
    from app.pipeline.reevaluation import reevaluation_of, top_up
    from app.tasks.queues import make_reevaluation_enqueuer, reevaluation_gpu_lookup

    reevaluation_id = reevaluation_of(resources, row_id)
    if reevaluation_id is not None:
        top_up(resources, reevaluation_id, make_reevaluation_enqueuer(settings, reevaluation_gpu_lookup(resources)))


def _analyse_version(settings: Settings, resources: Resources, row_id: int) -> None:
    """A re-evaluation row scored on its version: that version's analysis follows (coalesced per version)."""
    from app.queries.test_set_versions import reevaluation_target

    with resources.session() as session:
        target = reevaluation_target(session, row_id)
    if target is not None:
        try:
            enqueue_analysis(settings, target[0], test_set_id=target[1])
        except Exception:  # noqa: BLE001 - the next scored run on the version asks again
            log.warning("re-evaluation run %s: its version's analysis not queued", row_id, exc_info=True)


def run_site_part(part_id: int) -> str:
    """A site worker's job (`podium worker --site NAME`): its part of a submission (app/pipeline/site_part.py)."""
    from app.pipeline.site_part import run_site_part as run_part

    settings = Settings.from_env()
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    try:
        with bound(site_part=part_id, site=settings.site_name):
            return run_part(resources, runner, part_id, worker_name(),
                            enqueue_results=lambda submission, row: enqueue_site_results(settings, submission, row))
    finally:
        runner.client.close()
        resources.close()


def pool_site_results(submission_id: int, reevaluation_run_id: int | None = None) -> str:
    """A central job: pool a run's site parts once every one is final (app/pipeline/sites.py): the submission's own,
    or one of its re-evaluation runs (app/pipeline/site_reevaluation.py)."""
    from app.pipeline.site_reevaluation import pool_reevaluation_at_sites
    from app.pipeline.sites import pool_site_results as pool

    settings = Settings.from_env()
    resources = Resources(settings)
    try:
        with bound(submission_id=submission_id):
            if reevaluation_run_id is not None:
                state = pool_reevaluation_at_sites(resources, reevaluation_run_id, worker_name())
                log.info("re-evaluation run %s: %s", reevaluation_run_id, state)
                _top_up_reevaluation(settings, resources, reevaluation_run_id)
                return state
            outcome = pool(resources, submission_id, worker_name())
            log.info("submission %s: %s", submission_id, outcome)
            if outcome == AttemptOutcome.SUCCEEDED:
                _analyse_phase_of(settings, resources, submission_id)
            return outcome.value
    finally:
        resources.close()


def analyse_phase(phase_id: int, test_set_id: int | None = None) -> str:
    """Recompute a phase's leaderboard statistics (it needs the ground truth, so it runs here); test_set_id: on
    another version of its test set than the one it ranks on (a re-evaluation's)."""
    settings = Settings.from_env()
    # Before reading: a submission scored from now on queues another.
    analysis_started(settings, phase_id, test_set_id=test_set_id)
    resources = Resources(settings)
    try:
        with bound(phase_id=phase_id):
            analysis = compute_phase_analysis(resources, phase_id, test_set_id=test_set_id)
        return "unchanged" if analysis is None else f"analysis {analysis.id}"
    finally:
        stage_cache.release_all()  # the ground truth it staged may be evicted now
        resources.close()


def import_codabench_bundle(token: str) -> str:
    """Convert, build and apply a Codabench bundle uploaded on the site (app/tasks/codabench_import.py)."""
    from app.tasks.codabench_import import run_queued_import

    settings = Settings.from_env()
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    try:
        return run_queued_import(resources, runner, token)
    finally:
        runner.client.close()
        resources.close()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
