"""A site worker's part of a submission: run it on the site's own cases and score it there (docs/sites.md).

Runs in `podium worker --site NAME` on the site's machine, which holds the site's storage credentials (no other
worker does). The part is claimed with a compare-and-set and a lease renewed while it runs, as shards are
(app/pipeline/shards.py). The site worker stages the site's cases from the site's storage, pulls the submission's
image archive from central storage, runs it in the same sandbox as any run (batch or per-case mode), collects and
scores the outputs against the ground truth in the site's storage, and sends back only what app/pipeline/site_stats.py
lists: per-case status, the platform's wording of each problem, per-case metric values, the site's score counts and
its own aggregate scores. Outputs and logs stay in the site's storage; logs are copied to central storage only when
the phase shows participants their full logs (they chose to let the container speak).

Who is at fault, as everywhere: the container's failure (exit code, limits, outputs) fails the part as the
participant's fault; the platform's (engine, storage, a worker that died) puts the part back to pending, retried
alone (the other sites keep their results) until the platform's fault budget is spent.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import transitions
from app.models import (
    Case,
    CaseStatus,
    LogVisibility,
    MissingCasePolicy,
    Site,
    SitePartState,
    Submission,
    SubmissionSitePart,
    SubmissionState,
    TestSetPart,
)
from app.models.reevaluation import ReevaluationRun, ReevaluationRunState
from app.pipeline import stage_cache
from app.pipeline.leases import Heartbeat
from app.pipeline.per_case import run_cases
from app.pipeline.persist import LeaseLost
from app.pipeline.plan import AttemptPlan, CasePlan, plan_attempt
from app.pipeline.recovery import fault_words
from app.pipeline.run import SUBMISSION_LABEL, LoadedImage, load_image, worker_image_cache
from app.pipeline.scoring import Message, ScoringResult
from app.pipeline.site_stats import SiteCase, site_score_counts
from app.pipeline.sites import EnqueueResults, all_parts_final
from app.pipeline.steps import score_plan, stage_plan_inputs, stage_plan_truth
from app.resources import Resources
from app.storage import ArtifactStore, keys
from app.storage.keys import version_log, version_output
from runners.docker_runner import DockerRunner, ImageLoadError, RunnerError, RunResult
from runners.outputs import OutputListing, collect_outputs
from runners.sandbox import MIB

log = logging.getLogger(__name__)
SITE_PART_LABEL = "podium.site-part"


@dataclasses.dataclass(frozen=True)
class _PartPlan:
    part_id: int
    site: str
    owner: str
    reruns: int
    reevaluation_run_id: int | None  # the re-evaluation run this part belongs to; None: the submission's own run
    show_logs: bool
    enqueue_results: EnqueueResults
    plan: AttemptPlan  # the submission's plan, narrowed to this site's cases and storage


def run_site_part(resources: Resources, runner: DockerRunner, part_id: int, worker_name: str, *,
                  enqueue_results: EnqueueResults) -> str:
    """Claim the part if nobody has and run it; returns its new state, or "skipped" (another worker took it, it is
    another site's, or its run no longer goes on). enqueue_results(submission_id, re-evaluation run id or None) asks a
    central worker to pool the parts once every one is final (app/pipeline/sites.py)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:8]}"[-64:]
    with resources.session() as session:
        part = session.get(SubmissionSitePart, part_id)
        if part is None:
            return "skipped"
        site = session.get(Site, part.site_id)
        if site is None or site.name != resources.settings.site_name:
            log.warning("site part %s belongs to site %s, not this worker's (%s)", part_id,
                        site.name if site else "?", resources.settings.site_name)
            return "skipped"
        submission = session.get(Submission, part.submission_id)
        if submission is None or not _run_goes_on(session, part.submission_id, part.reevaluation_run_id):
            return "skipped"
        if not transitions.claim_site_part(session, part_id, owner=owner,
                                           lease_seconds=resources.settings.lease_seconds):
            return "skipped"
        stored = session.scalar(select(TestSetPart).where(TestSetPart.test_set_id == part.test_set_id,
                                                          TestSetPart.site_id == part.site_id))
        plan = plan_attempt(session, part.submission_id, owner, test_set_id=part.test_set_id)
        show_logs = submission.phase.log_visibility == LogVisibility.FULL
        site_name, reruns, row = site.name, submission.reruns, part.reevaluation_run_id
        case_rows = {case.key: case.row_id for case in plan.cases}
        site_cases = list(session.scalars(select(Case.case_key).where(Case.test_set_id == part.test_set_id,
                                                                      Case.site_id == part.site_id)))
    if stored is None:
        return _release(resources, part_id, owner, "the site holds no cases of this test set version",
                        enqueue_results)
    part_plan = _PartPlan(part_id, site_name, owner, reruns, row, show_logs, enqueue_results, dataclasses.replace(
        plan, storage_prefix=stored.storage_prefix, content_hash=stored.content_hash,
        cases=[CasePlan(case_rows[key], key, {}) for key in sorted(site_cases)],
        case_metadata={key: plan.case_metadata[key] for key in site_cases}))
    work_dir = Path(tempfile.mkdtemp(prefix=f"site-part-{part_id}-",
                                     dir=_ensure(resources.settings.worker_cache_dir / "runs")))
    image: LoadedImage | None = None
    try:
        with Heartbeat(resources, plan.submission_id, owner,
                       on_lost=lambda: runner.cleanup({SITE_PART_LABEL: str(part_id)}),
                       renew_lease=lambda: _renew(resources, plan.submission_id, row, part_id, owner),
                       what=f"submission {plan.submission_id} at site {site_name}") as heartbeat:
            site_store = resources.site_store
            part_plan = dataclasses.replace(part_plan, plan=_with_inputs(site_store, part_plan.plan))
            input_dir = stage_plan_inputs(site_store, part_plan.plan, cache_root=resources.settings.worker_cache_dir,
                                          max_bytes=resources.settings.stage_cache_bytes)
            try:
                image = load_image(resources.store, runner, part_plan.plan, work_dir,
                                   cache=worker_image_cache(resources.settings, runner))
            except ImageLoadError as exc:
                why = f"the image could not be loaded: {exc}"
                return _finish(resources, part_plan, SitePartState.FAILED, message=why, participant_message=why)
            return _run_and_score(resources, runner, part_plan, image, input_dir, work_dir, site_store,
                                  lease_lost=lambda: heartbeat.lost)
    except LeaseLost:
        log.info("site part %s: stopped: cancelled, or no longer this worker's", part_id)
        return "stopped"
    except Exception as exc:
        log.warning("site part %s: infrastructure fault; it will be retried", part_id, exc_info=True)
        return _release(resources, part_id, owner, fault_words(exc, where=" at the site"), enqueue_results)
    finally:
        if image is not None:
            image.release()
        shutil.rmtree(work_dir, ignore_errors=True)
        stage_cache.release_all()


def _run_and_score(resources: Resources, runner: DockerRunner, part: _PartPlan, image: LoadedImage, input_dir: Path,
                   work_dir: Path, site_store: ArtifactStore, *, lease_lost: Any) -> str:
    plan = part.plan
    case_failures: dict[str, Message] | None = None
    usage: dict[str, Any]
    if plan.per_case:
        runs = run_cases(runner, plan, image, inputs_root=input_dir, work_dir=work_dir, lease_lost=lease_lost,
                         labels=_labels(part))
        listing = runs.listing(plan.policy.output_bytes)
        case_failures = runs.failures()
        stdout, stderr = runs.log("stdout", plan.policy.log_bytes), runs.log("stderr", plan.policy.log_bytes)
        usage = {"exit_code": runs.exit_code, "wall_seconds": runs.wall_seconds, "cpu_seconds": runs.cpu_seconds,
                 "peak_memory_mb": runs.peak_memory_mb}
        case_usage = {run.case_key: [run.result.wall_seconds, run.result.cpu_seconds, run.peak_memory_mb]
                      for run in runs.runs}
    else:
        output_dir = work_dir / "output"
        output_dir.mkdir()
        result = runner.run(image.image_id, input_dir=input_dir, output_dir=output_dir, policy=plan.policy,
                            name=f"podium-{plan.submission_id}-site-{part.site}-{uuid.uuid4().hex[:6]}"[:63],
                            labels=_labels(part))
        if result.is_infrastructure_fault:  # stopped by something other than Podium: never the participant's
            raise RunnerError(result.failure_message() or "the container was stopped from outside")
        if lease_lost():
            raise LeaseLost()
        stdout, stderr = result.stdout, result.stderr
        usage = _usage(result)
        case_usage = {}
        _keep_logs(resources, site_store, part, stdout, stderr)
        if not result.succeeded:
            why = result.failure_message(include_output=False) or "the run failed"
            return _finish(resources, part, SitePartState.FAILED, message=why, participant_message=why, **usage)
        listing = collect_outputs(output_dir, plan.policy.output_bytes)
        if listing.too_many_files or listing.over_limit:
            why = ("the container wrote too many files to /output" if listing.too_many_files else
                   f"the outputs exceed this phase's limit of {plan.policy.output_bytes // MIB} MiB")
            return _finish(resources, part, SitePartState.FAILED, message=why, participant_message=why, **usage)
    if plan.per_case:
        _keep_logs(resources, site_store, part, stdout, stderr)
    _keep_outputs(site_store, part, listing)
    scoring, truths = _score(resources, site_store, plan, listing, input_dir, case_failures)
    result_json = _site_result(part, plan, scoring, truths, case_usage)
    return _finish(resources, part, SitePartState.DONE, result=result_json, image_load_seconds=image.load_seconds,
                   **usage)


def _score(resources: Resources, site_store: ArtifactStore, plan: AttemptPlan, listing: OutputListing,
           input_dir: Path, case_failures: dict[str, Message] | None
           ) -> tuple[ScoringResult, dict[str, dict[str, Any]]]:
    """The site's scoring of its cases, and its JSON reference values (read here for the score counts; never sent)."""
    truth_dir = stage_plan_truth(site_store, plan, cache_root=resources.settings.worker_cache_dir,
                                 max_bytes=resources.settings.stage_cache_bytes)
    scoring = score_plan(plan, listing, truth_dir, input_dir=input_dir, case_failures=case_failures)
    return scoring, (_truths(truth_dir, plan) if scoring.ok else {})


def _site_result(part: _PartPlan, plan: AttemptPlan, scoring: ScoringResult, truths: dict[str, dict[str, Any]],
                 case_usage: dict[str, list[float | None]]) -> dict[str, Any]:
    """What crosses the boundary (docs/sites.md, "What crosses the boundary"): nothing the container chose but its
    numbers, and nothing of the inputs or the reference but what the metrics need, counted."""
    worst = plan.missing_cases == MissingCasePolicy.WORST
    cases = [SiteCase(case.case_key, str(case.status), case.safe_message,
                      scored=case.status == CaseStatus.VALID or worst,
                      values=dict(case.values)) for case in scoring.cases]
    counted = [(case.case_key, case.prediction) for case, site_case in zip(scoring.cases, cases, strict=True)
               if site_case.scored and case.prediction]
    counts = site_score_counts(plan.metrics, counted, truths, plan.subsets()) if scoring.ok and truths else {}
    return {
        "site": part.site,
        "reruns": part.reruns,
        "cases": [case.as_json() for case in cases],
        "problems": [problem.safe for problem in scoring.problems],
        "notes": [note.safe for note in scoring.notes],
        "score_counts": counts,
        "site_scores": {name: {"value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high}
                        for name, r in scoring.scores.items()},
        "case_usage": case_usage,
        "logs_shared": part.show_logs,
    }


def _truths(truth_dir: Path, plan: AttemptPlan) -> dict[str, dict[str, Any]]:
    """The site's JSON reference values (for the score counts), read at the site."""
    truths: dict[str, dict[str, Any]] = {}
    for key in plan.case_keys:
        for interface in plan.ground_truth:
            if interface.kind == "json":
                path = truth_dir / key / interface.relative_path
                truths.setdefault(key, {})[interface.slug] = json.loads(path.read_text())
    return truths


def _with_inputs(site_store: ArtifactStore, plan: AttemptPlan) -> AttemptPlan:
    """The site's cases with their inputs as the container sees them (cases.json in the site's storage)."""
    listed = json.loads(site_store.get_bytes(f"{plan.storage_prefix}/cases.json"))
    inputs = {str(entry["case_id"]): dict(entry.get("inputs") or {}) for entry in listed}
    missing = [case.key for case in plan.cases if case.key not in inputs]
    if missing:
        raise RuntimeError(f"the site's storage lacks {len(missing)} registered case(s), e.g. {missing[0]}")
    return dataclasses.replace(plan, cases=[CasePlan(c.row_id, c.key, inputs[c.key]) for c in plan.cases])


def _keep_logs(resources: Resources, site_store: ArtifactStore, part: _PartPlan, stdout: bytes, stderr: bytes) -> None:
    """The container's logs stay at the site; the centre gets a copy only where the phase shows full logs."""
    plan = part.plan
    logs: list[tuple[keys.LogStream, bytes]] = [("stdout", stdout), ("stderr", stderr)]
    for stream, data in logs:
        key = (keys.submission_log(plan.submission_id, stream) if part.reevaluation_run_id is None
               else version_log(plan.submission_id, plan.test_set_id, stream))
        site_store.put_bytes(key, data)
        if part.show_logs:
            resources.store.put_bytes(keys.site_part_log(plan.submission_id, plan.test_set_id, part.site, stream), data)


def _labels(part: _PartPlan) -> dict[str, str]:
    """Every container of the part carries its submission and its part: a lost lease stops exactly these."""
    return {SUBMISSION_LABEL: str(part.plan.submission_id), SITE_PART_LABEL: str(part.part_id)}


def _keep_outputs(site_store: ArtifactStore, part: _PartPlan, listing: OutputListing) -> None:
    """What the container wrote stays at the site (a re-evaluation's beside the submission's own run's)."""
    plan = part.plan
    for relative, path in listing.files.items():
        key = (keys.submission_output(plan.submission_id, relative) if part.reevaluation_run_id is None
               else version_output(plan.submission_id, plan.test_set_id, relative))
        site_store.put_file(key, path)


def _usage(result: RunResult) -> dict[str, Any]:
    return {"exit_code": result.exit_code, "wall_seconds": result.wall_seconds, "cpu_seconds": result.cpu_seconds,
            "peak_memory_mb": None if result.peak_memory_bytes is None else result.peak_memory_bytes / MIB}


def _finish(resources: Resources, part: _PartPlan, state: SitePartState, **fields: Any) -> str:
    with resources.session() as session:
        if not transitions.finish_site_part(session, part.part_id, owner=part.owner, state=state, **fields):
            log.info("site part %s: no longer this worker's (reclaimed or cancelled); its result is dropped",
                     part.part_id)
            return "stopped"
    log.info("site part %s (site %s): %s", part.part_id, part.site, state)
    on_part_final(resources, part.plan.submission_id, part.reevaluation_run_id, part.enqueue_results)
    return str(state)


def on_part_final(resources: Resources, submission_id: int, row: int | None, enqueue_results: EnqueueResults) -> None:
    """When every part is final, ask a central worker to pool them (the reconciler asks again if this is lost)."""
    if all_parts_final(resources, submission_id, row):
        try:
            enqueue_results(submission_id, row)
        except Exception:  # noqa: BLE001 - the reconciler queues it on its next round
            log.warning("submission %s: could not queue the pooling of its sites' results", submission_id,
                        exc_info=True)


def _release(resources: Resources, part_id: int, owner: str, message: str, enqueue_results: EnqueueResults) -> str:
    with resources.session() as session:
        transitions.release_site_part(session, part_id, owner=owner,
                                      max_faults=resources.settings.max_infrastructure_faults, message=message)
        state = session.scalar(select(SubmissionSitePart.state).where(SubmissionSitePart.id == part_id))
        found = session.execute(select(SubmissionSitePart.submission_id, SubmissionSitePart.reevaluation_run_id)
                                .where(SubmissionSitePart.id == part_id)).first()
    if state == SitePartState.FAILED and found is not None:
        on_part_final(resources, found[0], found[1], enqueue_results)
    return str(state or "pending")


def _renew(resources: Resources, submission_id: int, row: int | None, part_id: int, owner: str) -> bool:
    """The part's lease, renewed while it runs: lost when it is no longer this worker's or its run no longer goes on
    (a cancel): its containers must stop."""
    with resources.session() as session:
        return _run_goes_on(session, submission_id, row) and transitions.renew_site_part(
            session, part_id, owner=owner, lease_seconds=resources.settings.lease_seconds)


def _run_goes_on(session: Session, submission_id: int, row: int | None) -> bool:
    """Whether the run the part belongs to is still held by its sites: the submission's own (running), or a
    re-evaluation run of it."""
    if row is None:
        return session.scalar(select(Submission.state).where(Submission.id == submission_id)) == SubmissionState.RUNNING
    held = session.execute(select(ReevaluationRun.state, ReevaluationRun.claimed_by)
                           .where(ReevaluationRun.id == row)).first()
    return held is not None and held[0] == ReevaluationRunState.RUNNING and held[1] == transitions.SITES_OWNER


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
