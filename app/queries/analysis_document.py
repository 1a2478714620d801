"""The typed shape of a phase analysis (PhaseAnalysis.document), written by the worker and read by the web
pages, the REST API and the CLI. docs/statistics.md explains each part.

The nested reports are the `as_dict()` forms of the evaluation library's results (evaluation.ranking.Ranking,
evaluation.breakdown, evaluation.operating_points, evaluation.readers); this model fixes the top level, so that
a key misspelt by a reader or a writer fails loudly instead of reading as empty.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import PhaseAnalysis, ScoreSubset

Curve = dict[str, list[float]]  # {"fpr": [...], "tpr": [...]}


class AnalysisDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subset: ScoreSubset = ScoreSubset.ALL  # which cases: all, or the public/private part of a split test set
    settings: dict[str, Any] = Field(default_factory=dict)  # the phase's analysis settings it was computed with
    entries: list[str] = Field(default_factory=list)  # participants, one entry each
    cases: int = 0
    replicates: int = 0
    ranking_scheme: str = "aggregate-then-rank"
    rankings: dict[str, dict[str, Any]] = Field(default_factory=dict)  # metric -> Ranking.as_dict()
    # The phase's ranking across metrics it was computed for (Phase.ranking_across), and its result
    # (evaluation.ranking_across.CombinedRanking.as_dict()); None for a phase ranked by one metric.
    ranking_across: dict[str, Any] | None = None
    combined_ranking: dict[str, Any] | None = None
    breakdowns: dict[str, dict[str, list[dict[str, Any]]]] = Field(default_factory=dict)  # column -> entry -> groups
    # (the ranking metric's); every metric's: metric -> column -> entry -> groups. Absent from documents stored
    # before it existed (read them through breakdowns_by_metric).
    metric_breakdowns: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = Field(default_factory=dict)
    operating_points: dict[str, dict[str, Any]] = Field(default_factory=dict)  # entry -> per-site operating points
    readers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # entry -> comparison with the readers
    reader_points: dict[str, Any] | None = None
    # Readers as baseline rows: reader -> metric -> {value, ci_low, ci_high}, every scalar metric computed on the
    # reader's decisions (a call >= positive_at is 1, else 0). Absent from documents stored before it existed.
    reader_rows: dict[str, dict[str, dict[str, float | None]]] = Field(default_factory=dict)
    curves: dict[str, Curve] = Field(default_factory=dict)  # entry -> ROC points
    site_curves: dict[str, dict[str, Curve]] | None = None  # site -> entry -> ROC points

    def breakdowns_by_metric(self, ranking_metric: str) -> dict[str, dict[str, dict[str, list[dict[str, Any]]]]]:
        """Metric -> column -> entry -> groups: every metric's breakdowns; for a document stored before they were
        computed for every metric, only the ranking metric's (`breakdowns`)."""
        if self.metric_breakdowns:
            return self.metric_breakdowns
        return {ranking_metric: self.breakdowns} if self.breakdowns else {}

    def ranking(self, metric: str) -> dict[str, Any]:
        return self.rankings.get(metric) or {}

    def headline_ranking(self, ranking_metric: str) -> dict[str, Any]:
        """What the leaderboard's "#" ranks by: the ranking across metrics when there is one, else the ranking
        metric's ranking. Both have `metric`, `scheme`, `entries` (entry, rank, score) and `uncertainty`."""
        return self.combined_ranking or self.ranking(ranking_metric)

    def rank_uncertainty_by_entry(self, metric: str) -> dict[str, dict[str, Any]]:
        return {e["entry"]: e for e in self.ranking(metric).get("uncertainty", {}).get("entries", [])}

    def headline_uncertainty_by_entry(self, ranking_metric: str) -> dict[str, dict[str, Any]]:
        return {e["entry"]: e for e in self.headline_ranking(ranking_metric).get("uncertainty", {}).get("entries", [])}

    def ranked_entries_by_entry(self, metric: str) -> dict[str, dict[str, Any]]:
        return {e["entry"]: e for e in self.ranking(metric).get("entries", [])}


def document_of(analysis: PhaseAnalysis) -> AnalysisDocument:
    return AnalysisDocument.model_validate(analysis.document)
