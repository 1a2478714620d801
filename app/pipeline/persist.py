"""Persist step: the run's logs and row, per-case outcomes, scores and the final state.

Every write checks, in its own transaction, that this attempt still holds the submission's lease: a job
delivered twice, a zombie attempt or a cancelled submission never overwrites anything.

What participants read under the failure-message policy is written beside the full text, never derived
from it: the run's participant_notes and the submission's participant_failure_message hold only the
platform's words (app/pipeline/scoring.py Message); app/queries/submission_summary.py picks the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app import transitions
from app.models import CaseOutcome, EvaluationRun, Score, Submission
from app.models._types import utcnow
from app.models.run import CaseStatus, ScoreSubset
from app.pipeline.plan import AttemptPlan
from app.pipeline.scoring import ScoringResult
from app.resources import Resources
from app.storage import keys
from app.transitions import AttemptOutcome
from runners.docker_runner import RunResult
from runners.sandbox import MIB

if TYPE_CHECKING:
    from app.pipeline.per_case import CaseRuns
    from app.pipeline.shards import ShardRow

STDERR_TAIL_LINES = 40


class LeaseLost(RuntimeError):
    """Another attempt holds the submission now (or it was cancelled); this one must stop without writing."""


def _check_lease(session: Session, plan: AttemptPlan) -> None:
    if not transitions.holds_lease(session, plan.submission_id, owner=plan.owner):
        raise LeaseLost()


@dataclass(frozen=True)
class CaseUsage:
    """Per-case mode: what one case's own container run used (stored on its CaseOutcome)."""

    wall_seconds: float | None
    cpu_seconds: float | None
    peak_memory_mb: float | None


def record_run(resources: Resources, plan: AttemptPlan, result: RunResult, worker_name: str, *,
               image_load_seconds: float | None = None) -> int:
    """Store the logs and (re)create the run row for this submission and test set: idempotent."""
    return _record(resources, plan, worker_name, image_load_seconds=image_load_seconds,
                   stdout=result.stdout, stderr=result.stderr,
                   exit_code=result.exit_code, wall_seconds=result.wall_seconds, cpu_seconds=result.cpu_seconds,
                   peak_memory_mb=None if result.peak_memory_bytes is None else result.peak_memory_bytes / MIB)


def record_case_runs(resources: Resources, plan: AttemptPlan, runs: CaseRuns, worker_name: str, *,
                     image_load_seconds: float | None = None) -> int:
    """Per-case mode: one run row for all the cases' runs: every case's logs under a header naming it, the exit code
    of the first that failed (0: none did), and the totals: wall and CPU seconds summed, the highest peak memory."""
    cap = plan.policy.log_bytes
    return _record(resources, plan, worker_name, image_load_seconds=image_load_seconds,
                   stdout=runs.log("stdout", cap), stderr=runs.log("stderr", cap),
                   exit_code=runs.exit_code, wall_seconds=runs.wall_seconds, cpu_seconds=runs.cpu_seconds,
                   peak_memory_mb=runs.peak_memory_mb)


def record_shard_runs(resources: Resources, plan: AttemptPlan, rows: list[ShardRow], worker_name: str, *,
                      image_load_seconds: float | None = None) -> int:
    """A sharded run: one run row for its shards' runs: their logs under headers naming each shard, the exit code of
    the first that failed (0: none did), wall and CPU seconds summed, the highest peak memory."""
    from app.pipeline.shards import shard_logs

    cap = plan.policy.log_bytes
    failed = next((row.exit_code for row in rows if row.exit_code not in (None, 0)), 0)
    cpu = [row.cpu_seconds for row in rows]
    peaks = [row.peak_memory_mb for row in rows if row.peak_memory_mb is not None]
    return _record(resources, plan, worker_name, image_load_seconds=image_load_seconds,
                   stdout=shard_logs(resources, plan, "stdout", cap),
                   stderr=shard_logs(resources, plan, "stderr", cap), exit_code=failed,
                   wall_seconds=sum(row.wall_seconds or 0.0 for row in rows),
                   cpu_seconds=None if any(c is None for c in cpu) else sum(c or 0.0 for c in cpu),
                   peak_memory_mb=max(peaks) if peaks else None)


def record_site_runs(resources: Resources, plan: AttemptPlan, worker_name: str, *, stdout: bytes, stderr: bytes,
                     exit_code: int | None, wall_seconds: float | None, cpu_seconds: float | None,
                     peak_memory_mb: float | None, image_load_seconds: float | None) -> int:
    """A run at sites (app/pipeline/sites.py): one run row for the sites' parts: their logs (or a line saying they
    stayed at the site), wall and CPU seconds summed, the highest peak memory."""
    return _record(resources, plan, worker_name, stdout=stdout, stderr=stderr, exit_code=exit_code,
                   wall_seconds=wall_seconds, cpu_seconds=cpu_seconds, peak_memory_mb=peak_memory_mb,
                   image_load_seconds=image_load_seconds)


def _record(resources: Resources, plan: AttemptPlan, worker_name: str, *, stdout: bytes, stderr: bytes,
            exit_code: int | None, wall_seconds: float | None, cpu_seconds: float | None,
            peak_memory_mb: float | None, image_load_seconds: float | None) -> int:
    store = resources.store
    stdout_key = keys.submission_log(plan.submission_id, "stdout")
    stderr_key = keys.submission_log(plan.submission_id, "stderr")
    store.put_bytes(stdout_key, stdout)
    store.put_bytes(stderr_key, stderr)
    with resources.session() as session:
        _check_lease(session, plan)
        session.execute(delete(EvaluationRun).where(EvaluationRun.submission_id == plan.submission_id,
                                                    EvaluationRun.test_set_id == plan.test_set_id))
        run = EvaluationRun(submission_id=plan.submission_id, test_set_id=plan.test_set_id, worker=worker_name,
                            finished_at=utcnow(), exit_code=exit_code,
                            container_seconds=wall_seconds, cpu_seconds=cpu_seconds, peak_memory_mb=peak_memory_mb,
                            image_load_seconds=image_load_seconds,
                            stdout_key=stdout_key, stderr_key=stderr_key,
                            stderr_tail=_tail(stderr.decode("utf-8", "replace")), notes=[],
                            participant_notes=[])
        session.add(run)
        session.flush()
        return run.id


def begin_scoring(resources: Resources, plan: AttemptPlan) -> None:
    with resources.session() as session:
        if not transitions.begin_scoring(session, plan.submission_id, owner=plan.owner):
            raise LeaseLost()


def store_scores(resources: Resources, plan: AttemptPlan, run_id: int, scoring: ScoringResult,
                 usage: dict[str, CaseUsage] | None = None) -> AttemptOutcome:
    """Per-case outcomes, scores and the final state, in one transaction that checks the lease.

    usage: per-case mode: each case's own run's figures, stored on its outcome."""
    row_ids = {case.key: case.row_id for case in plan.cases}
    with resources.session() as session:
        _check_lease(session, plan)
        run = session.get(EvaluationRun, run_id)
        assert run is not None
        session.execute(delete(CaseOutcome).where(CaseOutcome.run_id == run_id))
        session.execute(delete(Score).where(Score.run_id == run_id))
        for case in scoring.cases:
            used = (usage or {}).get(case.case_key, CaseUsage(None, None, None))
            session.add(CaseOutcome(run_id=run_id, case_id=row_ids[case.case_key], status=case.status,
                                    message=case.message, participant_message=case.safe_message,
                                    prediction=case.prediction, values=case.values,
                                    wall_seconds=used.wall_seconds, cpu_seconds=used.cpu_seconds,
                                    peak_memory_mb=used.peak_memory_mb))
        run.notes = scoring.note_texts()[:50]
        run.participant_notes = scoring.note_texts(safe=True)[:50]
        run.cases_valid = sum(1 for c in scoring.cases if c.status == CaseStatus.VALID)
        run.cases_invalid = len(scoring.cases) - run.cases_valid
        if not scoring.ok:
            if not transitions.fail(session, plan.submission_id, owner=plan.owner,
                                    message=scoring.failure_message() or "the outputs could not be scored"):
                raise LeaseLost()
            _set_participant_failure_message(session, plan, scoring.failure_message(safe=True))
            return AttemptOutcome.FAILED
        for subset, scores in [(ScoreSubset.ALL.value, scoring.scores), *scoring.subset_scores.items()]:
            for name, result in scores.items():
                session.add(Score(run_id=run_id, metric=name, subset=subset, value=result.value,
                                  ci_low=result.ci_low, ci_high=result.ci_high, detail=result.detail))
        session.flush()
        if not transitions.succeed(session, plan.submission_id, owner=plan.owner):
            raise LeaseLost()
    return AttemptOutcome.SUCCEEDED


def fail(resources: Resources, plan: AttemptPlan, message: str, *, infrastructure: bool = False,
         output: str | None = None) -> AttemptOutcome:
    """Final, never retried: the participant's fault (or, with infrastructure=True, the organiser's evaluator's).

    `message` must be the platform's own words (participants read it under every policy but "state"):
    anything the container said after it could read the hidden inputs goes in `output` (shown only where
    the phase shows full logs)."""
    with resources.session() as session:
        if not transitions.fail(session, plan.submission_id, owner=plan.owner, message=message,
                                infrastructure=infrastructure, output=output):
            raise LeaseLost()
        _set_participant_failure_message(session, plan, message)
    return AttemptOutcome.FAILED


def _set_participant_failure_message(session: Session, plan: AttemptPlan, message: str) -> None:
    """What participants read of the failure under the failure-message policy (in the transaction that failed
    the submission, after its compare-and-set: the lease was still held)."""
    session.execute(update(Submission).where(Submission.id == plan.submission_id)
                    .values(participant_failure_message=message).execution_options(synchronize_session=False))


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
