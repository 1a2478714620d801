"""Evaluate one queued submission: run its container in the sandbox, then score its outputs.

The database is the source of truth. The attempt takes a lease (QUEUED → RUNNING, compare-and-set),
renews it with a heartbeat while it works, and every later write checks that it still holds the lease:
a job delivered twice, or a zombie attempt, does no harm. The session is closed while the container
runs. A participant's fault ends the submission at once; an infrastructure fault sends it back to the
queue with a backoff (see app.pipeline.recovery).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.challenge_yaml import Interface
from app.models import CaseOutcome, EvaluationRun, Score, Submission, SubmissionState
from app.models._types import utcnow
from app.pipeline.evaluator import PARTICIPANT_MESSAGE as EVALUATOR_PARTICIPANT_MESSAGE
from app.pipeline.evaluator import EvaluatorFailed, run_evaluator
from app.pipeline.leases import Heartbeat, acquire
from app.pipeline.recovery import after_infrastructure_fault
from app.pipeline.scoring import ScoringConfigurationError, ScoringResult, score_outputs
from app.pipeline.staging import stage_ground_truth, stage_inputs
from app.resources import Resources
from app.transitions import transition
from evaluation.base import MetricResult
from runners.docker_runner import DockerRunner, ImageLoadError, RunResult
from runners.outputs import collect_outputs, read_output_bytes
from runners.sandbox import SandboxPolicy

log = logging.getLogger(__name__)
S = SubmissionState


class LeaseLost(RuntimeError):
    """Another attempt holds the submission now; this one must stop without writing."""


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything the long part of an evaluation needs, read from the database up front."""

    submission_id: int
    owner: str
    upload_key: str
    image_tags: list[str]
    test_set_id: int
    storage_prefix: str
    content_hash: str
    cases: list[tuple[int, str, dict]]  # (case row id, case key, inputs)
    inputs: list[Interface]
    outputs: list[Interface]
    ground_truth: list[Interface]
    metrics: list[dict[str, str]]
    evaluator: dict | None
    case_metadata: dict[str, dict[str, str]]
    missing_cases: str
    split_column: str | None
    policy: SandboxPolicy


def evaluate_submission(resources: Resources, runner: DockerRunner, submission_id: int, worker_name: str) -> str:
    """Run and score a queued submission; returns what happened (for logs)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:12]}"[-64:]
    if not acquire(resources, submission_id, owner):
        return "skipped: not queued, not due yet, or taken by another worker"
    with Heartbeat(resources, submission_id, owner):
        try:
            with resources.session() as session:
                plan = _plan(session, submission_id, owner)
            return _attempt(resources, runner, plan, worker_name)
        except LeaseLost:
            return "stopped: another attempt holds the submission"
        except ScoringConfigurationError as exc:
            log.error("submission %s: the phase cannot be scored: %s", submission_id, exc)
            return after_infrastructure_fault(resources, submission_id, owner=owner, reason=str(exc), retry=False)
        except Exception as exc:
            log.exception("submission %s: infrastructure fault", submission_id)
            return after_infrastructure_fault(resources, submission_id, owner=owner, reason=_describe(exc))


def _attempt(resources: Resources, runner: DockerRunner, plan: EvaluationPlan, worker_name: str) -> str:
    submission_id = plan.submission_id
    runner.cleanup({"podium.submission": str(submission_id)})  # a dead attempt's container, if any
    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{submission_id}-",
                                     dir=_ensure(resources.settings.worker_cache_dir / "runs")))
    image_id: str | None = None
    archive_tags_added: list[str] = []
    try:
        store = resources.store
        cache = resources.settings.worker_cache_dir
        input_dir = stage_inputs(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                                 cases=[(key, inputs) for _, key, inputs in plan.cases],
                                 input_paths=[i.relative_path for i in plan.inputs], cache_root=cache)
        archive = work_dir / "image.tar"
        store.download_to(plan.upload_key, archive)
        archive_tags_added = [t for t in plan.image_tags if t not in runner.existing_tags(plan.image_tags)]
        try:
            image_id = runner.load_image(archive, label=str(submission_id))
        except ImageLoadError as exc:
            return _fail(resources, plan, S.RUNNING, f"the image could not be loaded: {exc}")
        archive.unlink()
        output_dir = work_dir / "output"
        output_dir.mkdir()
        result = runner.run(image_id, input_dir=input_dir, output_dir=output_dir, policy=plan.policy,
                            name=f"podium-{submission_id}-{uuid.uuid4().hex[:8]}",
                            labels={"podium.submission": str(submission_id)})
        run_id = _record_run(resources, plan, result, worker_name)
        if not result.succeeded:
            return _fail(resources, plan, S.RUNNING, result.failure_message() or "the run failed")
        listing = collect_outputs(output_dir, plan.policy.output_bytes)
        if listing.too_many_files:
            return _fail(resources, plan, S.RUNNING, "the container wrote too many files to /output")
        if listing.over_limit:
            return _fail(resources, plan, S.RUNNING,
                         f"the outputs exceed this phase's limit of {plan.policy.output_bytes // 1024**2} MiB")
        for relative, path in listing.files.items():
            store.put_file(f"submissions/{submission_id}/outputs/{relative}", path)

        with resources.session() as session:
            if not transition(session, submission_id, S.RUNNING, S.SCORING, owner=plan.owner):
                raise LeaseLost()
        truth_dir = stage_ground_truth(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                                       case_ids=[key for _, key, _ in plan.cases],
                                       truth_paths=[g.relative_path for g in plan.ground_truth], cache_root=cache)
        scoring = score_outputs(case_keys=[key for _, key, _ in plan.cases], outputs=plan.outputs,
                                ground_truth=plan.ground_truth, metrics=plan.metrics,
                                output_files=listing.files, rejected_files=listing.rejected,
                                truth_dir=truth_dir, read_output=read_output_bytes,
                                missing_cases=plan.missing_cases, metadata=plan.case_metadata,
                                subsets=_split(plan))
        if scoring.ok and plan.evaluator:
            try:
                _add_evaluator_scores(resources, runner, plan, scoring, listing.files, truth_dir, work_dir)
            except EvaluatorFailed as exc:
                log.error("submission %s: the organiser's evaluator failed: %s", submission_id, exc)
                store.put_bytes(f"submissions/{submission_id}/logs/evaluator-error.txt", str(exc).encode())
                return _fail(resources, plan, S.SCORING, EVALUATOR_PARTICIPANT_MESSAGE, infrastructure=True)
        return _store_scores(resources, plan, run_id, scoring)
    finally:
        if image_id is not None:
            try:
                # Only what this load added: never an image or tag the engine had before.
                runner.release_image(str(submission_id))
                runner.untag(archive_tags_added)
            except Exception:  # noqa: BLE001 - cleanup must not hide the real outcome
                log.warning("could not remove the image of submission %s", submission_id, exc_info=True)
        shutil.rmtree(work_dir, ignore_errors=True)


def _add_evaluator_scores(resources: Resources, runner: DockerRunner, plan: EvaluationPlan, scoring: ScoringResult,
                          output_files: dict[str, Path], truth_dir: Path, work_dir: Path) -> None:
    """Run the organiser's evaluation container and merge its aggregates and per-case values."""
    declared = {f"{case}/{o.relative_path}" for case in plan.case_metadata for o in plan.outputs}
    result = run_evaluator(resources.store, runner, evaluator=plan.evaluator or {}, submission_id=plan.submission_id,
                           cases=list(plan.case_metadata.items()),
                           prediction_files={k: v for k, v in output_files.items() if k in declared},
                           truth_dir=truth_dir, work_dir=work_dir, policy=plan.policy)
    prefix = f"submissions/{plan.submission_id}/logs"
    resources.store.put_bytes(f"{prefix}/evaluator-stdout.txt", result.stdout)
    resources.store.put_bytes(f"{prefix}/evaluator-stderr.txt", result.stderr)
    for name, value in result.aggregates.items():
        scoring.scores[name] = MetricResult(value=value, detail="organiser evaluation container")
    for case in scoring.cases:
        case.values.update(result.per_case.get(case.case_key, {}))


def _plan(session: Session, submission_id: int, owner: str) -> EvaluationPlan:
    submission = session.get(Submission, submission_id)
    phase = submission.phase
    test_set = phase.current_test_set
    if test_set is None:
        raise ScoringConfigurationError(f"phase {phase.slug} has no test set")
    return EvaluationPlan(
        submission_id=submission_id,
        owner=owner,
        upload_key=submission.upload_key,
        image_tags=submission.image_tags.split(),
        test_set_id=test_set.id,
        storage_prefix=test_set.storage_prefix,
        content_hash=test_set.content_hash,
        cases=[(c.id, c.case_key, c.inputs) for c in test_set.cases],
        inputs=[Interface.model_validate(i) for i in phase.inputs],
        outputs=[Interface.model_validate(o) for o in phase.outputs],
        ground_truth=[Interface.model_validate(g) for g in phase.ground_truth],
        metrics=list(phase.metrics),
        evaluator=phase.evaluator,
        case_metadata={c.case_key: c.meta for c in test_set.cases},
        missing_cases=phase.missing_cases,
        split_column=phase.split_column,
        policy=SandboxPolicy.from_limits(time_limit_seconds=phase.time_limit_seconds, memory_mb=phase.memory_mb,
                                         cpus=phase.cpus, pids=phase.pids_limit, tmp_mb=phase.tmp_mb,
                                         output_mb=phase.output_mb, log_kb=phase.log_kb),
    )


def _split(plan: EvaluationPlan) -> dict[str, set[str]] | None:
    if plan.split_column is None:
        return None
    subsets: dict[str, set[str]] = {"public": set(), "private": set()}
    for case, meta in plan.case_metadata.items():
        subsets.setdefault(meta.get(plan.split_column, ""), set()).add(case)
    return {name: members for name, members in subsets.items() if name in ("public", "private")}


def _check_lease(session: Session, plan: EvaluationPlan) -> None:
    """Inside a transaction: fail unless this attempt still holds the submission."""
    result = session.execute(
        update(Submission)
        .where(Submission.id == plan.submission_id, Submission.lease_owner == plan.owner,
               Submission.state.in_((S.RUNNING, S.SCORING)))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost()


def _record_run(resources: Resources, plan: EvaluationPlan, result: RunResult, worker_name: str) -> int:
    """Store the logs and (re)create the run row for this submission and test set: idempotent."""
    store = resources.store
    prefix = f"submissions/{plan.submission_id}/logs"
    store.put_bytes(f"{prefix}/stdout.txt", result.stdout)
    store.put_bytes(f"{prefix}/stderr.txt", result.stderr)
    with resources.session() as session:
        _check_lease(session, plan)
        session.execute(delete(EvaluationRun).where(EvaluationRun.submission_id == plan.submission_id,
                                                    EvaluationRun.test_set_id == plan.test_set_id))
        run = EvaluationRun(submission_id=plan.submission_id, test_set_id=plan.test_set_id, worker=worker_name,
                            finished_at=utcnow(), exit_code=result.exit_code,
                            container_seconds=result.wall_seconds, stdout_key=f"{prefix}/stdout.txt",
                            stderr_key=f"{prefix}/stderr.txt",
                            stderr_tail=_tail(result.stderr.decode("utf-8", "replace")))
        session.add(run)
        session.flush()
        return run.id


def _store_scores(resources: Resources, plan: EvaluationPlan, run_id: int, scoring: ScoringResult) -> str:
    """Per-case outcomes and scores, and the final state, in one transaction that checks the lease."""
    case_ids = {key: row_id for row_id, key, _ in plan.cases}
    with resources.session() as session:
        _check_lease(session, plan)
        run = session.get(EvaluationRun, run_id)
        session.execute(delete(CaseOutcome).where(CaseOutcome.run_id == run_id))
        session.execute(delete(Score).where(Score.run_id == run_id))
        for case in scoring.cases:
            session.add(CaseOutcome(run_id=run_id, case_id=case_ids[case.case_key], status=case.status,
                                    message=case.message, prediction=case.prediction, values=case.values))
        run.notes = scoring.notes[:50]
        run.cases_valid = sum(1 for c in scoring.cases if c.status == "valid")
        run.cases_invalid = len(scoring.cases) - run.cases_valid
        release = {"lease_owner": None, "lease_expires_at": None}
        if not scoring.ok:
            transition(session, plan.submission_id, S.SCORING, S.FAILED, owner=plan.owner, commit=False,
                       failure_message=scoring.failure_message(), **release)
            return S.FAILED.value
        for subset, scores in [("all", scoring.scores), *scoring.subset_scores.items()]:
            for name, result in scores.items():
                session.add(Score(run_id=run_id, metric=name, subset=subset, value=result.value,
                                  ci_low=result.ci_low, ci_high=result.ci_high, detail=result.detail))
        session.flush()
        if not transition(session, plan.submission_id, S.SCORING, S.SUCCEEDED, owner=plan.owner, commit=False,
                          **release):
            raise LeaseLost()
    return S.SUCCEEDED.value


def _fail(resources: Resources, plan: EvaluationPlan, expected: SubmissionState, message: str, *,
          infrastructure: bool = False) -> str:
    """Final, never retried: the participant's fault (or, with infrastructure=True, the organiser's)."""
    with resources.session() as session:
        if not transition(session, plan.submission_id, expected, S.FAILED, owner=plan.owner,
                          failure_message=message, failure_is_infrastructure=infrastructure,
                          lease_owner=None, lease_expires_at=None):
            raise LeaseLost()
    return S.FAILED.value


def _describe(exc: BaseException) -> str:
    """What the participant may read about an infrastructure fault (details stay in the worker's log)."""
    from sqlalchemy.exc import DBAPIError

    from app.storage import StorageError
    from runners.docker_runner import RunnerError

    if isinstance(exc, RunnerError):
        return "the container engine failed"
    if isinstance(exc, StorageError):
        return "storage was unavailable"
    if isinstance(exc, DBAPIError):
        return "the database was unavailable"
    return "an internal error"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
