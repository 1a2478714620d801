"""Per-case mode: one container run per case, laid out as grand-challenge.org runs its algorithm containers.

Every case's run gets the phase's sandbox (no network, read-only root, non-root, the phase's memory, time and
output limits per run) and the image the attempt loaded once; up to `cases_in_parallel` runs go at once, sharing the
phase's CPUs (AttemptPlan.case_policy). Threads suffice: the work is in the engine.

Who is at fault (docs/container-contract.md, "Per-case mode"):
- a case whose run exits non-zero, times out, runs out of memory or writes too much is that case's failure: it
  has no outputs (outputs count only when the case's container exits 0) and a per-case message; the phase's
  missing-case policy then decides as in batch mode;
- a run stopped from outside Podium, or an engine failure, is the platform's: every other case run is stopped and
  RunnerError raised, as in batch mode; a lost lease (a cancel) stops every run and raises LeaseLost.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.pipeline.persist import LeaseLost
from app.pipeline.plan import AttemptPlan
from app.pipeline.run import SUBMISSION_LABEL, LoadedImage, stop_containers
from app.pipeline.scoring import Message, ScoringResult
from runners.docker_runner import DockerRunner, RunnerError, RunResult
from runners.outputs import OutputListing, collect_outputs
from runners.sandbox import MIB

log = logging.getLogger(__name__)
CASE_LABEL = "podium.case"


@dataclass(frozen=True)
class CaseRun:
    """How one case's run ended, and the folder that holds what it wrote to /output."""

    case_key: str
    result: RunResult
    output_dir: Path

    @property
    def peak_memory_mb(self) -> float | None:
        peak = self.result.peak_memory_bytes
        return None if peak is None else peak / MIB

    def failure(self) -> Message | None:
        """Why this case has no outputs, or None: full may quote the container's last stderr line, safe never."""
        if self.result.succeeded:
            return None
        full = self.result.failure_message() or "the run failed"
        safe = self.result.failure_message(include_output=False) or "the run failed"
        return Message(full, safe)


@dataclass
class CaseRuns:
    """Every case's run, in the test set's order."""

    runs: list[CaseRun] = field(default_factory=list)

    def failures(self) -> dict[str, Message]:
        return {run.case_key: failure for run in self.runs if (failure := run.failure()) is not None}

    @property
    def wall_seconds(self) -> float:
        """The sum of the runs' wall times: what the containers took one after another (cost is per run)."""
        return sum(run.result.wall_seconds for run in self.runs)

    @property
    def cpu_seconds(self) -> float | None:
        """The sum of the runs' CPU seconds; None when a run lacks the figure (never a total that leaves one out)."""
        figures = [run.result.cpu_seconds for run in self.runs]
        return None if not figures or any(f is None for f in figures) else sum(f for f in figures if f is not None)

    @property
    def peak_memory_mb(self) -> float | None:
        """The highest of the runs' peaks; None when a run lacks the figure."""
        figures = [run.peak_memory_mb for run in self.runs]
        return None if not figures or any(f is None for f in figures) else max(f for f in figures if f is not None)

    @property
    def exit_code(self) -> int | None:
        """0 when every case's run succeeded, else the first failed run's exit code (None: it had none)."""
        failed = next((run for run in self.runs if not run.result.succeeded), None)
        return 0 if failed is None else failed.result.exit_code

    def log(self, stream: str, cap: int) -> bytes:
        """One stream of every run, each under a header naming its case; at most `cap` bytes kept per case."""
        parts: list[bytes] = []
        for run in self.runs:
            data: bytes = getattr(run.result, stream)
            parts.append(f"==> case {run.case_key}: {_ending(run.result)} <==\n".encode())
            parts.append(data[:cap] if stream == "stdout" else data[-cap:])
            if data and not data.endswith(b"\n"):
                parts.append(b"\n")
        return b"".join(parts)

    def listing(self, max_bytes: int) -> OutputListing:
        """The outputs of the runs that succeeded, as the batch collector lists /output: "<case id>/<path>"."""
        listing = OutputListing()
        for run in self.runs:
            if not run.result.succeeded:
                continue  # outputs count only when the case's container exits 0
            found = collect_outputs(run.output_dir, max_bytes)
            listing.files.update({f"{run.case_key}/{rel}": path for rel, path in found.files.items()})
            listing.rejected.update({f"{run.case_key}/{rel}": why for rel, why in found.rejected.items()})
            listing.total_bytes += found.total_bytes
        return listing


def run_cases(runner: DockerRunner, plan: AttemptPlan, image: LoadedImage, *, inputs_root: Path, work_dir: Path,
              lease_lost: Callable[[], bool], labels: dict[str, str] | None = None) -> CaseRuns:
    """Run every case of the plan in its own container, up to plan.cases_in_parallel at once.

    inputs_root holds one folder per case (app/pipeline/staging.stage_case_inputs); labels: more labels for every
    run's container (a site's part: app/pipeline/site_part.py). Raises RunnerError when the
    platform failed (the engine, or a run stopped from outside), LeaseLost when the attempt lost its lease."""
    outputs_root = work_dir / "output"
    outputs_root.mkdir()
    policy = plan.case_policy()
    abort = threading.Event()

    def run_one(index: int, case_key: str) -> CaseRun | None:
        if abort.is_set() or lease_lost():
            return None
        output_dir = outputs_root / case_key
        output_dir.mkdir()
        try:
            result = runner.run(image.image_id, input_dir=inputs_root / case_key, output_dir=output_dir,
                                policy=policy, name=f"podium-{plan.submission_id}-{index}-{uuid.uuid4().hex[:8]}",
                                labels={**(labels or {}), SUBMISSION_LABEL: str(plan.submission_id),
                                        CASE_LABEL: case_key[:63]})
            if result.is_infrastructure_fault:
                raise RunnerError(result.failure_message() or "the container was stopped from outside")
        except BaseException:
            # The platform failed (or the lease was lost and the runs stopped): start nothing more, and end the
            # runs still going at once, not when their turn comes to be waited for.
            if not abort.is_set():
                abort.set()
                _stop_quietly(runner, plan.submission_id)
            raise
        return CaseRun(case_key, result, output_dir)

    workers = max(1, min(plan.cases_in_parallel, len(plan.cases)))
    runs: dict[str, CaseRun] = {}
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"case-{plan.submission_id}") as pool:
        futures: list[tuple[str, Future[CaseRun | None]]] = [
            (key, pool.submit(run_one, index, key)) for index, key in enumerate(plan.case_keys)]
        for key, future in futures:
            try:
                run = future.result()
            except BaseException as exc:  # noqa: BLE001 - the first one is raised below, after the others stopped
                first_error = first_error or exc
                continue
            if run is not None:
                runs[key] = run
    if lease_lost():
        raise LeaseLost()
    if first_error is not None:
        raise first_error
    missing = [key for key in plan.case_keys if key not in runs]
    if missing:  # every task returned or raised; a skipped case means the lease was lost meanwhile
        raise LeaseLost()
    return CaseRuns([runs[key] for key in plan.case_keys])


def _stop_quietly(runner: DockerRunner, submission_id: int) -> None:
    try:
        stop_containers(runner, submission_id)
    except Exception:  # noqa: BLE001 - the engine may be the fault; the first error is what gets reported
        log.warning("submission %s: could not stop its other case runs", submission_id, exc_info=True)


def _ending(result: RunResult) -> str:
    if result.succeeded:
        return f"exit 0, {result.wall_seconds:.1f} s"
    return result.failure_message(include_output=False) or "failed"


def per_case_wording(scoring: ScoringResult) -> None:
    """Name outputs as a per-case container sees them: scoring names the place of case c's output as the batch
    layout has it ("/output/c/<relative_path>"), while c's own container wrote it at "/output/<relative_path>".
    Every problem already starts with the case id, so only the path changes."""
    def fixed(text: str, case: str) -> str:
        return text.replace(f"/output/{case}/", "/output/")

    for outcome in scoring.cases:
        outcome.message = fixed(outcome.message, outcome.case_key)
        outcome.safe_message = fixed(outcome.safe_message, outcome.case_key)
    problems = []
    for problem in scoring.problems:
        case_key = problem.full.split(": ", 1)[0]
        problems.append(Message(fixed(problem.full, case_key), fixed(problem.safe, case_key)))
    scoring.problems[:] = problems
