"""The decision report of a phase (docs/report.md): what a hospital's procurement committee reads to choose an
algorithm. Gathered from the stored analysis (AnalysisDocument) and the leaderboard; nothing is computed again
here except sums and ratios of stored numbers (prevalence, seconds per case, interval widths).

Who reads what: organisers and admins every entry; anyone else only while the report and the results are
published, and then only their own entry (their team's, or their own): other entries are left out, not
anonymised (a stable pseudonym next to a site's case counts and a rank can be re-identified), and so are the
figures, which label every entry.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.models import Phase, PhaseAnalysis, User
from app.permissions import is_organiser
from app.queries.analyses import latest_analysis
from app.queries.analysis_document import AnalysisDocument, document_of
from app.queries.costs import Prices
from app.queries.entrants import entrant_of
from app.queries.leaderboard import Leaderboard, build_leaderboard, phase_metrics
from app.storage import ArtifactStore

# Fewer positive cases than this at a site (or overall) makes its sensitivity-type estimates wide; the report
# says how wide from the stored intervals. A rule of thumb, not a power calculation.
FEW_POSITIVES = 50
# Sites whose prevalence differs by more than this (absolute, as a fraction) are called out.
PREVALENCE_SPREAD = 0.10

NOT_PUBLISHED = ("The organisers have not published this phase's report; it is shown to participants (their own "
                 "entry only) once they do.")
RESULTS_HIDDEN = "The organisers have not published this phase's results yet, so its report is not shown either."
NO_ANALYSIS = "There is no analysis of this phase yet: the report is written from it after the first scored submission."


@dataclass
class SiteRow:
    site: str
    cases: int
    positives: int | None

    @property
    def prevalence(self) -> float | None:
        return None if self.positives is None or not self.cases else self.positives / self.cases


@dataclass
class EntryRow:
    entry: str
    mine: bool  # the viewer's own entry
    submission_id: int | None
    metrics: dict[str, dict[str, Any]]  # metric -> {"value", "ci_low", "ci_high"}
    rank: int | None = None
    score: float | None = None  # the ranking's score: the metric's value, or the mean/median rank across metrics
    metric_ranks: dict[str, int] = field(default_factory=dict)  # per-metric ranks of a ranking across metrics
    median_rank: float | None = None
    rank_low: int | None = None
    rank_high: int | None = None
    p_first: float | None = None
    not_different_from_leader: bool | None = None
    difference_to_leader: dict[str, Any] | None = None
    container_seconds: float | None = None
    seconds_per_case: float | None = None
    cpu_seconds: float | None = None
    peak_memory_mb: float | None = None
    cost_per_case: float | None = None  # in DecisionReport.currency; None: no price set, or the run lacks a figure
    cases_unscored: int = 0
    # Per-case mode: the median and 95th percentile of the cases' own times and costs (None in batch mode).
    seconds_per_case_median: float | None = None
    seconds_per_case_p95: float | None = None
    cost_per_case_median: float | None = None
    cost_per_case_p95: float | None = None


@dataclass
class DecisionReport:
    phase: Phase
    analysis: PhaseAnalysis | None
    full: bool  # True: every entry (organisers); False: the viewer's own entry only
    document: AnalysisDocument = field(default_factory=AnalysisDocument)
    test_set_version: int | None = None
    test_set_cases: int = 0
    site_column: str | None = None
    sites: list[SiteRow] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # name, title, higher_is_better
    rows: list[EntryRow] = field(default_factory=list)
    entries_total: int = 0
    kendall_tau: dict[str, float | None] = field(default_factory=dict)  # mean, ci_low, ci_high
    operating_points: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry -> report (rows shown)
    readers: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry -> study (rows shown)
    # The ranking across several metrics when the phase has one (Phase.ranking_across): what "#" follows, so the
    # ranking section's ranks and uncertainty are its; {"metric", "combine", "metrics": [{metric, weight, ...}]}.
    combined: dict[str, Any] | None = None
    reader_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # reader -> metric -> estimate, if present
    figures: dict[str, str] = field(default_factory=dict)  # name -> SVG as a data: URI (full report only)
    caveats: list[str] = field(default_factory=list)
    ranks_provisional: bool = False
    currency: str | None = None  # the operator's prices' currency when any price is set (costs are shown)
    computed_at: datetime | None = None

    @property
    def ranking_metric(self) -> str:
        return self.phase.ranking_metric

    @property
    def ranking_scheme(self) -> str:
        return self.document.ranking_scheme


def may_read_report(phase: Phase, viewer: User | None) -> tuple[bool, str]:
    """(whether `viewer` may open the report at all, the reason when not). Organisers always may."""
    if viewer is not None and is_organiser(viewer, phase):
        return True, ""
    if not phase.results_published:
        return False, RESULTS_HIDDEN
    if not phase.report_published:
        return False, NOT_PUBLISHED
    return True, ""


def decision_report(session: Session, store: ArtifactStore, phase: Phase, viewer: User,
                    prices: Prices | None = None) -> DecisionReport:
    """The report as `viewer` may read it; Forbidden (with the reason) when they may not read it at all. With the
    operator's `prices` (app/queries/costs.py), rows carry a cost per case."""
    allowed, reason = may_read_report(phase, viewer)
    if not allowed:
        raise Forbidden(reason)
    return _build(session, store, phase, viewer if not is_organiser(viewer, phase) else None, prices)


def operator_report(session: Session, store: ArtifactStore, phase: Phase,
                    prices: Prices | None = None) -> DecisionReport:
    """Every entry, for an operator at the server's shell (`podium report render`)."""
    return _build(session, store, phase, None, prices)


def _build(session: Session, store: ArtifactStore, phase: Phase, participant: User | None,
           prices: Prices | None) -> DecisionReport:
    """`participant` None: the full report; otherwise that participant's own rows only."""
    full = participant is None
    analysis = latest_analysis(session, phase)
    report = DecisionReport(phase=phase, analysis=analysis, full=full)
    test_set = phase.current_test_set
    if test_set is not None:
        report.test_set_version, report.test_set_cases = test_set.version, test_set.case_count
    if analysis is None:
        return report
    document = document_of(analysis)
    report.document, report.computed_at = document, analysis.created_at
    board = build_leaderboard(session, phase, subset=str(document.subset), prices=prices)
    report.currency = prices.currency if prices is not None and prices.any_set else None
    report.ranks_provisional = board.ranks_provisional or sorted(analysis.submission_ids) != sorted(
        r.submission_id for r in board.rows)
    mine = _own_entries(session, phase, participant, board) if participant is not None else set()
    shown = [e for e in document.entries if full or e in mine]
    report.entries_total = len(document.entries)
    report.metrics = _metrics(phase, document)
    report.site_column, report.sites = _sites(document)
    report.rows = _rows(phase, document, board, shown, mine, full=full)
    headline = document.headline_ranking(phase.ranking_metric)
    if document.combined_ranking:
        report.combined = {k: document.combined_ranking.get(k) for k in ("metric", "combine", "metrics", "scheme")}
    uncertainty = headline.get("uncertainty", {})
    report.kendall_tau = {"mean": uncertainty.get("kendall_tau_mean"), "ci_low": uncertainty.get("kendall_tau_ci_low"),
                          "ci_high": uncertainty.get("kendall_tau_ci_high")}
    report.operating_points = {e: document.operating_points[e] for e in shown if e in document.operating_points}
    report.readers = {e: document.readers[e] for e in shown if e in document.readers}
    raw = analysis.document or {}
    report.reader_rows = _reader_rows(raw.get("reader_rows"))
    if full:
        report.figures = _figures(store, analysis)
    report.caveats = caveats(report, board)
    return report


def _own_entries(session: Session, phase: Phase, viewer: User, board: Leaderboard) -> set[str]:
    """The analysis labels of the viewer's entrant (their team, or themselves alone)."""
    key = entrant_of(session, phase.challenge_id, viewer).key
    return {row.participant for row in board.rows if row.entrant_key == key}


def _metrics(phase: Phase, document: AnalysisDocument) -> list[dict[str, Any]]:
    """Every metric the phase declares that the analysis ranked (its scalar metrics), then evaluator aggregates
    (read from the leaderboard's scores)."""
    described = phase_metrics(phase)
    return [dict(m) for m in described if str(m["name"]) in document.rankings or not _is_plugin(phase, m)]


def _is_plugin(phase: Phase, metric: dict[str, Any]) -> bool:
    return any(spec["name"] == metric["name"] for spec in phase.metrics)


def _sites(document: AnalysisDocument) -> tuple[str | None, list[SiteRow]]:
    """The first breakdown column (the one operating points are computed per) and its groups' cases and
    positives (the same for every entry: they are scored on the same cases)."""
    columns = list(document.settings.get("breakdown_by") or [])
    if not columns:
        return None, []
    column = columns[0]
    per_entry = document.breakdowns.get(column) or {}
    groups = next(iter(per_entry.values()), [])
    return column, [SiteRow(str(g["group"]), int(g["n_cases"]), g.get("n_positives")) for g in groups]


def _rows(phase: Phase, document: AnalysisDocument, board: Leaderboard, shown: list[str], mine: set[str], *,
          full: bool) -> list[EntryRow]:
    """The rows shown. Not `full` (a participant): without the difference to the leader, which with their own
    value would give away the leader's score."""
    by_label = {row.participant: row for row in board.rows}
    headline = document.headline_ranking(phase.ranking_metric)  # the ranking across metrics, when there is one
    ranked = {e["entry"]: e for e in headline.get("entries", [])}
    uncertainty = document.headline_uncertainty_by_entry(phase.ranking_metric)
    order = [e["entry"] for e in headline.get("entries", [])]
    rows = []
    for entry in sorted(shown, key=lambda e: order.index(e) if e in order else len(order)):
        board_row = by_label.get(entry)
        metrics: dict[str, dict[str, Any]] = {}
        for name, ranking in document.rankings.items():
            found = next((e for e in ranking.get("entries", []) if e["entry"] == entry), None)
            if found is not None:
                metrics[name] = {"value": found.get("value"), "ci_low": found.get("ci_low"),
                                 "ci_high": found.get("ci_high")}
        if board_row is not None:
            for name, cell in board_row.scores.items():
                metrics.setdefault(name, {"value": cell.value, "ci_low": cell.ci_low, "ci_high": cell.ci_high})
        u = uncertainty.get(entry, {})
        seconds = board_row.container_seconds if board_row is not None else None
        rows.append(EntryRow(
            entry=entry, mine=entry in mine, submission_id=board_row.submission_id if board_row else None,
            metrics=metrics, rank=ranked.get(entry, {}).get("rank"), score=ranked.get(entry, {}).get("score"),
            metric_ranks=dict(ranked.get(entry, {}).get("metric_ranks") or {}), median_rank=u.get("median_rank"),
            rank_low=u.get("rank_low"), rank_high=u.get("rank_high"), p_first=u.get("p_first"),
            not_different_from_leader=u.get("not_different_from_leader"),
            difference_to_leader={"value": u.get("difference_to_leader"), "ci_low": u.get("difference_ci_low"),
                                  "ci_high": u.get("difference_ci_high")} if u and full else None,
            container_seconds=seconds, cases_unscored=board_row.cases_unscored if board_row is not None else 0,
            # The leaderboard's figures (app/queries/costs.py): per case = the run's / the cases it processed.
            seconds_per_case=board_row.seconds_per_case if board_row is not None else None,
            cpu_seconds=board_row.cpu_seconds if board_row is not None else None,
            peak_memory_mb=board_row.peak_memory_mb if board_row is not None else None,
            cost_per_case=board_row.cost_per_case if board_row is not None else None,
            seconds_per_case_median=board_row.seconds_per_case_median if board_row is not None else None,
            seconds_per_case_p95=board_row.seconds_per_case_p95 if board_row is not None else None,
            cost_per_case_median=board_row.cost_per_case_median if board_row is not None else None,
            cost_per_case_p95=board_row.cost_per_case_p95 if board_row is not None else None))
    return rows


def _reader_rows(rows: Any) -> dict[str, dict[str, Any]]:
    """Readers as baseline rows (reader -> metric -> {"value", "ci_low", "ci_high"}), when the analysis has them."""
    if not isinstance(rows, dict):
        return {}
    return {str(reader): {str(m): e for m, e in metrics.items() if isinstance(e, dict)}
            for reader, metrics in rows.items() if isinstance(metrics, dict)}


def _figures(store: ArtifactStore, analysis: PhaseAnalysis) -> dict[str, str]:
    """The stored SVG figures as data: URIs, in a fixed order (ranks, ROC overall, ROC per site, forest plots).
    Embedded in the page, so a PDF needs no second request; as images, not inline markup, because the SVG holds
    entrants' names and a browser runs no script inside an image."""
    def order(name: str) -> tuple[int, str]:
        return (0 if name == "ranks.svg" else 1 if name == "roc.svg" else 2 if name.startswith("roc-") else 3, name)

    return {name: "data:image/svg+xml;base64," + base64.b64encode(store.get_bytes(analysis.figures[name])).decode()
            for name in sorted(analysis.figures, key=order)}


def _cases_in_subset(phase: Phase, subset: str) -> int:
    """How many cases of the current test set the analysed subset holds (all, or the public/private part)."""
    test_set = phase.current_test_set
    if test_set is None:
        return 0
    if subset not in ("public", "private") or not phase.split_column:
        return test_set.case_count
    return sum(1 for case in test_set.cases if case.meta.get(phase.split_column) == subset)


def _width(estimate: dict[str, Any] | None) -> float | None:
    if not estimate or estimate.get("ci_low") is None or estimate.get("ci_high") is None:
        return None
    return float(estimate["ci_high"]) - float(estimate["ci_low"])


def caveats(report: DecisionReport, board: Leaderboard) -> list[str]:
    """What the numbers say about how far to trust them, in words; never another entrant's name or score in a
    participant's report."""
    phase, document, notes = report.phase, report.document, []
    metric = phase.ranking_metric
    # Sample size: sites (or the whole set) with few positives; how wide the shown entries' intervals are there.
    for site in report.sites:
        if site.positives is not None and site.positives < FEW_POSITIVES:
            widths = [w for entry in (r.entry for r in report.rows)
                      for g in (document.breakdowns.get(report.site_column or "", {}).get(entry) or [])
                      if g["group"] == site.site and (w := _width(g)) is not None]
            sens = [w for entry in report.operating_points.values() for s in entry.get("sites", [])
                    if s.get("site") == site.site and (w := _width(s.get("own", {}).get("sensitivity"))) is not None]
            how = []  # intervals of width 0 (a value at a bound, e.g. sensitivity 1.0) say nothing about width
            if any(w > 0 for w in widths):
                how.append(f"{metric}'s 95% intervals there are up to {max(widths):.2f} wide")
            if any(w > 0 for w in sens):
                how.append(f"sensitivity at the operating point up to {max(sens):.2f} wide")
            notes.append(f"Small sample: {site.site} has only {site.positives} positive case"
                         f"{'' if site.positives == 1 else 's'} (of {site.cases}), fewer than {FEW_POSITIVES}; "
                         + ("; ".join(how) if how else "its estimates are uncertain") + ".")
    total_positives = sum(s.positives or 0 for s in report.sites) if report.sites else None
    if total_positives is not None and total_positives < FEW_POSITIVES and report.sites:
        notes.append(f"Small sample: only {total_positives} positive cases in all, fewer than {FEW_POSITIVES}.")
    prevalences = [(s.prevalence, s.site) for s in report.sites if s.prevalence is not None]
    if len(prevalences) > 1:
        low, high = min(prevalences), max(prevalences)
        if high[0] - low[0] > PREVALENCE_SPREAD:
            notes.append(f"Prevalence differs per {report.site_column}: from {low[0]:.0%} ({low[1]}) to "
                         f"{high[0]:.0%} ({high[1]}). PPV and the recall rate depend on prevalence, so a threshold "
                         "chosen at one site does not carry over; compare the per-site operating points.")
    if report.ranks_provisional:
        notes.append("Provisional ranks: the analysis does not cover the leaderboard's current submissions (a "
                     "submission was scored, re-run or hidden since); the ranks may change when it is computed again.")
    uncertain = [r for r in report.rows if r.rank_low is not None and r.rank_high is not None
                 and r.rank_low != r.rank_high]
    if uncertain:
        if report.full:
            names = ", ".join(f"{r.entry} ({r.rank_low}–{r.rank_high})" for r in uncertain)
            notes.append(f"Uncertain ranks: the 95% rank intervals of {names} span more than one place.")
        else:
            r = uncertain[0]
            notes.append(f"Uncertain rank: your rank's 95% interval spans places {r.rank_low} to {r.rank_high}.")
    close = [r for r in report.rows if r.not_different_from_leader and r.rank not in (None, 1)]
    if close and report.full:
        notes.append("Not different from the leader: " + ", ".join(r.entry for r in close)
                     + " (the 95% interval of the difference contains 0); the ranking does not separate them.")
    if not phase.results_published:
        notes.append("Unpublished results: participants do not see this phase's results yet.")
    if report.full and not phase.report_published:
        notes.append("Unpublished report: participants cannot open this report yet.")
    subset = str(document.subset)
    in_subset = _cases_in_subset(phase, subset)
    if subset == "public":
        notes.append(f"Split test set: the public part only ({in_subset} of {report.test_set_cases} cases) "
                     "while the phase runs; the final ranking uses the private part once the phase closes.")
    elif subset == "private":
        notes.append(f"Split test set: the private part ({in_subset} of {report.test_set_cases} cases), "
                     "final submissions only.")
    if in_subset and document.cases < in_subset:
        notes.append(f"Cases left out: the analysis uses {document.cases} of the {in_subset} cases, those every "
                     "entry has a valid output for (the phase excludes missing cases); an entry that fails on "
                     "hard cases is compared on the easier rest.")
    unscored = [r for r in report.rows if r.cases_unscored]
    if unscored:
        policy = board.missing_cases
        treated = ("left out of every entry's analysis (the analysis uses the cases every entry has a value for)"
                   if policy == "exclude" else "scored as the worst value" if policy == "worst" else "not scored")
        which = ", ".join(f"{r.entry}: {r.cases_unscored}" for r in unscored) if report.full else \
            str(unscored[0].cases_unscored)
        notes.append(f"Missing cases ({which}) without a valid output were {treated}.")
    return notes
