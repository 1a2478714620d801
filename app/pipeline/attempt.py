"""One attempt at a queued submission: stage, run, collect, score, persist (one module each).

The database is the source of truth. The attempt takes a lease (queued -> running, compare-and-set),
renews it with a heartbeat while it works, and every later write checks that it still holds the lease:
a job delivered twice, a zombie attempt or a cancel does no harm (a cancel also stops the container).
The database session is closed while the container runs. A participant's fault ends the submission at
once; an infrastructure fault sends it back to the queue with a backoff (see app.pipeline.recovery).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from app import transitions
from app.models import ShardState, Submission, SubmissionShard, SubmissionState
from app.pipeline import persist, shards, sites, stage_cache
from app.pipeline.collect import collect
from app.pipeline.evaluator import PARTICIPANT_MESSAGE as EVALUATOR_PARTICIPANT_MESSAGE
from app.pipeline.evaluator import EvaluatorFailed, run_evaluator
from app.pipeline.leases import Heartbeat, acquire
from app.pipeline.per_case import run_cases
from app.pipeline.persist import LeaseLost
from app.pipeline.plan import AttemptPlan, plan_attempt
from app.pipeline.recovery import after_infrastructure_fault, fault_words
from app.pipeline.run import LoadedImage, load_image, run_container, stop_containers, worker_image_cache
from app.pipeline.scoring import (
    Message,
    ScoringConfigurationError,
    ScoringResult,
    declared_output_files,
)
from app.pipeline.steps import score_plan, stage_plan_inputs, stage_plan_truth
from app.resources import Resources
from app.storage import keys
from app.transitions import AttemptOutcome
from evaluation.base import MetricResult
from runners.docker_runner import DockerRunner, ImageLoadError, RunnerError
from runners.outputs import OutputListing

log = logging.getLogger(__name__)


def run_attempt(resources: Resources, runner: DockerRunner, submission_id: int, worker_name: str, *,
                enqueue_shard: Callable[[int, int], None] | None = None,
                at_sites: tuple[sites.EnqueuePart, sites.EnqueueResults] | None = None) -> AttemptOutcome:
    """Run and score a queued submission; returns how the attempt ended. enqueue_shard(submission, shard) asks other
    workers to help with a sharded run (app/pipeline/shards.py); without it this attempt runs every shard. at_sites:
    how to queue a site's part and the pooling of the parts, for a test set held at sites (app/pipeline/sites.py)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:12]}"[-64:]
    if not acquire(resources, submission_id, owner):
        return AttemptOutcome.SKIPPED
    with Heartbeat(resources, submission_id, owner,
                   on_lost=lambda: stop_containers(runner, submission_id)) as heartbeat:
        try:
            with resources.session() as session:
                plan = plan_attempt(session, submission_id, owner)
            if sites.held_at_sites(plan):
                if at_sites is None:
                    raise RuntimeError("this worker cannot hand a run to sites")
                return sites.hand_to_sites(resources, plan, *at_sites)
            return _attempt(resources, runner, plan, worker_name, lease_lost=lambda: heartbeat.lost,
                            enqueue_shard=enqueue_shard)
        except LeaseLost:
            log.info("submission %s: stopped: cancelled, or another attempt holds it", submission_id)
            return AttemptOutcome.STOPPED
        except ScoringConfigurationError as exc:
            log.error("submission %s: the phase cannot be scored: %s", submission_id, exc)
            return _after_fault(resources, submission_id, owner, str(exc), retry=False)
        except Exception as exc:
            log.exception("submission %s: infrastructure fault", submission_id)
            return _after_fault(resources, submission_id, owner, fault_words(exc))


def _after_fault(resources: Resources, submission_id: int, owner: str, reason: str, *, retry: bool = True
                 ) -> AttemptOutcome:
    outcome = after_infrastructure_fault(resources, submission_id, owner=owner, reason=reason, retry=retry)
    if outcome.startswith("requeued"):
        return AttemptOutcome.REQUEUED
    return AttemptOutcome.FAILED if outcome == "failed" else AttemptOutcome.STOPPED


def _attempt(resources: Resources, runner: DockerRunner, plan: AttemptPlan, worker_name: str, *,
             lease_lost: Callable[[], bool] = lambda: False,
             enqueue_shard: Callable[[int, int], None] | None = None) -> AttemptOutcome:
    stop_containers(runner, plan.submission_id)  # a dead attempt's container, if any
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{plan.submission_id}-",
                                     dir=_ensure(resources.settings.worker_cache_dir / "runs")))
    image: LoadedImage | None = None
    store = resources.store
    try:
        input_dir = stage_plan_inputs(store, plan, cache_root=resources.settings.worker_cache_dir,
                                      max_bytes=resources.settings.stage_cache_bytes)
        try:
            image = load_image(store, runner, plan, work_dir, cache=worker_image_cache(resources.settings, runner))
        except ImageLoadError as exc:
            return persist.fail(resources, plan, f"the image could not be loaded: {exc}")
        if plan.per_case:
            return _per_case(resources, runner, plan, image, input_dir, work_dir, worker_name, lease_lost)
        if plan.shards > 1:
            return _sharded(resources, runner, plan, image, input_dir, work_dir, worker_name, lease_lost,
                            enqueue_shard)
        output_dir = work_dir / "output"
        output_dir.mkdir()
        result = run_container(runner, plan, image, input_dir=input_dir, output_dir=output_dir)
        if result.is_infrastructure_fault:  # stopped by something other than Podium: never the participant's
            raise RunnerError(result.failure_message() or "the container was stopped from outside")
        run_id = persist.record_run(resources, plan, result, worker_name, image_load_seconds=image.load_seconds)
        if not result.succeeded:
            return persist.fail(resources, plan, result.failure_message(include_output=False) or "the run failed",
                                output=result.last_stderr_line() if result.exit_code not in (None, 0) else None)
        collected = collect(store, plan, output_dir)
        if collected.listing is None:
            return persist.fail(resources, plan, collected.refusal or "the outputs could not be collected")
        return _score(resources, runner, plan, run_id, collected.listing, work_dir, input_dir=input_dir)
    finally:
        if image is not None:
            image.release()  # only what this load added: never an image or tag the engine had before
        shutil.rmtree(work_dir, ignore_errors=True)
        stage_cache.release_all()  # the staged folders it used may be evicted now


def _sharded(resources: Resources, runner: DockerRunner, plan: AttemptPlan, image: LoadedImage, input_dir: Path,
             work_dir: Path, worker_name: str, lease_lost: Callable[[], bool],
             enqueue_shard: Callable[[int, int], None] | None) -> AttemptOutcome:
    """A batch run split into shards run by several workers (app/pipeline/shards.py), scored as one run."""
    rows = shards.run_sharded(resources, runner, plan, image, input_dir, work_dir, worker_name,
                              enqueue_shard=enqueue_shard, lease_lost=lease_lost)
    run_id = persist.record_shard_runs(resources, plan, rows, worker_name, image_load_seconds=image.load_seconds)
    failed = next((row for row in rows if row.state == ShardState.FAILED), None)
    if failed is not None:  # the participant's fault (the platform's raised ShardsFailed above)
        return persist.fail(resources, plan, f"{shards.describe(plan, failed.shard)}: {failed.participant_message}",
                            output=failed.output)
    return _score(resources, runner, plan, run_id, shards.merged_outputs(resources, plan, work_dir), work_dir,
                  input_dir=input_dir)


def run_shard_job(resources: Resources, runner: DockerRunner, submission_id: int, shard: int,
                  worker_name: str) -> str:
    """Another worker's help with a sharded run: claim the shard if nobody has, and run it; "skipped" otherwise (the
    coordinator, or another worker, took it; or the submission is no longer running)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:8]}"[-64:]
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        row = session.scalar(select(SubmissionShard).where(SubmissionShard.submission_id == submission_id,
                                                           SubmissionShard.shard == shard))
        if submission is None or submission.state != SubmissionState.RUNNING or row is None:
            return "skipped"
        if not transitions.claim_shard(session, row.id, owner=owner, lease_seconds=resources.settings.lease_seconds):
            return "skipped"
        shard_id = row.id
        plan = plan_attempt(session, submission_id, owner)
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{submission_id}-shard-",
                                     dir=_ensure(resources.settings.worker_cache_dir / "runs")))
    image: LoadedImage | None = None
    try:
        try:
            input_dir = stage_plan_inputs(resources.store, plan, cache_root=resources.settings.worker_cache_dir,
                                          max_bytes=resources.settings.stage_cache_bytes)  # a shard: batch mode
            image = load_image(resources.store, runner, plan, work_dir,
                               cache=worker_image_cache(resources.settings, runner))
        except Exception as exc:  # ImageLoadError too: the coordinator, which loaded it, decides whose fault it is
            log.warning("submission %s: shard %s could not start here: %s", submission_id, shard, exc)
            with resources.session() as session:
                transitions.release_shard(session, shard_id, owner=owner,
                                          max_faults=resources.settings.max_infrastructure_faults,
                                          message="the worker could not prepare the run")
            return "released"
        return shards.run_claimed_shard(resources, runner, plan, shard_id, shard, owner, image, input_dir, work_dir)
    finally:
        if image is not None:
            image.release()
        shutil.rmtree(work_dir, ignore_errors=True)
        stage_cache.release_all()


def _per_case(resources: Resources, runner: DockerRunner, plan: AttemptPlan, image: LoadedImage, inputs_root: Path,
              work_dir: Path, worker_name: str, lease_lost: Callable[[], bool]) -> AttemptOutcome:
    """Per-case mode (app/pipeline/per_case.py): one run per case; a case whose run failed is a per-case failure
    under the phase's missing-case policy, not the submission's end."""
    runs = run_cases(runner, plan, image, inputs_root=inputs_root, work_dir=work_dir, lease_lost=lease_lost)
    run_id = persist.record_case_runs(resources, plan, runs, worker_name, image_load_seconds=image.load_seconds)
    listing = runs.listing(plan.policy.output_bytes)
    for relative, path in listing.files.items():
        resources.store.put_file(keys.submission_output(plan.submission_id, relative), path)
    usage = {run.case_key: persist.CaseUsage(run.result.wall_seconds, run.result.cpu_seconds, run.peak_memory_mb)
             for run in runs.runs}
    return _score(resources, runner, plan, run_id, listing, work_dir, case_failures=runs.failures(), usage=usage,
                  input_dir=inputs_root)


def _score(resources: Resources, runner: DockerRunner, plan: AttemptPlan, run_id: int, listing: OutputListing,
           work_dir: Path, *, case_failures: dict[str, Message] | None = None,
           usage: dict[str, persist.CaseUsage] | None = None, input_dir: Path | None = None) -> AttemptOutcome:
    """Score the collected outputs (and run the organiser's evaluator), then store the outcome. input_dir: the
    staged inputs (an image output's same_grid_as is checked against its case's input image there)."""
    store = resources.store
    persist.begin_scoring(resources, plan)
    truth_dir = stage_plan_truth(store, plan, cache_root=resources.settings.worker_cache_dir,
                                 max_bytes=resources.settings.stage_cache_bytes)
    scoring = score_plan(plan, listing, truth_dir, input_dir=input_dir, case_failures=case_failures)
    if scoring.ok and plan.evaluator:
        try:
            _add_evaluator_scores(resources, runner, plan, scoring, listing.files, truth_dir, work_dir)
        except EvaluatorFailed as exc:
            log.error("submission %s: the organiser's evaluator failed: %s", plan.submission_id, exc)
            store.put_bytes(keys.submission_log(plan.submission_id, "evaluator-error"), str(exc).encode())
            return persist.fail(resources, plan, EVALUATOR_PARTICIPANT_MESSAGE, infrastructure=True)
    return persist.store_scores(resources, plan, run_id, scoring, usage)


def _add_evaluator_scores(resources: Resources, runner: DockerRunner, plan: AttemptPlan, scoring: ScoringResult,
                          output_files: dict[str, Path], truth_dir: Path, work_dir: Path) -> None:
    """Run the organiser's evaluation container and merge its aggregates and per-case values."""
    declared = declared_output_files(list(plan.case_metadata), plan.outputs, output_files)  # image folders' files too
    result = run_evaluator(resources.store, runner, evaluator=plan.evaluator or {}, submission_id=plan.submission_id,
                           cases=list(plan.case_metadata.items()),
                           prediction_files={k: v for k, v in output_files.items() if k in declared},
                           truth_dir=truth_dir, work_dir=work_dir, policy=plan.policy)
    resources.store.put_bytes(keys.submission_log(plan.submission_id, "evaluator-stdout"), result.stdout)
    resources.store.put_bytes(keys.submission_log(plan.submission_id, "evaluator-stderr"), result.stderr)
    for name, value in result.aggregates.items():
        scoring.scores[name] = MetricResult(value=value, detail="organiser evaluation container")
    for case in scoring.cases:
        case.values.update(result.per_case.get(case.case_key, {}))


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
