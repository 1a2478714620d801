"""Evaluate one queued submission: run its container in the sandbox, then score its outputs.

The database is the source of truth. Each step is a compare-and-set transition, so a job delivered
twice does nothing the second time. The session is closed while the container runs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from app.challenge_spec import Interface
from app.models import CaseOutcome, EvaluationRun, Score, Submission, SubmissionState
from app.models._types import utcnow
from app.runtime import Runtime
from app.services.scoring import ScoringConfigurationError, score_outputs
from app.services.staging import stage_ground_truth, stage_inputs
from app.services.states import transition
from runners.docker_runner import DockerRunner, ImageLoadError, RunResult
from runners.outputs import collect_outputs, read_output_bytes
from runners.sandbox import SandboxPolicy

log = logging.getLogger(__name__)
S = SubmissionState
INFRASTRUCTURE_MESSAGE = ("the platform failed while evaluating this submission ({reason}); this is not "
                          "your fault and does not count against your submission limit")


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything the long part of an evaluation needs, read from the database up front."""

    submission_id: int
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
    policy: SandboxPolicy


def evaluate_submission(runtime: Runtime, runner: DockerRunner, submission_id: int, worker_name: str) -> str:
    """Run and score a queued submission; returns the final state (or why nothing was done)."""
    with runtime.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            return "no such submission"
        if submission.state != S.QUEUED:
            return f"skipped: submission is {submission.state.value}"
        if not transition(session, submission_id, S.QUEUED, S.RUNNING, attempts=submission.attempts + 1):
            return "skipped: another worker took it"
        plan = _plan(session, submission_id)

    work_dir = Path(tempfile.mkdtemp(prefix=f"run-{submission_id}-",
                                     dir=_ensure(runtime.settings.worker_cache_dir / "runs")))
    image_id: str | None = None
    archive_tags_added: list[str] = []
    try:
        store = runtime.store
        cache = runtime.settings.worker_cache_dir
        input_dir = stage_inputs(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                                 cases=[(key, inputs) for _, key, inputs in plan.cases],
                                 input_paths=[i.relative_path for i in plan.inputs], cache_root=cache)
        archive = work_dir / "image.tar"
        store.download_to(plan.upload_key, archive)
        archive_tags_added = [t for t in plan.image_tags if t not in runner.existing_tags(plan.image_tags)]
        try:
            image_id = runner.load_image(archive, label=str(submission_id))
        except ImageLoadError as exc:
            return _fail(runtime, submission_id, S.RUNNING, f"the image could not be loaded: {exc}")
        archive.unlink()
        output_dir = work_dir / "output"
        output_dir.mkdir()
        result = runner.run(image_id, input_dir=input_dir, output_dir=output_dir, policy=plan.policy,
                            name=f"podium-{submission_id}-{uuid.uuid4().hex[:8]}",
                            labels={"podium.submission": str(submission_id)})
        run_id = _record_run(runtime, plan, result, worker_name)
        if not result.succeeded:
            return _fail(runtime, submission_id, S.RUNNING, result.failure_message() or "the run failed")
        listing = collect_outputs(output_dir, plan.policy.output_bytes)
        if listing.too_many_files:
            return _fail(runtime, submission_id, S.RUNNING, "the container wrote too many files to /output")
        if listing.over_limit:
            return _fail(runtime, submission_id, S.RUNNING,
                         f"the outputs exceed this phase's limit of {plan.policy.output_bytes // 1024**2} MiB")
        for relative, path in listing.files.items():
            store.put_file(f"submissions/{submission_id}/outputs/{relative}", path)

        with runtime.session() as session:
            if not transition(session, submission_id, S.RUNNING, S.SCORING):
                return "skipped: the submission changed state during the run"
        truth_dir = stage_ground_truth(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                                       case_ids=[key for _, key, _ in plan.cases],
                                       truth_paths=[g.relative_path for g in plan.ground_truth], cache_root=cache)
        try:
            scoring = score_outputs(case_keys=[key for _, key, _ in plan.cases], outputs=plan.outputs,
                                    ground_truth=plan.ground_truth, metrics=plan.metrics,
                                    output_files=listing.files, rejected_files=listing.rejected,
                                    truth_dir=truth_dir, read_output=read_output_bytes)
        except ScoringConfigurationError as exc:
            log.error("submission %s: phase cannot be scored: %s", submission_id, exc)
            return _fail(runtime, submission_id, S.SCORING, INFRASTRUCTURE_MESSAGE.format(reason=str(exc)),
                         infrastructure=True)
        return _store_scores(runtime, plan, run_id, scoring)
    except Exception as exc:
        log.exception("submission %s: infrastructure fault", submission_id)
        with runtime.session() as session:
            current = session.get(Submission, submission_id)
            state = current.state if current else None
        if state in (S.RUNNING, S.SCORING):
            _fail(runtime, submission_id, state, INFRASTRUCTURE_MESSAGE.format(reason=type(exc).__name__),
                  infrastructure=True)
        raise
    finally:
        if image_id is not None:
            try:
                # Only what this load added: never an image or tag the engine had before.
                runner.release_image(str(submission_id))
                runner.untag(archive_tags_added)
            except Exception:  # noqa: BLE001 - cleanup must not hide the real outcome
                log.warning("could not remove image %s", image_id, exc_info=True)
        shutil.rmtree(work_dir, ignore_errors=True)


def _plan(session, submission_id: int) -> EvaluationPlan:  # type: ignore[no-untyped-def]
    submission = session.get(Submission, submission_id)
    phase = submission.phase
    test_set = phase.current_test_set
    if test_set is None:
        raise RuntimeError(f"phase {phase.slug} has no test set")
    return EvaluationPlan(
        submission_id=submission_id,
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
        policy=SandboxPolicy.from_limits(time_limit_seconds=phase.time_limit_seconds, memory_mb=phase.memory_mb,
                                         cpus=phase.cpus, pids=phase.pids_limit, tmp_mb=phase.tmp_mb,
                                         output_mb=phase.output_mb, log_kb=phase.log_kb),
    )


def _record_run(runtime: Runtime, plan: EvaluationPlan, result: RunResult, worker_name: str) -> int:
    """Store the logs and (re)create the run row for this submission and test set: idempotent."""
    store = runtime.store
    prefix = f"submissions/{plan.submission_id}/logs"
    store.put_bytes(f"{prefix}/stdout.txt", result.stdout)
    store.put_bytes(f"{prefix}/stderr.txt", result.stderr)
    with runtime.session() as session:
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


def _store_scores(runtime: Runtime, plan: EvaluationPlan, run_id: int, scoring) -> str:  # type: ignore[no-untyped-def]
    case_ids = {key: row_id for row_id, key, _ in plan.cases}
    with runtime.session() as session:
        run = session.get(EvaluationRun, run_id)
        session.execute(delete(CaseOutcome).where(CaseOutcome.run_id == run_id))
        session.execute(delete(Score).where(Score.run_id == run_id))
        for case in scoring.cases:
            session.add(CaseOutcome(run_id=run_id, case_id=case_ids[case.case_key], status=case.status,
                                    message=case.message, prediction=case.prediction, values={}))
        run.cases_valid = sum(1 for c in scoring.cases if c.status == "valid")
        run.cases_invalid = len(scoring.cases) - run.cases_valid
        if not scoring.ok:
            transition(session, plan.submission_id, S.SCORING, S.FAILED, commit=False,
                       failure_message=scoring.failure_message())
            return S.FAILED.value
        for name, result in scoring.scores.items():
            session.add(Score(run_id=run_id, metric=name, value=result.value, ci_low=result.ci_low,
                              ci_high=result.ci_high, detail=result.detail))
        session.flush()
        if not transition(session, plan.submission_id, S.SCORING, S.SUCCEEDED, commit=False):
            session.rollback()
            return "skipped: the submission changed state during scoring"
    return S.SUCCEEDED.value


def _fail(runtime: Runtime, submission_id: int, expected: SubmissionState, message: str, *,
          infrastructure: bool = False) -> str:
    with runtime.session() as session:
        transition(session, submission_id, expected, S.FAILED, failure_message=message,
                   failure_is_infrastructure=infrastructure)
    return S.FAILED.value


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def latest_run(session, submission_id: int) -> EvaluationRun | None:  # type: ignore[no-untyped-def]
    return session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == submission_id)
                          .order_by(EvaluationRun.id.desc()).limit(1))
