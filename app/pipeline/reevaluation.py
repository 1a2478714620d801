"""One run of a re-evaluation: a succeeded submission run and scored on another version of its phase's test set.

The unit of work is a ReevaluationRun row (app/models/reevaluation.py), not the submission: a worker claims the row
with a compare-and-set (never more than the re-evaluation's budget running at once), renews the row's lease while
it works (leases.Heartbeat), and stores an EvaluationRun of the submission on that version with its per-case
outcomes and scores. The submission's state, its lease and its runs on other versions are never touched, so the
leaderboard of every other version stays as it was.

The steps are the attempt's own (app/pipeline/attempt.py): staging, the image load and the sandboxed run (batch or
per-case mode), collecting /output, scoring, the organiser's evaluator. A sharded phase runs unsharded here: one
container sees every case (the result is the same; docs/challenges.md). What the run wrote and its logs are stored
under the submission's folder for that version (`version_output`, `version_log`), never over its own run's.

Faults: the participant's (the image no longer loads, the container fails, outputs refused or not scorable on this
version) fail the row with the run's message and are never retried; the organiser's evaluator failing fails the row
too (retrying would not help); the platform's (engine, storage, database, a worker that died and let its lease
expire) put the row back to pending, retried up to the platform's fault budget like submissions.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from app import transitions
from app.models import CaseOutcome, EvaluationRun, Score
from app.models._types import utcnow
from app.models.reevaluation import Reevaluation, ReevaluationRun, ReevaluationRunState
from app.models.run import CaseStatus, ScoreSubset
from app.pipeline import stage_cache
from app.pipeline.evaluator import EvaluatorFailed, run_evaluator
from app.pipeline.leases import Heartbeat
from app.pipeline.per_case import run_cases
from app.pipeline.persist import LeaseLost
from app.pipeline.plan import AttemptPlan, plan_attempt
from app.pipeline.recovery import fault_words
from app.pipeline.run import SUBMISSION_LABEL, LoadedImage, load_image, run_container, worker_image_cache
from app.pipeline.scoring import Message, ScoringConfigurationError, ScoringResult, declared_output_files
from app.pipeline.sites import EnqueuePart, EnqueueResults, hand_to_sites, held_at_sites
from app.pipeline.steps import score_plan, stage_plan_inputs, stage_plan_truth
from app.resources import Resources
from app.storage.keys import EvaluatorLog, version_log, version_output
from evaluation.base import MetricResult
from runners.docker_runner import DockerRunner, ImageLoadError, RunnerError, RunResult
from runners.outputs import OutputListing, collect_outputs
from runners.sandbox import MIB

log = logging.getLogger(__name__)
STDERR_TAIL_LINES = 40
EVALUATOR_FAILED = "the organiser's evaluation container failed on this run (see the evaluator log)"
EXPIRED = "the worker running it stopped responding"


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds: what the run needs besides the plan."""

    row_id: int
    reevaluation_id: int
    owner: str


def run_reevaluation(resources: Resources, runner: DockerRunner, row_id: int, worker_name: str, *,
                     at_sites: tuple[EnqueuePart, EnqueueResults] | None = None) -> str:
    """Claim the row if it is pending and its re-evaluation's budget allows, run it, and return its new state
    ("skipped": not pending, or the budget is full; the next top-up queues it again). On a version held at sites the
    row is handed to the sites' parts instead (app/pipeline/site_reevaluation.py; at_sites: how to queue them)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:8]}"[-64:]
    with resources.session() as session:
        row = session.get(ReevaluationRun, row_id)
        if row is None or row.state != ReevaluationRunState.PENDING:
            return "skipped"
        reevaluation = row.reevaluation
        submission_id, test_set_id = row.submission_id, reevaluation.test_set_id
        if not transitions.claim_reevaluation_run(session, row_id, owner=owner, budget=reevaluation.budget,
                                                  lease_seconds=resources.settings.lease_seconds):
            if row.state == ReevaluationRunState.PENDING:  # over the budget: give the turn back
                transitions.forget_reevaluation_job(session, row_id)
            return "skipped"
        claimed = Claimed(row_id, reevaluation.id, owner)
    labels = {SUBMISSION_LABEL: str(submission_id)}  # run_container's label: a lost lease stops the container
    try:
        with resources.session() as session:
            plan = plan_attempt(session, submission_id, owner, test_set_id=test_set_id)
        plan = replace(plan, shards=1)  # a sharded phase runs unsharded here
        if held_at_sites(plan):
            if at_sites is None:
                raise RuntimeError("this worker cannot hand a run to sites")
            return str(hand_to_sites(resources, plan, *at_sites, reevaluation_run_id=row_id))
        with Heartbeat(resources, submission_id, owner, on_lost=lambda: runner.cleanup(labels),
                       renew_lease=lambda: _renew(resources, claimed),
                       what=f"re-evaluation run {row_id} (submission {submission_id})") as heartbeat:
            return _run(resources, runner, plan, claimed, worker_name, lost=lambda: heartbeat.lost)
    except LeaseLost:
        log.info("re-evaluation run %s: no longer this worker's; nothing written", row_id)
        return "stopped"
    except (ScoringConfigurationError, EvaluatorFailed) as exc:
        log.error("re-evaluation run %s: %s", row_id, exc)
        message = EVALUATOR_FAILED if isinstance(exc, EvaluatorFailed) else str(exc)
        return _finish(resources, claimed, done=False, message=message)
    except Exception as exc:
        log.exception("re-evaluation run %s: infrastructure fault", row_id)
        with resources.session() as session:
            transitions.release_reevaluation_run(session, row_id, owner=owner,
                                                 max_faults=resources.settings.max_infrastructure_faults,
                                                 message=f"the platform failed running it ({fault_words(exc)})")
        return "released"
    finally:
        stage_cache.release_all()


def _run(resources: Resources, runner: DockerRunner, plan: AttemptPlan, claimed: Claimed, worker_name: str, *,
         lost: Callable[[], bool]) -> str:
    store, cache = resources.store, resources.settings.worker_cache_dir
    runs = cache / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    # run-<submission>-...: the reconciler's sweep keeps it while the row's lease is live (app/pipeline/recovery.py)
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{plan.submission_id}-reeval-", dir=runs))
    image: LoadedImage | None = None
    try:
        input_dir = stage_plan_inputs(store, plan, cache_root=cache, max_bytes=resources.settings.stage_cache_bytes)
        try:
            image = load_image(store, runner, plan, work_dir, cache=worker_image_cache(resources.settings, runner))
        except ImageLoadError as exc:
            return _finish(resources, claimed, done=False, message=f"the image could not be loaded: {exc}")
        case_failures: dict[str, Message] | None = None
        usage: dict[str, tuple[float | None, float | None, float | None]] | None = None
        if plan.per_case:
            case_runs = run_cases(runner, plan, image, inputs_root=input_dir, work_dir=work_dir, lease_lost=lost)
            cap = plan.policy.log_bytes
            run_id = _record(resources, plan, claimed, worker_name, stdout=case_runs.log("stdout", cap),
                             stderr=case_runs.log("stderr", cap), exit_code=case_runs.exit_code,
                             wall=case_runs.wall_seconds, cpu=case_runs.cpu_seconds,
                             peak=case_runs.peak_memory_mb, load=image.load_seconds)
            listing = case_runs.listing(plan.policy.output_bytes)
            case_failures = case_runs.failures()
            usage = {r.case_key: (r.result.wall_seconds, r.result.cpu_seconds, r.peak_memory_mb)
                     for r in case_runs.runs}
        else:
            output_dir = work_dir / "output"
            output_dir.mkdir()
            result = run_container(runner, plan, image, input_dir=input_dir, output_dir=output_dir)
            if result.is_infrastructure_fault:
                raise RunnerError(result.failure_message() or "the container was stopped from outside")
            run_id = _record_result(resources, plan, claimed, worker_name, result, image.load_seconds)
            if not result.succeeded:
                return _finish(resources, claimed, done=False, run_id=run_id,
                               message=result.failure_message() or "the run failed")
            listing = collect_outputs(output_dir, plan.policy.output_bytes)
            if listing.too_many_files or listing.over_limit:
                why = ("the container wrote too many files to /output" if listing.too_many_files else
                       f"the outputs exceed this phase's limit of {plan.policy.output_bytes // MIB} MiB")
                return _finish(resources, claimed, done=False, run_id=run_id, message=why)
        _store_outputs(resources, plan, listing)
        scoring = _score(resources, runner, plan, listing, work_dir, input_dir, case_failures)
        return _store_scores(resources, plan, claimed, run_id, scoring, usage)
    finally:
        if image is not None:
            image.release()
        shutil.rmtree(work_dir, ignore_errors=True)


def _score(resources: Resources, runner: DockerRunner, plan: AttemptPlan, listing: OutputListing, work_dir: Path,
           input_dir: Path, case_failures: dict[str, Message] | None) -> ScoringResult:
    """The attempt's scoring (app/pipeline/scoring.py) on this version's ground truth, and the organiser's evaluator."""
    truth_dir = stage_plan_truth(resources.store, plan, cache_root=resources.settings.worker_cache_dir,
                                 max_bytes=resources.settings.stage_cache_bytes)
    scoring = score_plan(plan, listing, truth_dir, input_dir=input_dir, case_failures=case_failures)
    if scoring.ok and plan.evaluator:
        declared = declared_output_files(list(plan.case_metadata), plan.outputs, listing.files)
        result = run_evaluator(resources.store, runner, evaluator=plan.evaluator, submission_id=plan.submission_id,
                               cases=list(plan.case_metadata.items()),
                               prediction_files={k: v for k, v in listing.files.items() if k in declared},
                               truth_dir=truth_dir, work_dir=work_dir, policy=plan.policy)
        logs: list[tuple[EvaluatorLog, bytes]] = [("evaluator-stdout", result.stdout),
                                                  ("evaluator-stderr", result.stderr)]
        for stream, data in logs:
            resources.store.put_bytes(version_log(plan.submission_id, plan.test_set_id, stream), data)
        for name, value in result.aggregates.items():
            scoring.scores[name] = MetricResult(value=value, detail="organiser evaluation container")
        for case in scoring.cases:
            case.values.update(result.per_case.get(case.case_key, {}))
    return scoring


def _store_outputs(resources: Resources, plan: AttemptPlan, listing: OutputListing) -> None:
    prefix = version_output(plan.submission_id, plan.test_set_id, "")
    resources.store.delete_prefix(prefix)  # an earlier re-evaluation's outputs on this version
    for relative, path in listing.files.items():
        resources.store.put_file(version_output(plan.submission_id, plan.test_set_id, relative), path)


def _record_result(resources: Resources, plan: AttemptPlan, claimed: Claimed, worker_name: str, result: RunResult,
                   load: float | None) -> int:
    return _record(resources, plan, claimed, worker_name, stdout=result.stdout, stderr=result.stderr,
                   exit_code=result.exit_code, wall=result.wall_seconds, cpu=result.cpu_seconds,
                   peak=None if result.peak_memory_bytes is None else result.peak_memory_bytes / MIB, load=load)


def _record(resources: Resources, plan: AttemptPlan, claimed: Claimed, worker_name: str, *, stdout: bytes,
            stderr: bytes, exit_code: int | None, wall: float | None, cpu: float | None, peak: float | None,
            load: float | None) -> int:
    """The logs and a fresh EvaluationRun of the submission on this version (an earlier one on it is replaced)."""
    stdout_key = version_log(plan.submission_id, plan.test_set_id, "stdout")
    stderr_key = version_log(plan.submission_id, plan.test_set_id, "stderr")
    resources.store.put_bytes(stdout_key, stdout)
    resources.store.put_bytes(stderr_key, stderr)
    with resources.session() as session:
        _check(resources, session, claimed)
        session.execute(delete(EvaluationRun).where(EvaluationRun.submission_id == plan.submission_id,
                                                    EvaluationRun.test_set_id == plan.test_set_id))
        tail = "\n".join(stderr.decode("utf-8", "replace").rstrip().splitlines()[-STDERR_TAIL_LINES:])
        run = EvaluationRun(submission_id=plan.submission_id, test_set_id=plan.test_set_id, worker=worker_name,
                            finished_at=utcnow(), exit_code=exit_code, container_seconds=wall, cpu_seconds=cpu,
                            peak_memory_mb=peak, image_load_seconds=load, stdout_key=stdout_key,
                            stderr_key=stderr_key, stderr_tail=tail, notes=[], participant_notes=[])
        session.add(run)
        session.flush()
        return run.id


def _store_scores(resources: Resources, plan: AttemptPlan, claimed: Claimed, run_id: int, scoring: ScoringResult,
                  usage: dict[str, tuple[float | None, float | None, float | None]] | None) -> str:
    """Per-case outcomes, the scores and the row's end, in one transaction that checks the row's lease."""
    row_ids = {case.key: case.row_id for case in plan.cases}
    with resources.session() as session:
        _check(resources, session, claimed)
        run = session.get(EvaluationRun, run_id)
        if run is None:
            raise LeaseLost()
        session.execute(delete(CaseOutcome).where(CaseOutcome.run_id == run_id))
        session.execute(delete(Score).where(Score.run_id == run_id))
        for case in scoring.cases:
            wall, cpu, peak = (usage or {}).get(case.case_key, (None, None, None))
            session.add(CaseOutcome(run_id=run_id, case_id=row_ids[case.case_key], status=case.status,
                                    message=case.message, participant_message=case.safe_message,
                                    prediction=case.prediction, values=case.values, wall_seconds=wall,
                                    cpu_seconds=cpu, peak_memory_mb=peak))
        run.notes = scoring.note_texts()[:50]
        run.participant_notes = scoring.note_texts(safe=True)[:50]
        run.cases_valid = sum(1 for c in scoring.cases if c.status == CaseStatus.VALID)
        run.cases_invalid = len(scoring.cases) - run.cases_valid
        if scoring.ok:
            for subset, scores in [(ScoreSubset.ALL.value, scoring.scores), *scoring.subset_scores.items()]:
                for name, result in scores.items():
                    session.add(Score(run_id=run_id, metric=name, subset=subset, value=result.value,
                                      ci_low=result.ci_low, ci_high=result.ci_high, detail=result.detail))
            session.flush()
        message = None if scoring.ok else scoring.failure_message() or "the outputs could not be scored"
        if not transitions.finish_reevaluation_run(session, claimed.row_id, owner=claimed.owner, done=scoring.ok,
                                                   message=message, evaluation_run_id=run_id):
            raise LeaseLost()
    return ReevaluationRunState.DONE if scoring.ok else ReevaluationRunState.FAILED


def store_pooled_run(resources: Resources, plan: AttemptPlan, claimed: Claimed, worker_name: str, *, stdout: bytes,
                     stderr: bytes, exit_code: int | None, wall: float | None, cpu: float | None, peak: float | None,
                     load: float | None, scoring: ScoringResult,
                     usage: dict[str, tuple[float | None, float | None, float | None]]) -> str:
    """A row whose run was pooled from its sites (app/pipeline/site_reevaluation.py): its run on the version, the
    outcomes and scores, and the row's end."""
    run_id = _record(resources, plan, claimed, worker_name, stdout=stdout, stderr=stderr, exit_code=exit_code,
                     wall=wall, cpu=cpu, peak=peak, load=load)
    return _store_scores(resources, plan, claimed, run_id, scoring, usage)


def fail_claimed(resources: Resources, claimed: Claimed, message: str) -> str:
    """The row fails with the platform's words (a site's part failed: the container's fault, or the site's platform
    past its budget)."""
    return _finish(resources, claimed, done=False, message=message)


def _finish(resources: Resources, claimed: Claimed, *, done: bool, message: str | None,
            run_id: int | None = None) -> str:
    with resources.session() as session:
        if not transitions.finish_reevaluation_run(session, claimed.row_id, owner=claimed.owner, done=done,
                                                   message=message, evaluation_run_id=run_id):
            return "stopped"
    return ReevaluationRunState.DONE if done else ReevaluationRunState.FAILED


def _check(resources: Resources, session: Session, claimed: Claimed) -> None:
    """Inside the caller's transaction: this worker still holds the row (its lease renewed), or LeaseLost."""
    if not transitions.renew_reevaluation_run(session, claimed.row_id, owner=claimed.owner,
                                              lease_seconds=resources.settings.lease_seconds):
        raise LeaseLost()


def _renew(resources: Resources, claimed: Claimed) -> bool:
    with resources.session() as session:
        return transitions.renew_reevaluation_run(session, claimed.row_id, owner=claimed.owner,
                                                  lease_seconds=resources.settings.lease_seconds)


# ---- the reconciler's part (app/pipeline/recovery.py wires it) --------------------------------------------------

def reclaim_expired(resources: Resources) -> list[int]:
    """Running rows whose worker stopped renewing their lease (it died) go back to pending (or fail past the budget)."""
    with resources.session() as session:
        expired = session.scalars(select(ReevaluationRun.id).where(
            ReevaluationRun.state == ReevaluationRunState.RUNNING, ReevaluationRun.lease_expires_at < utcnow())).all()
        return [row_id for row_id in expired
                if transitions.release_reevaluation_run(session, row_id, owner=None, message=EXPIRED,
                                                        max_faults=resources.settings.max_infrastructure_faults)]


def active_reevaluations(resources: Resources) -> list[int]:
    """Re-evaluations with a row still pending or running."""
    with resources.session() as session:
        return list(session.scalars(select(Reevaluation.id).distinct().join(ReevaluationRun).where(
            ReevaluationRun.state.in_((ReevaluationRunState.PENDING, ReevaluationRunState.RUNNING)))
            .order_by(Reevaluation.id)))


def top_up(resources: Resources, reevaluation_id: int, enqueue: Callable[[int], None]) -> list[int]:
    """Queue the re-evaluation's next rows while its budget allows (after a row ended, and in every reconciler
    round); returns the rows queued. A row whose job could not be queued gets its turn back."""
    with resources.session() as session:
        reevaluation = session.get(Reevaluation, reevaluation_id)
        if reevaluation is None:
            return []
        turns = transitions.take_reevaluation_turns(session, reevaluation_id, reevaluation.budget)
    queued = []
    for row_id in turns:
        try:
            enqueue(row_id)
            queued.append(row_id)
        except Exception:  # noqa: BLE001 - the next reconciler round tries again
            log.warning("re-evaluation run %s: not queued", row_id, exc_info=True)
            with resources.session() as session:
                transitions.forget_reevaluation_job(session, row_id)
    return queued


def reevaluation_of(resources: Resources, row_id: int) -> int | None:
    with resources.session() as session:
        return session.scalar(select(ReevaluationRun.reevaluation_id).where(ReevaluationRun.id == row_id))


def reconcile_reevaluations(resources: Resources, *, enqueue: Callable[[int], None],
                            job_pending: Callable[[int], bool]) -> list[int]:
    """The reconciler's round for re-evaluations: expired leases back to pending, turns whose job was lost (Redis
    restarted) given back, then each active re-evaluation topped up to its budget. Returns the rows queued."""
    reclaim_expired(resources)
    with resources.session() as session:
        waiting = session.scalars(select(ReevaluationRun.id).where(
            ReevaluationRun.state == ReevaluationRunState.PENDING, ReevaluationRun.queued_at.is_not(None))).all()
    for row_id in waiting:
        if not job_pending(row_id):
            with resources.session() as session:
                transitions.forget_reevaluation_job(session, row_id)
    queued: list[int] = []
    for reevaluation_id in active_reevaluations(resources):
        queued += top_up(resources, reevaluation_id, enqueue)
    return queued


def holds_live_reevaluation(resources: Resources, submission_id: int) -> bool:
    """Whether a re-evaluation run of the submission holds a live lease (its containers and work folder are not
    orphans)."""
    with resources.session() as session:
        return session.scalar(select(ReevaluationRun.id).where(
            ReevaluationRun.submission_id == submission_id, ReevaluationRun.state == ReevaluationRunState.RUNNING,
            or_(ReevaluationRun.lease_expires_at > utcnow(),
                ReevaluationRun.claimed_by == transitions.SITES_OWNER)).limit(1)) is not None  # sites: parts' leases
