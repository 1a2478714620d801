"""A phase's leaderboard: each entrant's best succeeded submission, sortable by any metric. An entrant is a
participant alone or a team (app/queries/entrants.py): a team has one row, under its name.

On the private part of a split test set, only each entrant's final submissions compete
(app/queries/final_submissions.py): never the best private score of all their submissions.

What a viewer reads (docs/results.md): while a phase's results are not published (Phase.results_published),
only its organisers and the admins get rows (`leaderboard_for`); everyone reads only the metrics in
Phase.leaderboard_columns (all when None), in that order, while the ranking metric orders the rows either way.

The "#" column (`rank`): sorted by the ranking metric, rows are ranked by the phase's ranking scheme
(Phase.analysis["ranking_scheme"], docs/statistics.md §3) as the worker's analysis computed it, when the newest
analysis covers exactly the rows shown (same submissions, same subset, same settings). Otherwise, and for the
aggregate-then-rank scheme, by the ranking metric's aggregate; under another scheme those ranks are
provisional (`ranks_provisional`) until the analysis catches up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Bundle, Session

from app.errors import ServiceError
from app.models import (
    CaseOutcome,
    EvaluationRun,
    Phase,
    Score,
    ScoreSubset,
    Submission,
    SubmissionState,
    Team,
    TestSet,
    User,
)
from app.permissions import is_organiser
from app.queries.analyses import newest_analysis
from app.queries.analysis_document import document_of
from app.queries.costs import CaseFigures, Prices, case_spread, per_case, run_cost
from app.queries.entrants import Entrant
from app.queries.final_submissions import final_rule_text, final_submission_ids
from app.queries.leaderboard_cache import remembered, results_fingerprint
from app.queries.phase_status import PhaseState, phase_status
from evaluation.ranking import min_ranks
from evaluation.ranking_across import combine_ranks
from evaluation.registry import get_metric


@dataclass
class ScoreCell:
    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class LeaderboardRow:
    rank: int
    participant: str  # the entrant's name: the team's, or the participant's username
    submission_id: int
    submitted_at: str
    comment: str
    scores: dict[str, ScoreCell] = field(default_factory=dict)
    container_seconds: float | None = None
    cases_unscored: int = 0  # cases without a valid output (excluded or scored worst, per the phase's policy)
    is_team: bool = False
    submitted_by: str = ""  # the member who uploaded it
    entrant_key: str = ""
    rank_score: float | None = None  # with a ranking across metrics: the weighted mean (or median) of its ranks
    # Time and cost (app/queries/costs.py): the run's, and per case = the run's / the cases it processed (batch
    # mode has no per-case times); cost_per_case only when the operator set prices.
    cpu_seconds: float | None = None
    peak_memory_mb: float | None = None
    cases_run: int = 0
    seconds_per_case: float | None = None
    cost_per_case: float | None = None
    # Per-case mode (each case ran in its own container): the median and 95th percentile of the cases' wall times
    # and costs (app/queries/costs.py case_spread); None in batch mode.
    seconds_per_case_median: float | None = None
    seconds_per_case_p95: float | None = None
    cost_per_case_median: float | None = None
    cost_per_case_p95: float | None = None
    run_id: int = 0


@dataclass
class BaselineRow:
    """A reader as a marked baseline row: not ranked, its scores from the analysis (docs/statistics.md §7)."""

    name: str
    scores: dict[str, ScoreCell] = field(default_factory=dict)
    kind: str = "reader"


@dataclass
class Leaderboard:
    challenge: str
    phase: str
    ranking_metric: str
    sort_metric: str
    metrics: list[dict[str, str | bool]]
    rows: list[LeaderboardRow]
    missing_cases: str = "fail"
    subset: str = "all"
    selection: str = "each participant's (or team's) best succeeded submission"  # which submissions compete
    published: bool = True  # the phase's results are published (False: only organisers and admins get rows)
    ranking_scheme: str = "aggregate-then-rank"  # the phase's scheme (Phase.analysis["ranking_scheme"])
    ranks_provisional: bool = False  # "#" is the aggregate's order while the scheme's ranking is being computed
    ranking_across: dict[str, Any] | None = None  # Phase.ranking_across: the "#" combines the ranks on these metrics
    baselines: list[BaselineRow] = field(default_factory=list)  # readers, from the newest analysis of this subset
    prices: Prices | None = None  # the operator's prices when any is set (the rows' cost_per_case), else None
    test_set_version: int | None = None  # the test set version its runs are on (None: the phase has none yet)

    def as_dict(self) -> dict[str, Any]:
        return {
            "challenge": self.challenge,
            "phase": self.phase,
            "test_set_version": self.test_set_version,
            "published": self.published,
            "ranking_metric": self.ranking_metric,
            "sorted_by": self.sort_metric,
            "missing_cases": self.missing_cases,
            "subset": self.subset,
            "selection": self.selection,
            "ranking_scheme": self.ranking_scheme,
            "ranks_provisional": self.ranks_provisional,
            "ranking_across": self.ranking_across,
            "prices": None if self.prices is None else {
                "cpu_hour": self.prices.cpu_hour, "gb_hour": self.prices.gb_hour, "gpu_hour": self.prices.gpu_hour,
                "currency": self.prices.currency},
            "baselines": [{"name": b.name, "kind": b.kind,
                           "scores": {name: {"value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high}
                                      for name, c in b.scores.items()}} for b in self.baselines],
            "metrics": self.metrics,
            "rows": [
                {
                    "rank": r.rank,
                    "participant": r.participant,
                    "is_team": r.is_team,
                    "submitted_by": r.submitted_by,
                    "submission_id": r.submission_id,
                    "submitted_at": r.submitted_at,
                    "comment": r.comment,
                    "container_seconds": r.container_seconds,
                    "cases_unscored": r.cases_unscored,
                    "rank_score": r.rank_score,
                    "cpu_seconds": r.cpu_seconds,
                    "peak_memory_mb": r.peak_memory_mb,
                    "cases_run": r.cases_run,
                    "seconds_per_case": r.seconds_per_case,
                    "cost_per_case": r.cost_per_case,
                    "seconds_per_case_median": r.seconds_per_case_median,
                    "seconds_per_case_p95": r.seconds_per_case_p95,
                    "cost_per_case_median": r.cost_per_case_median,
                    "cost_per_case_p95": r.cost_per_case_p95,
                    "scores": {name: {"value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high}
                               for name, c in r.scores.items()},
                }
                for r in self.rows
            ],
        }


def phase_metrics(phase: Phase) -> list[dict[str, str | bool]]:
    """Every score a phase publishes: built-in metric plugins, then the evaluator's aggregates."""
    described: list[dict[str, str | bool]] = []
    for spec in phase.metrics:
        metric = get_metric(spec["name"])
        described.append({"name": metric.name, "title": metric.title, "higher_is_better": metric.higher_is_better})
    for aggregate in (phase.evaluator or {}).get("aggregates", []):
        described.append({"name": aggregate["name"], "title": aggregate.get("title") or aggregate["name"],
                          "higher_is_better": bool(aggregate.get("higher_is_better", True))})
    return described


NOT_PUBLISHED = "The organisers have not published this phase's results yet."


def results_visible(phase: Phase, viewer: User | None) -> bool:
    """Whether `viewer` (None: anonymous) may read the phase's scores: published, or they organise it."""
    return phase.results_published or (viewer is not None and is_organiser(viewer, phase))


def shown_metrics(phase: Phase) -> list[dict[str, str | bool]]:
    """The leaderboard's columns: Phase.leaderboard_columns in that order (names the phase no longer has are
    skipped), or every metric when None."""
    described = phase_metrics(phase)
    if phase.leaderboard_columns is None:
        return described
    by_name = {str(m["name"]): m for m in described}
    return [by_name[name] for name in phase.leaderboard_columns if name in by_name]


def leaderboard_for(session: Session, phase: Phase, viewer: User | None, sort_metric: str | None = None, *,
                    prices: Prices | None = None, test_set: TestSet | None = None) -> Leaderboard:
    """The leaderboard as `viewer` may read it: without rows while the results are unpublished, unless they
    organise the challenge (they read everything; `published` says participants do not). With the operator's
    `prices` (app/queries/costs.py), rows carry a cost per case. `test_set`: another version of the phase's test set
    than the one it ranks on (app/queries/test_set_versions.py)."""
    test_set_id = None if test_set is None or test_set.id == phase.current_test_set_id else test_set.id
    if results_visible(phase, viewer):  # built once per state of the phase's results (app/queries/leaderboard_cache.py)
        key = ("leaderboard", sort_metric, visible_subset(phase), repr(prices), results_fingerprint(session, phase),
               *(() if test_set_id is None else (("version", test_set_id),)))
        board = remembered(key, lambda: build_leaderboard(session, phase, sort_metric, prices=prices,
                                                          test_set_id=test_set_id))
    else:
        board = build_leaderboard(session, phase, sort_metric, rows=False, prices=prices, test_set_id=test_set_id)
    board.published = phase.results_published
    return board


def visible_subset(phase: Phase, *, organiser: bool = False, requested: str | None = None) -> ScoreSubset:
    """Which cases' scores a viewer sees: all, or for a split test set the public part while the phase
    runs and the private part once it has closed. Organisers may ask for any part at any time."""
    if phase.split_column is None:
        return ScoreSubset.ALL
    if organiser and requested in tuple(ScoreSubset):
        return ScoreSubset(requested)
    closed = phase_status(phase).state == PhaseState.CLOSED
    return ScoreSubset.PRIVATE if closed else ScoreSubset.PUBLIC


def build_leaderboard(session: Session, phase: Phase, sort_metric: str | None = None, *,
                      subset: str | None = None, rows: bool = True, scheme_ranks: bool = True,
                      prices: Prices | None = None, test_set_id: int | None = None) -> Leaderboard:
    """Ranked rows with the phase's leaderboard columns (`rows=False`: the board's frame only, no scores read).
    `scheme_ranks=False`: rank by the aggregate whatever the scheme (the worker's input to the analysis).
    `prices`: the operator's (app/queries/costs.py); rows get a cost per case when any is set.
    `test_set_id`: the runs on that version of the phase's test set (None: the one the phase ranks on)."""
    test_set_id = test_set_id or phase.current_test_set_id
    version = session.scalar(select(TestSet.version).where(TestSet.id == test_set_id)) if test_set_id else None
    prices = prices if prices is not None and prices.any_set else None
    subset = subset or visible_subset(phase)
    scheme = str((phase.analysis or {}).get("ranking_scheme") or "aggregate-then-rank")
    described = phase_metrics(phase)
    shown = shown_metrics(phase)
    sortable = [str(m["name"]) for m in shown]
    sortable += [] if phase.ranking_metric in sortable else [phase.ranking_metric]
    sort_metric = sort_metric or phase.ranking_metric
    if sort_metric not in sortable:
        raise ServiceError(f"cannot sort by {sort_metric!r}; this leaderboard sorts by {', '.join(sortable)}")
    higher_is_better = {str(m["name"]): bool(m["higher_is_better"]) for m in described}
    descending = higher_is_better[sort_metric]
    if sort_metric == phase.ranking_metric:
        descending = phase.ranking_order == "descending"

    if not rows:
        return Leaderboard(challenge=phase.challenge.slug, phase=phase.slug, ranking_metric=phase.ranking_metric,
                           sort_metric=sort_metric, metrics=shown, missing_cases=phase.missing_cases, subset=subset,
                           rows=[], ranking_scheme=scheme, prices=prices, test_set_version=version)
    found: Sequence[Any] = session.execute(
        # Bundles of the columns read, not ORM entities: a big phase's board reads 30,000 rows (10,000 submissions x
        # 3 metrics), and building an entity per row and table was most of its cold build (bench_leaderboard.py).
        select(Bundle("submission", Submission.id, Submission.user_id, Submission.team_id, Submission.created_at,
                      Submission.comment),
               User.username, Team.name,
               Bundle("run", EvaluationRun.id, EvaluationRun.container_seconds, EvaluationRun.cases_valid,
                      EvaluationRun.cases_invalid, EvaluationRun.cpu_seconds, EvaluationRun.peak_memory_mb),
               Bundle("score", Score.metric, Score.value, Score.ci_low, Score.ci_high))
        .join(User, User.id == Submission.user_id)
        .outerjoin(Team, Team.id == Submission.team_id)
        .join(EvaluationRun, (EvaluationRun.submission_id == Submission.id)
              & (EvaluationRun.test_set_id == test_set_id))
        .join(Score, Score.run_id == EvaluationRun.id)
        .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED,
               Submission.hidden_at.is_(None),
               Score.subset == subset)
    ).all()
    selection = Leaderboard.selection
    if subset == ScoreSubset.PRIVATE:
        finals = final_submission_ids(session, phase)
        found = [row for row in found if row[0].id in finals]
        selection = final_rule_text(phase)
    by_submission: dict[int, LeaderboardRow] = {}
    for submission, username, team_name, run, score in found:
        entrant = Entrant(submission.user_id, username, submission.team_id, team_name)
        row = by_submission.setdefault(submission.id, LeaderboardRow(
            rank=0, participant=entrant.name, submission_id=submission.id,
            submitted_at=submission.created_at.isoformat(timespec="seconds"), comment=submission.comment,
            container_seconds=run.container_seconds, cases_unscored=run.cases_invalid,
            is_team=entrant.team_id is not None, submitted_by=username, entrant_key=entrant.key, run_id=run.id,
            **_time_and_cost(run, prices, phase.gpus)))
        row.scores[score.metric] = ScoreCell(score.value, score.ci_low, score.ci_high)

    def key(row: LeaderboardRow) -> tuple[float, int]:
        cell = row.scores.get(sort_metric)
        value = cell.value if cell and cell.value is not None else float("-inf" if descending else "inf")
        return (-value if descending else value, row.submission_id)

    best: dict[str, LeaderboardRow] = {}
    for row in sorted(by_submission.values(), key=key):
        best.setdefault(row.entrant_key, row)
    ranked = sorted(best.values(), key=key)
    previous: tuple[float, int] | None = None
    for position, row in enumerate(ranked, start=1):
        value = key(row)[0]
        row.rank = ranked[position - 2].rank if previous is not None and previous[0] == value else position
        previous = (value, row.submission_id)
    provisional = False
    if scheme_ranks and sort_metric == phase.ranking_metric and ranked and phase.ranking_across:
        _rank_across_scores(ranked, phase.ranking_across)  # exact under aggregate-then-rank, provisional otherwise
    if scheme_ranks and sort_metric == phase.ranking_metric and scheme != "aggregate-then-rank" and ranked:
        by_entry = _scheme_ranks(session, phase, subset, scheme, ranked, test_set_id)
        if by_entry is None:
            provisional = True
        else:
            ranked.sort(key=lambda row: by_entry[row.participant][1])
            for row in ranked:
                row.rank = by_entry[row.participant][0]
                if phase.ranking_across:
                    row.rank_score = by_entry[row.participant][2]
    columns = {str(m["name"]) for m in shown}
    for row in ranked:  # the ranking metric decided the order above even when it is not a column
        row.scores = {name: cell for name, cell in row.scores.items() if name in columns}
    baselines = _reader_baselines(session, phase, subset, columns, test_set_id)
    _add_case_spread(session, ranked, prices, phase.gpus)
    return Leaderboard(
        challenge=phase.challenge.slug,
        phase=phase.slug,
        ranking_metric=phase.ranking_metric,
        sort_metric=sort_metric,
        metrics=shown,
        missing_cases=phase.missing_cases,
        subset=subset,
        selection=selection,
        rows=ranked,
        ranking_scheme=scheme,
        ranks_provisional=provisional,
        ranking_across=phase.ranking_across,
        baselines=baselines,
        prices=prices,
        test_set_version=version,
    )


def _time_and_cost(run: EvaluationRun, prices: Prices | None, gpus: int) -> dict[str, Any]:
    """A row's time and cost fields from its run (batch mode: per case = the run's / its cases)."""
    cases = run.cases_valid + run.cases_invalid
    cost = run_cost(prices, wall_seconds=run.container_seconds, cpu_seconds=run.cpu_seconds,
                    peak_memory_mb=run.peak_memory_mb, gpus=gpus)
    return {"cpu_seconds": run.cpu_seconds, "peak_memory_mb": run.peak_memory_mb, "cases_run": cases,
            "seconds_per_case": per_case(run.container_seconds, cases), "cost_per_case": per_case(cost, cases)}


def _add_case_spread(session: Session, rows: list[LeaderboardRow], prices: Prices | None, gpus: int) -> None:
    """Per-case mode: each row's median and 95th percentile time and cost per case, from its cases' own runs."""
    if not rows:
        return
    # Only runs with per-case times are read in full: a batch run's outcomes have none (1,000 rows per leaderboard
    # row at 1,000 cases: most of a big board's build, bench/bench_leaderboard.py), and its spread is None anyway.
    timed = list(session.scalars(select(CaseOutcome.run_id).distinct().where(
        CaseOutcome.run_id.in_([row.run_id for row in rows]), CaseOutcome.wall_seconds.is_not(None))))
    figures: dict[int, list[CaseFigures]] = {}
    for run_id, wall, cpu, peak in session.execute(
            select(CaseOutcome.run_id, CaseOutcome.wall_seconds, CaseOutcome.cpu_seconds, CaseOutcome.peak_memory_mb)
            .where(CaseOutcome.run_id.in_(timed))) if timed else ():
        figures.setdefault(run_id, []).append(CaseFigures(wall, cpu, peak))
    for row in rows:
        spread = case_spread(prices, figures.get(row.run_id, []), gpus)
        if spread is not None:
            row.seconds_per_case_median, row.seconds_per_case_p95 = spread.seconds_median, spread.seconds_p95
            row.cost_per_case_median, row.cost_per_case_p95 = spread.cost_median, spread.cost_p95


def _reader_baselines(session: Session, phase: Phase, subset: str, columns: set[str],
                      test_set_id: int | None = None) -> list[BaselineRow]:
    """The readers' rows of the newest analysis of this subset of cases under the phase's current settings (the
    readers' scores do not depend on which submissions it covered), with the leaderboard's columns."""
    if not (phase.analysis or {}).get("readers_key"):
        return []
    found = newest_analysis(session, phase, test_set_id=test_set_id)
    if found is None:
        return []
    document = document_of(found)
    if document.subset != subset or document.settings != dict(phase.analysis or {}):
        return []
    return [BaselineRow(name=reader, scores={metric: ScoreCell(cell.get("value"), cell.get("ci_low"),
                                                               cell.get("ci_high"))
                                             for metric, cell in values.items() if metric in columns})
            for reader, values in document.reader_rows.items()]


def _rank_across_scores(rows: list[LeaderboardRow], across: dict[str, Any]) -> None:
    """Rank and re-order `rows` by the weighted mean (or median) of their ranks on each of the metrics (aggregate
    then rank, from the scores shown; a missing score ranks last), ties in the previous order (the ranking
    metric's). The analysis computes the same for the other schemes (evaluation/ranking_across.py)."""
    metrics = across["metrics"]
    ranks = np.empty((len(rows), len(metrics)))
    for m, ranked in enumerate(metrics):
        higher = ranked["order"] == "descending"
        worst = -np.inf if higher else np.inf
        values = np.array([cell.value if (cell := row.scores.get(ranked["metric"])) and cell.value is not None
                           else worst for row in rows], dtype=np.float64)
        ranks[:, m] = min_ranks(values, higher)
    scores = combine_ranks(ranks, [float(m["weight"]) for m in metrics], across["combine"])
    final = min_ranks(scores, higher_is_better=False)
    for row, rank, score in zip(rows, final, scores, strict=True):
        row.rank, row.rank_score = int(rank), float(score)
    rows.sort(key=lambda row: row.rank)  # stable: ties keep the ranking metric's order


def _scheme_ranks(session: Session, phase: Phase, subset: str, scheme: str, rows: list[LeaderboardRow],
                  test_set_id: int | None = None) -> dict[str, tuple[int, int, float]] | None:
    """Entry -> (its rank under the phase's scheme, its place in the analysis's order, the score ranked), from the
    newest analysis when it covers exactly these rows (same submissions, subset, settings, direction and ranking
    across metrics); None otherwise."""
    found = newest_analysis(session, phase, test_set_id=test_set_id)
    if found is None:
        return None
    document = document_of(found)
    if (document.subset != subset or document.settings != dict(phase.analysis or {})
            or sorted(found.submission_ids) != sorted(row.submission_id for row in rows)):
        return None
    if phase.ranking_across:
        ranking = document.combined_ranking or {}
        if document.ranking_across != phase.ranking_across or ranking.get("scheme") != scheme:
            return None
    else:
        ranking = document.ranking(phase.ranking_metric)
        if ranking.get("scheme") != scheme \
                or ranking.get("higher_is_better") is not (phase.ranking_order == "descending"):
            return None
    by_entry = {str(e["entry"]): (int(e["rank"]), place, float(e["score"]))
                for place, e in enumerate(ranking.get("entries", []))}
    if len(by_entry) != len(rows) or set(by_entry) != {row.participant for row in rows}:
        return None
    return by_entry
