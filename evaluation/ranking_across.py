"""A ranking across several metrics: rank the entries on each metric, then combine each entry's ranks.

challengeR's and Metrics Reloaded's "rank then aggregate across metrics": every metric ranks the entries with the
phase's scheme (aggregate-then-rank, rank-then-aggregate or significance, evaluation/ranking.py), each in its own
direction; an entry's score is the weighted mean, or the weighted median, of its per-metric ranks; the final rank
orders those scores (lower is better; ties share the minimum rank, 1, 1, 3).

Uncertainty: every metric's ranking is bootstrapped on the SAME resampled cases (same case ids, seed and
grouping give the same replicates, evaluation.bootstrap.resample_cases). In each replicate every metric ranks the
entries by its replicate statistic (the aggregate, or the mean per-case rank for rank-then-aggregate), the ranks
are combined exactly as on all cases, and the combined scores go through the same rank-uncertainty summary as a
single metric's (rank intervals, P(first), Kendall's tau, "not different from the leader"). Definitions are in
docs/statistics.md §3.6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evaluation.base import Metric, MetricInput
from evaluation.bootstrap import DEFAULT_REPLICATES, Grouping
from evaluation.estimates import as_json
from evaluation.ranking import (
    Ranking,
    RankingScheme,
    RankUncertainty,
    common_case_ids,
    min_ranks,
    rank_uncertainty,
    ranking_with_replicates,
)

Combine = Literal["mean", "median"]
COMBINES: tuple[str, ...] = ("mean", "median")


@dataclass(frozen=True)
class RankedMetric:
    """One metric of a ranking across metrics."""

    metric: str
    weight: float
    higher_is_better: bool  # the direction it is ranked in


@dataclass(frozen=True)
class CombinedEntry:
    entry: str
    rank: int
    score: float  # the weighted mean (or median) of its per-metric ranks; lower is better
    metric_ranks: dict[str, int]  # metric -> the entry's rank on it


@dataclass(frozen=True)
class CombinedRanking:
    metric: str  # a readable name of what is ranked, e.g. "mean rank of auroc, brier"
    scheme: str  # the scheme each metric was ranked with
    combine: str
    metrics: list[RankedMetric]
    higher_is_better: bool  # of the combined score: always False (a lower mean rank is better)
    entries: list[CombinedEntry]  # by rank, then input order
    uncertainty: RankUncertainty
    replicates: int
    seed: int
    level: float

    def as_dict(self) -> dict[str, Any]:
        return as_json(self)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted median along the last axis: the smallest value whose cumulative weight reaches half the total;
    where the cumulative weight is exactly half, the mean of that value and the next (so that with equal weights
    it is numpy's median)."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), values.shape)
    order = np.argsort(values, axis=-1, kind="stable")
    sorted_values = np.take_along_axis(values, order, axis=-1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=-1), axis=-1)
    half = cumulative[..., -1:] / 2.0
    reached = cumulative >= half - 1e-12 * cumulative[..., -1:]
    first = np.argmax(reached, axis=-1)[..., None]
    exactly_half = np.isclose(np.take_along_axis(cumulative, first, axis=-1), half, rtol=1e-12, atol=0.0)
    following = np.minimum(first + 1, values.shape[-1] - 1)
    low = np.take_along_axis(sorted_values, first, axis=-1)
    high = np.take_along_axis(sorted_values, following, axis=-1)
    return np.where(exactly_half, (low + high) / 2.0, low)[..., 0]


def combine_ranks(ranks: np.ndarray, weights: Sequence[float], combine: Combine) -> np.ndarray:
    """Per-metric ranks (..., entries, metrics) -> each entry's combined score (..., entries)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if combine == "mean":
        combined: np.ndarray = (ranks * w).sum(axis=-1) / w.sum()
        return combined
    return weighted_median(ranks, w)


def rank_across_metrics(
    entries_by_metric: Mapping[str, dict[str, MetricInput]],
    metrics: Sequence[tuple[Metric, float, bool]],
    scheme: RankingScheme = "aggregate-then-rank",
    combine: Combine = "mean",
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
    alpha: float = 0.05,
    groups: Grouping | None = None,
) -> tuple[CombinedRanking, dict[str, Ranking]]:
    """Rank the entries on each metric with ``scheme``, then by the weighted mean or median of their ranks.

    ``metrics``: (metric, weight > 0, higher_is_better: the direction it is ranked in), at least two, each once;
    ``entries_by_metric``: metric name -> entry -> its inputs; every metric names the same entries, scored on
    the same cases in the same order. Returns the combined ranking and each metric's own ranking.
    """
    if combine not in COMBINES:
        raise ValueError(f"unknown combination {combine!r}; choose one of {', '.join(COMBINES)}")
    names_of_metrics = [metric.name for metric, _, _ in metrics]
    if len(metrics) < 2:
        raise ValueError("a ranking across metrics needs at least two metrics; rank by one with rank_entries")
    if len(set(names_of_metrics)) != len(names_of_metrics):
        raise ValueError("each metric may appear once in a ranking across metrics")
    weights = [float(weight) for _, weight, _ in metrics]
    if not all(np.isfinite(w) and w > 0 for w in weights):
        raise ValueError("every metric's weight must be a positive number")
    missing = [name for name in names_of_metrics if name not in entries_by_metric]
    if missing:
        raise ValueError(f"no entries given for {', '.join(missing)}")
    first = entries_by_metric[names_of_metrics[0]]
    names = list(first)
    case_ids = common_case_ids(first)
    for name in names_of_metrics[1:]:
        if list(entries_by_metric[name]) != names:
            raise ValueError(f"metric {name!r} ranks other entries than {names_of_metrics[0]!r}")
        if common_case_ids(entries_by_metric[name]) != case_ids:
            raise ValueError(f"metric {name!r} is scored on other cases than {names_of_metrics[0]!r}; the metrics "
                             "of one ranking share their bootstrap replicates, so they need the same cases")

    rankings: dict[str, Ranking] = {}
    point_ranks = np.empty((len(names), len(metrics)), dtype=np.float64)
    replicate_ranks = np.empty((replicates, len(names), len(metrics)), dtype=np.float64)
    defined = np.ones(replicates, dtype=bool)
    for m, (metric, _, higher) in enumerate(metrics):
        ranked = ranking_with_replicates(entries_by_metric[metric.name], metric, scheme, replicates=replicates,
                                         seed=seed, level=level, alpha=alpha, higher_is_better=higher, groups=groups)
        rankings[metric.name] = ranked.ranking
        by_entry = {e.entry: e.rank for e in ranked.ranking.entries}
        point_ranks[:, m] = [by_entry[name] for name in names]
        statistic = ranked.statistic
        finite = np.isfinite(statistic).all(axis=1)
        defined &= finite
        replicate_ranks[:, :, m] = min_ranks(np.where(finite[:, None], statistic, 0.0), ranked.higher_is_better)

    scores = combine_ranks(point_ranks, weights, combine)
    ranks = min_ranks(scores, higher_is_better=False)
    replicate_scores = np.where(defined[:, None], combine_ranks(replicate_ranks, weights, combine), np.nan)
    uncertainty = rank_uncertainty(
        {name: replicate_scores[:, e] for e, name in enumerate(names)},
        {name: int(ranks[e]) for e, name in enumerate(names)},
        {name: float(scores[e]) for e, name in enumerate(names)},
        higher_is_better=False,
        level=level,
    )
    order = np.lexsort((np.arange(len(names)), ranks))
    entries = [CombinedEntry(entry=names[e], rank=int(ranks[e]), score=float(scores[e]),
                             metric_ranks={metric: int(point_ranks[e, m]) for m, metric in enumerate(names_of_metrics)})
               for e in order]
    combined = CombinedRanking(
        metric=f"{combine} rank of {', '.join(names_of_metrics)}",
        scheme=scheme,
        combine=combine,
        metrics=[RankedMetric(metric.name, weight, higher) for (metric, _, higher), weight in zip(metrics, weights,
                                                                                                   strict=True)],
        higher_is_better=False,
        entries=entries,
        uncertainty=uncertainty,
        replicates=replicates,
        seed=seed,
        level=level,
    )
    return combined, rankings
