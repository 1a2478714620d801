"""The centre's side of a run at sites (docs/sites.md): hand the parts to the sites, pool what they send back.

A submission to a phase whose test set is held at sites is taken by a central worker like any other (queued ->
running, with a lease). That attempt stages nothing and loads nothing: it makes one part per site holding cases of the
test set (a done part of an earlier attempt on the same version is kept: one site's failure never redoes another's),
queues a job per part on that site's queue, and hands the submission to its parts (transitions.hand_to_sites): it
stays running, with no lease expiry, while sites work, however long a site is offline. Each part is claimed, leased
and retried on its own (app/pipeline/site_part.py). When every part is final, a central job (`pool_site_results`)
takes the submission back and stores one run: the pooled scores (app/pipeline/site_stats.py), every case's outcome,
the sites' usage summed; or the submission's failure, naming the site, when a part failed.

The reconciler (`reconcile_sites`, every worker's round) repairs what crashes leave: a part whose worker stopped
renewing its lease goes back to pending (retried alone, within the platform's fault budget), a pending part whose job
was lost is queued again on its site's queue, and a submission whose parts are all final is pooled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session

from app import transitions
from app.models import CaseStatus, Site, SitePartState, Submission, SubmissionSitePart, SubmissionState, TestSetPart
from app.models._types import utcnow
from app.models.reevaluation import ReevaluationRun, ReevaluationRunState
from app.pipeline import persist
from app.pipeline.persist import CaseUsage, LeaseLost
from app.pipeline.plan import AttemptPlan, plan_attempt
from app.pipeline.recovery import INFRASTRUCTURE_MESSAGE
from app.pipeline.scoring import CaseScoring, Message, ScoringResult
from app.pipeline.site_stats import SiteCase, pooled_scores
from app.resources import Resources
from app.storage import keys
from app.transitions import AttemptOutcome
from evaluation.base import MetricResult

log = logging.getLogger(__name__)
SITE_TEST_SET_PREFIX = "sites"  # TestSet.storage_prefix of a version held at sites (app/usecases/site_cases.py)
FINAL = (SitePartState.DONE, SitePartState.FAILED)

EnqueuePart = Callable[[str, int], object]  # (site name, part id)
EnqueueResults = Callable[[int, int | None], object]  # (submission id, re-evaluation run id or None)


def held_at_sites(plan: AttemptPlan) -> bool:
    return plan.storage_prefix == SITE_TEST_SET_PREFIX


def hand_to_sites(resources: Resources, plan: AttemptPlan, enqueue_part: EnqueuePart,
                  enqueue_results: EnqueueResults, *, reevaluation_run_id: int | None = None) -> AttemptOutcome:
    """Make (or keep) the parts of the submission's run (or of its re-evaluation run on plan's version, held by
    plan.owner), queue the pending ones, and hand the run to them."""
    queued: list[tuple[str, int]] = []
    row = reevaluation_run_id
    with resources.session() as session:
        if not _holds(resources, session, plan, row):
            raise LeaseLost()
        submission = session.get(Submission, plan.submission_id)
        assert submission is not None
        held = session.execute(select(TestSetPart.site_id, Site.name).join(Site, Site.id == TestSetPart.site_id)
                               .where(TestSetPart.test_set_id == plan.test_set_id)).all()
        if not held:
            raise RuntimeError(f"test set {plan.test_set_id} is held at sites but no site holds a part of it")
        mine = session.scalars(select(SubmissionSitePart).where(SubmissionSitePart.submission_id == plan.submission_id,
                                                                _holder_is(row))).all()
        kept = {part.site_id for part in mine
                if part.state == SitePartState.DONE and part.test_set_id == plan.test_set_id
                and (part.result or {}).get("reruns") == submission.reruns}
        # Everything else of this run goes, and any other run's parts of the same version (a failed earlier
        # re-evaluation): a submission has one part per version and site.
        session.execute(delete(SubmissionSitePart).where(
            SubmissionSitePart.submission_id == plan.submission_id, SubmissionSitePart.site_id.not_in(kept),
            or_(_holder_is(row), SubmissionSitePart.test_set_id == plan.test_set_id)))
        for site_id, name in held:
            if site_id in kept:
                continue
            part = SubmissionSitePart(submission_id=plan.submission_id, test_set_id=plan.test_set_id,
                                      site_id=site_id, reevaluation_run_id=row, state=SitePartState.PENDING,
                                      attempts=0, infrastructure_faults=0)
            session.add(part)
            session.flush()
            queued.append((name, part.id))
        handed = (transitions.hand_to_sites(session, plan.submission_id, owner=plan.owner) if row is None else
                  transitions.hand_reevaluation_to_sites(session, row, owner=plan.owner))
        if not handed:
            raise LeaseLost()
    log.info("%s: handed to %s site(s); %s part(s) kept from an earlier attempt", _what(plan.submission_id, row),
             len(held), len(held) - len(queued))
    for name, part_id in queued:
        try:
            enqueue_part(name, part_id)
        except Exception:  # noqa: BLE001 - the reconciler queues every pending part without a job
            log.warning("%s: part %s for site %s not queued now", _what(plan.submission_id, row), part_id, name,
                        exc_info=True)
    if not queued:
        enqueue_results(plan.submission_id, row)
    return AttemptOutcome.AT_SITES


def _holds(resources: Resources, session: Session, plan: AttemptPlan, row: int | None) -> bool:
    if row is None:
        return transitions.holds_lease(session, plan.submission_id, owner=plan.owner)
    return transitions.renew_reevaluation_run(session, row, owner=plan.owner,
                                              lease_seconds=resources.settings.lease_seconds)


def _holder_is(row: int | None) -> ColumnElement[bool]:
    """The parts of the submission's own run (row None) or of one of its re-evaluation runs."""
    column = SubmissionSitePart.reevaluation_run_id
    return column.is_(None) if row is None else column == row


def _what(submission_id: int, row: int | None) -> str:
    return f"submission {submission_id}" + ("" if row is None else f" (re-evaluation run {row})")


def all_parts_final(resources: Resources, submission_id: int, reevaluation_run_id: int | None = None) -> bool:
    with resources.session() as session:
        states = session.scalars(select(SubmissionSitePart.state).where(
            SubmissionSitePart.submission_id == submission_id, _holder_is(reevaluation_run_id))).all()
    return bool(states) and all(state in FINAL for state in states)


@dataclass
class SitePartResult:
    """What one final part holds, read once (app/pipeline/site_part.py wrote it)."""

    site: str
    state: str
    message: str | None
    participant_message: str | None
    result: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_mb: float | None = None
    image_load_seconds: float | None = None


def final_parts(session: Session, submission_id: int, reevaluation_run_id: int | None = None
                ) -> tuple[list[SitePartResult], int, int] | None:
    """The parts of a run (the submission's own, or a re-evaluation run's), their most infrastructure faults, and
    their test set; None while a part is not final."""
    rows = session.execute(select(SubmissionSitePart, Site.name).join(Site, Site.id == SubmissionSitePart.site_id)
                           .where(SubmissionSitePart.submission_id == submission_id,
                                  _holder_is(reevaluation_run_id))
                           .order_by(Site.name)).all()
    if not rows or any(part.state not in FINAL for part, _ in rows):
        return None
    parts = [SitePartResult(name, part.state, part.message, part.participant_message, dict(part.result or {}),
                            part.exit_code, part.wall_seconds, part.cpu_seconds, part.peak_memory_mb,
                            part.image_load_seconds) for part, name in rows]
    return parts, max(part.infrastructure_faults for part, _ in rows), rows[0][0].test_set_id


def pool_site_results(resources: Resources, submission_id: int, worker_name: str) -> AttemptOutcome:
    """Take the submission back from its sites once every part is final, and store its one run (or its failure)."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:12]}"[-64:]
    with resources.session() as session:
        found = final_parts(session, submission_id)
        if found is None:
            return AttemptOutcome.SKIPPED
        parts, faults, test_set_id = found
        if not transitions.take_from_sites(session, submission_id, owner=owner,
                                           lease_seconds=resources.settings.lease_seconds):
            return AttemptOutcome.SKIPPED
        plan = plan_attempt(session, submission_id, owner, test_set_id=test_set_id)
    try:
        return _pool(resources, plan, parts, faults, worker_name)
    except LeaseLost:
        return AttemptOutcome.STOPPED


def participant_failure(parts: list[SitePartResult]) -> str | None:
    """The submission's failure when a part failed through the container's fault, naming the site; else None."""
    failed = [part for part in parts if part.state == SitePartState.FAILED and part.participant_message is not None]
    return f"at site {failed[0].site}: {failed[0].participant_message}" if failed else None


def platform_failure(parts: list[SitePartResult]) -> str | None:
    """Why the run failed when a site's platform kept failing (never the participant's fault); else None."""
    failed = [part for part in parts if part.state == SitePartState.FAILED and part.participant_message is None]
    return f"site {failed[0].site}: {failed[0].message or 'its worker kept failing'}" if failed else None


def usage_totals(parts: list[SitePartResult]) -> dict[str, Any]:
    """The run's figures from its parts: the first failing exit code (0: none), wall and CPU seconds summed, the highest
    peak memory and image load."""
    return {"exit_code": next((p.exit_code for p in parts if p.exit_code), 0),
            "wall_seconds": sum(p.wall_seconds or 0.0 for p in parts),
            "cpu_seconds": _sum_or_none([p.cpu_seconds for p in parts]),
            "peak_memory_mb": max((p.peak_memory_mb for p in parts if p.peak_memory_mb is not None), default=None),
            "image_load_seconds": max((p.image_load_seconds for p in parts if p.image_load_seconds is not None),
                                      default=None)}


def _pool(resources: Resources, plan: AttemptPlan, parts: list[SitePartResult], faults: int, worker_name: str
          ) -> AttemptOutcome:
    if (why := participant_failure(parts)) is not None:  # the container's fault at a site
        return persist.fail(resources, plan, why)
    if (reason := platform_failure(parts)) is not None:
        with resources.session() as session:
            if not transitions.fail_after_faults(session, plan.submission_id, owner=plan.owner, faults=faults,
                                                 message=INFRASTRUCTURE_MESSAGE.format(reason=reason)):
                raise LeaseLost()
        return AttemptOutcome.FAILED
    run_id = persist.record_site_runs(resources, plan, worker_name, stdout=site_logs(resources, plan, parts, "stdout"),
                                      stderr=site_logs(resources, plan, parts, "stderr"), **usage_totals(parts))
    persist.begin_scoring(resources, plan)
    scoring, usage = pooled_scoring(plan, parts)
    outcome = persist.store_scores(resources, plan, run_id, scoring, usage)
    log.info("submission %s: pooled %s site(s): %s", plan.submission_id, len(parts), outcome)
    return outcome


def pooled_scoring(plan: AttemptPlan, parts: list[SitePartResult]) -> tuple[ScoringResult, dict[str, CaseUsage]]:
    """One scoring result for the whole test set from the sites' results (what app/pipeline/scoring.py would have
    given with every case in one place; messages in the platform's words only)."""
    cases: list[SiteCase] = []
    problems: list[Message] = []
    notes: list[Message] = []
    counts = []
    usage: dict[str, CaseUsage] = {}
    for part in parts:
        result = part.result
        cases += [SiteCase.from_json(case) for case in list(result.get("cases") or [])]
        problems += [Message(text, text) for text in list(result.get("problems") or [])]
        notes += [Message(f"site {part.site}: {text}", f"site {part.site}: {text}")
                  for text in list(result.get("notes") or [])]
        counts.append(dict(result.get("score_counts") or {}))
        for key, (wall, cpu, peak) in dict(result.get("case_usage") or {}).items():
            usage[key] = CaseUsage(wall, cpu, peak)
    by_key = {case.case_key: case for case in cases}
    scorings = [CaseScoring(case_key=key, status=CaseStatus(by_key[key].status), message=by_key[key].message,
                            safe_message=by_key[key].message, values=dict(by_key[key].values))
                for key in plan.case_keys if key in by_key]
    if problems:
        return ScoringResult(scorings, {}, problems, notes), usage
    def pooled(subset: str = "all", members: set[str] | None = None) -> dict[str, MetricResult]:
        return pooled_scores(plan.metrics, cases, counts, case_order=plan.case_keys, metadata=plan.case_metadata,
                             cluster_by=plan.cluster_by, subset=subset, members=members)

    subset_scores = {name: pooled(name, members) for name, members in (plan.subsets() or {}).items()}
    return ScoringResult(scorings, pooled(), [], notes, subset_scores), usage


def site_logs(resources: Resources, plan: AttemptPlan, parts: list[SitePartResult], stream: keys.LogStream) -> bytes:
    """Each site's log under a line naming it: the container's own words where the phase shows full logs (the site
    copied them), otherwise a line saying they stayed at the site."""
    out = []
    for part in parts:
        out.append(f"==> site {part.site} <==\n".encode())
        if part.result.get("logs_shared"):
            try:
                out.append(resources.store.get_bytes(keys.site_part_log(plan.submission_id, plan.test_set_id,
                                                                         part.site, stream)))
            except Exception:  # noqa: BLE001 - a log that is gone is said so, never a failure
                out.append(b"(no log kept)\n")
        else:
            out.append(b"(kept at the site: this phase does not show the container's logs)\n")
    joined = b"".join(out)
    cap = plan.policy.log_bytes
    return joined if len(joined) <= cap else joined[-cap:]


def _sum_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v or 0.0 for v in values)


@dataclass
class SitesReport:
    reclaimed: list[int] = field(default_factory=list)  # parts whose lease expired
    queued: list[int] = field(default_factory=list)  # pending parts queued again
    pooled: list[int] = field(default_factory=list)  # submissions whose parts are all final, queued for pooling


def reconcile_sites(resources: Resources, *, enqueue_part: Callable[[str, int], bool],
                    enqueue_results: Callable[[int, int | None], bool]) -> SitesReport:
    """Repair site parts: expired leases back to pending, lost jobs queued again, finished runs pooled (a submission's
    own, or a re-evaluation run's). enqueue_part and enqueue_results queue a job unless one waits already, and say
    whether they did."""
    report = SitesReport()
    with resources.session() as session:
        expired = session.scalars(select(SubmissionSitePart.id).where(
            SubmissionSitePart.state == SitePartState.RUNNING, SubmissionSitePart.lease_expires_at < utcnow())).all()
        for part_id in expired:
            if transitions.release_site_part(session, part_id, owner=None,
                                             max_faults=resources.settings.max_infrastructure_faults,
                                             message="the site worker running it stopped responding"):
                report.reclaimed.append(part_id)
    parts = select(SubmissionSitePart.id, SubmissionSitePart.submission_id, SubmissionSitePart.reevaluation_run_id,
                   SubmissionSitePart.state, Site.name).join(Site, Site.id == SubmissionSitePart.site_id)
    with resources.session() as session:
        waiting = [*session.execute(  # the submissions' own runs, held by their sites
            parts.join(Submission, Submission.id == SubmissionSitePart.submission_id)
            .where(SubmissionSitePart.reevaluation_run_id.is_(None), Submission.state == SubmissionState.RUNNING,
                   Submission.lease_owner == transitions.SITES_OWNER)).all(),
                   *session.execute(  # re-evaluation runs held by their sites
            parts.join(ReevaluationRun, ReevaluationRun.id == SubmissionSitePart.reevaluation_run_id)
            .where(ReevaluationRun.state == ReevaluationRunState.RUNNING,
                   ReevaluationRun.claimed_by == transitions.SITES_OWNER)).all()]
    by_run: dict[tuple[int, int | None], list[str]] = {}
    for part_id, submission_id, row, state, site in waiting:
        by_run.setdefault((submission_id, row), []).append(state)
        if state == SitePartState.PENDING and enqueue_part(site, part_id):
            report.queued.append(part_id)
    for (submission_id, row), states in by_run.items():
        if all(state in FINAL for state in states) and enqueue_results(submission_id, row):
            report.pooled.append(submission_id)
    if report.reclaimed or report.queued or report.pooled:
        log.info("reconciler: site parts reclaimed %s, queued again %s; runs to pool (submissions) %s",
                 report.reclaimed, report.queued, report.pooled)
    return report
