"""Sharded runs (`limits.shards` > 1, batch mode): the test set in parts, run by several workers at once.

The attempt that holds the submission's lease coordinates (`run_sharded`). It splits the cases into contiguous
shards (`partition`), keeps a row per shard (app/models/shard.py), asks the queue for a job per shard still to run,
and then runs shards itself while any is unclaimed, so that it never waits on workers that may not exist. Other
workers' shard jobs (`run_claimed_shard` through app/tasks/jobs.py) claim shards the same way: a compare-and-set on
the shard's row, with a lease renewed while its container runs. Each shard's container sees only its cases (a
batch-mode /input of their own, hard links into the staged test set) and its outputs are stored under the
submission's outputs, for its own cases only. When every shard is done, the coordinator gathers the stored outputs
and scores them as one run: the result is the one a single container would have given.

Failures, as precisely as the rest of the pipeline: a shard whose container fails (exit code, time, memory, outputs)
fails the submission as the participant's fault, naming the shard and its cases; a shard that fails for the
platform's reasons (its worker died and its lease expired, the engine or storage failed) goes back to pending and is
retried alone, the others keep their results, up to the platform's fault budget. A coordinator that dies leaves the
submission's lease to expire; the next attempt keeps the shards that are done and runs only the others.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from app import transitions
from app.models import ShardState, Submission, SubmissionShard, SubmissionState
from app.models._types import utcnow
from app.pipeline.leases import Heartbeat
from app.pipeline.plan import AttemptPlan
from app.pipeline.recovery import fault_words
from app.pipeline.run import SUBMISSION_LABEL, LoadedImage
from app.resources import Resources
from app.storage import keys
from app.storage.keys import LogStream
from runners.docker_runner import DockerRunner, RunnerError
from runners.outputs import OutputListing, collect_outputs

log = logging.getLogger(__name__)

SHARD_LABEL = "podium.shard"
POLL_SECONDS = 0.5


class ShardsFailed(RunnerError):
    """A shard failed for the platform's reasons more often than the budget allows: the submission's fault path
    takes over (retried later with its done shards kept, or failed as the platform's fault)."""


def partition(case_keys: list[str], shards: int) -> list[list[str]]:
    """Contiguous parts of the cases in the test set's order, their sizes differing by at most one."""
    size, extra = divmod(len(case_keys), shards)
    parts, start = [], 0
    for index in range(shards):
        end = start + size + (1 if index < extra else 0)
        parts.append(case_keys[start:end])
        start = end
    return parts


def describe(plan: AttemptPlan, shard: int) -> str:
    """"shard 2 of 4 (cases c058 to c114)": how messages name a shard (case ids are the test set's own)."""
    cases = partition(plan.case_keys, plan.shards)[shard]
    span = f"case {cases[0]}" if len(cases) == 1 else f"cases {cases[0]} to {cases[-1]}"
    return f"shard {shard + 1} of {plan.shards} ({span})"


@dataclass(frozen=True)
class ShardRow:
    id: int
    shard: int
    state: str
    claimed_by: str | None
    message: str | None
    participant_message: str | None
    output: str | None
    wall_seconds: float | None
    cpu_seconds: float | None
    peak_memory_mb: float | None
    exit_code: int | None


def shard_rows(resources: Resources, submission_id: int) -> list[ShardRow]:
    with resources.session() as session:
        rows = session.scalars(select(SubmissionShard).where(SubmissionShard.submission_id == submission_id)
                               .order_by(SubmissionShard.shard)).all()
        return [ShardRow(r.id, r.shard, r.state, r.claimed_by, r.message, r.participant_message, r.output,
                         r.wall_seconds, r.cpu_seconds, r.peak_memory_mb, r.exit_code) for r in rows]


def prepare_shards(resources: Resources, plan: AttemptPlan) -> list[int]:
    """The shard rows of this attempt: a done shard of an earlier attempt on the same test set and split is kept
    (its outputs are stored); every other is (re)made pending and its cases' stored outputs are removed. Returns the
    shards still to run."""
    with resources.session() as session:
        existing = {row.shard: row for row in session.scalars(
            select(SubmissionShard).where(SubmissionShard.submission_id == plan.submission_id))}
        kept = {index for index, row in existing.items()
                if row.state == ShardState.DONE and row.test_set_id == plan.test_set_id and row.shards == plan.shards}
        session.execute(delete(SubmissionShard).where(SubmissionShard.submission_id == plan.submission_id,
                                                      SubmissionShard.shard.not_in(kept)))
        for index in range(plan.shards):
            if index not in kept:
                session.add(SubmissionShard(submission_id=plan.submission_id, test_set_id=plan.test_set_id,
                                            shard=index, shards=plan.shards, state=ShardState.PENDING))
    to_run = [index for index in range(plan.shards) if index not in kept]
    parts = partition(plan.case_keys, plan.shards)
    for index in to_run:
        _remove_stored_outputs(resources, plan.submission_id, parts[index])
    return to_run


def run_sharded(resources: Resources, runner: DockerRunner, plan: AttemptPlan, image: LoadedImage, input_dir: Path,
                work_dir: Path, worker_name: str, *, enqueue_shard: Callable[[int, int], None] | None,
                lease_lost: Callable[[], bool]) -> list[ShardRow]:
    """Coordinate the shards until each is done or one failed; returns the rows. Raises ShardsFailed when a shard
    exhausted the platform's fault budget, LeaseLost (through the caller's checks) when the attempt lost its lease."""
    from app.pipeline.persist import LeaseLost

    for index in prepare_shards(resources, plan):
        if enqueue_shard is not None:
            try:
                enqueue_shard(plan.submission_id, index)
            except Exception:  # noqa: BLE001 - the coordinator runs every shard nobody else takes
                log.warning("submission %s: shard %s not queued; run here", plan.submission_id, index, exc_info=True)
    while True:
        if lease_lost():
            raise LeaseLost()
        _reclaim_expired(resources, plan)
        rows = shard_rows(resources, plan.submission_id)
        failed = [row for row in rows if row.state == ShardState.FAILED]
        if failed or all(row.state == ShardState.DONE for row in rows):
            gave_up = next((row for row in failed if row.participant_message is None), None)
            if gave_up is not None:  # the platform's fault, past its budget: never the participant's
                raise ShardsFailed(f"{describe(plan, gave_up.shard)}: {gave_up.message}")
            return rows
        pending = next((row for row in rows if row.state == ShardState.PENDING), None)
        if pending is None:
            time.sleep(POLL_SECONDS)  # the rest run on other workers
            continue
        owner = f"{worker_name}/{uuid.uuid4().hex[:8]}"[-64:]
        with resources.session() as session:
            claimed = transitions.claim_shard(session, pending.id, owner=owner,
                                              lease_seconds=resources.settings.lease_seconds)
        if claimed:
            run_claimed_shard(resources, runner, plan, pending.id, pending.shard, owner, image, input_dir, work_dir)


def run_claimed_shard(resources: Resources, runner: DockerRunner, plan: AttemptPlan, shard_id: int, shard: int,
                      owner: str, image: LoadedImage, input_dir: Path, work_dir: Path) -> str:
    """Run one claimed shard's container on its cases, store its outputs and logs, and record how it ended;
    returns the shard's new state. An infrastructure fault puts it back to pending (retried alone)."""
    cases = partition(plan.case_keys, plan.shards)[shard]
    work_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"shard-{shard}-", dir=work_dir))
    try:
        shard_input = _shard_input(input_dir, cases, plan, folder / "input")
        output_dir = folder / "output"
        output_dir.mkdir()
        labels = {SUBMISSION_LABEL: str(plan.submission_id), SHARD_LABEL: str(shard)}
        with Heartbeat(resources, plan.submission_id, owner, on_lost=lambda: runner.cleanup(labels),
                       renew_lease=lambda: _renew_shard(resources, plan.submission_id, shard_id, owner),
                       what=f"submission {plan.submission_id} {describe(plan, shard)}"):
            result = runner.run(image.image_id, input_dir=shard_input, output_dir=output_dir, policy=plan.policy,
                                name=f"podium-{plan.submission_id}-s{shard}-{uuid.uuid4().hex[:6]}", labels=labels)
            if result.is_infrastructure_fault:
                raise RunnerError(result.failure_message() or "the container was stopped from outside")
            store = resources.store
            store.put_bytes(keys.shard_log(plan.submission_id, shard, "stdout"), result.stdout)
            store.put_bytes(keys.shard_log(plan.submission_id, shard, "stderr"), result.stderr)
            usage = {"exit_code": result.exit_code, "wall_seconds": result.wall_seconds,
                     "cpu_seconds": result.cpu_seconds,
                     "peak_memory_mb": None if result.peak_memory_bytes is None else result.peak_memory_bytes / 2**20}
            if not result.succeeded:
                why = result.failure_message(include_output=False) or "the run failed"
                return _finish(resources, shard_id, owner, ShardState.FAILED, message=why, participant_message=why,
                               output=result.last_stderr_line() if result.exit_code not in (None, 0) else None,
                               **usage)
            listing = collect_outputs(output_dir, plan.policy.output_bytes)
            if listing.too_many_files or listing.over_limit:
                why = ("the container wrote too many files to /output" if listing.too_many_files else
                       f"the outputs exceed this phase's limit of {plan.policy.output_bytes // 2**20} MiB")
                return _finish(resources, shard_id, owner, ShardState.FAILED, message=why, participant_message=why,
                               **usage)
            _store_own_outputs(resources, plan.submission_id, listing, set(cases))
            return _finish(resources, shard_id, owner, ShardState.DONE, **usage)
    except Exception as exc:
        log.warning("submission %s: %s: infrastructure fault; it will be retried", plan.submission_id,
                    describe(plan, shard), exc_info=True)
        with resources.session() as session:
            transitions.release_shard(session, shard_id, owner=owner,
                                      max_faults=resources.settings.max_infrastructure_faults,
                                      message=fault_words(exc))
        return ShardState.PENDING
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def merged_outputs(resources: Resources, plan: AttemptPlan, work_dir: Path) -> OutputListing:
    """Every shard's stored outputs, gathered into one /output-like folder and listed as a single run's would be."""
    merged = work_dir / "merged-output"
    prefix = keys.submission_output(plan.submission_id, "")
    for key in resources.store.list(prefix):
        resources.store.download_to(key, merged / key[len(prefix):])
    merged.mkdir(parents=True, exist_ok=True)
    return collect_outputs(merged, plan.policy.output_bytes * plan.shards)


def shard_logs(resources: Resources, plan: AttemptPlan, stream: LogStream, cap: int) -> bytes:
    """The shards' logs of one stream, each under a line naming the shard, capped as one run's log is."""
    parts = []
    for shard in range(plan.shards):
        try:
            data = resources.store.get_bytes(keys.shard_log(plan.submission_id, shard, stream))
        except Exception:  # noqa: BLE001 - a shard done by an earlier attempt whose log is gone: say so
            data = b"(no log kept)\n"
        parts.append(f"==> {describe(plan, shard)} <==\n".encode() + data)
    joined = b"".join(parts)
    return joined if len(joined) <= cap else joined[-cap:]


def _finish(resources: Resources, shard_id: int, owner: str, state: ShardState, **fields: object) -> str:
    with resources.session() as session:
        if not transitions.finish_shard(session, shard_id, owner=owner, state=state, **fields):
            log.info("shard %s: no longer this worker's (reclaimed or cancelled); its result is dropped", shard_id)
            return ShardState.PENDING
    return state


def _reclaim_expired(resources: Resources, plan: AttemptPlan) -> None:
    """Shards whose worker stopped renewing its lease (it died) go back to pending: retried alone."""
    with resources.session() as session:
        expired = session.scalars(select(SubmissionShard.id).where(
            SubmissionShard.submission_id == plan.submission_id, SubmissionShard.state == ShardState.RUNNING,
            SubmissionShard.lease_expires_at < utcnow())).all()
        for shard_id in expired:
            transitions.release_shard(session, shard_id, owner=None,
                                      max_faults=resources.settings.max_infrastructure_faults,
                                      message="the worker running it stopped responding")


def _shard_input(input_dir: Path, cases: list[str], plan: AttemptPlan, target: Path) -> Path:
    """A batch-mode /input holding only these cases: cases.json of theirs, their folders as hard links into the
    staged test set (same file system, no copy). World-readable like the staged folder."""
    target.mkdir(parents=True)
    wanted = set(cases)
    entries = [{"case_id": case.key, "inputs": case.inputs} for case in plan.cases if case.key in wanted]
    (target / "cases.json").write_text(json.dumps(entries))
    for case in cases:
        source = input_dir / case
        if not source.is_dir():
            continue
        for dirpath, _, filenames in os.walk(source):
            relative = Path(dirpath).relative_to(input_dir)
            (target / relative).mkdir(parents=True, exist_ok=True)
            os.chmod(target / relative, 0o755)
            for name in filenames:
                os.link(Path(dirpath) / name, target / relative / name)
    os.chmod(target, 0o755)
    os.chmod(target.parent, 0o755)
    (target / "cases.json").chmod(0o644)
    return target


def _store_own_outputs(resources: Resources, submission_id: int, listing: OutputListing, cases: set[str]) -> None:
    """Store the shard's outputs of its own cases only: what it wrote under another shard's case ids (it could guess
    them) must never replace that shard's outputs."""
    for relative, path in listing.files.items():
        if relative.split("/", 1)[0] in cases:
            resources.store.put_file(keys.submission_output(submission_id, relative), path)


def _remove_stored_outputs(resources: Resources, submission_id: int, cases: list[str]) -> None:
    for case in cases:
        resources.store.delete_prefix(keys.submission_output(submission_id, f"{case}/"))


def _renew_shard(resources: Resources, submission_id: int, shard_id: int, owner: str) -> bool:
    """The shard's lease, renewed while its container runs: lost when the shard is no longer this worker's (its lease
    expired and was reclaimed) or the submission no longer runs (a cancel): its container must stop."""
    with resources.session() as session:
        state = session.scalar(select(Submission.state).where(Submission.id == submission_id))
        return state == SubmissionState.RUNNING and transitions.renew_shard(
            session, shard_id, owner=owner, lease_seconds=resources.settings.lease_seconds)
