"""Leaderboard ranking with its uncertainty.

Entries (submissions) are scored on the same cases in the same order. Every bootstrap statistic here comes
from ONE set of resampled cases shared by all entries (a paired bootstrap): without a grouping an index matrix
of shape (replicates, n); with ``groups`` (case id -> group id, e.g. a patient) the clustered bootstrap, where
each replicate draws groups and takes all their cases (``evaluation.bootstrap.resample_cases``). Either way
replicate r compares every entry on exactly the same cases. Definitions are in docs/statistics.md.

Three ranking schemes:
- ``aggregate-then-rank``: rank the aggregates (the metric's own value: the set-level statistic or a
  case-level metric's aggregate; or the mean or median of per-case values of a case-level metric);
- ``rank-then-aggregate``: rank the entries on every case, average each entry's ranks (case-level only);
- ``significance``: count the entries each one beats in a one-sided paired test, Holm-corrected over all
  ordered pairs, and rank by that count (challengeR's significance ranking).

Ranks are 1 = best; ties share the minimum rank (1, 1, 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import norm, rankdata, wilcoxon

from evaluation.base import Metric, MetricInput, MetricResult, check_unique_case_ids
from evaluation.bootstrap import DEFAULT_REPLICATES, Grouping, Resamples, percentile_interval, resample_cases
from evaluation.estimates import as_json, tail

RankingScheme = Literal["aggregate-then-rank", "rank-then-aggregate", "significance"]
RANKING_SCHEMES: tuple[str, ...] = ("aggregate-then-rank", "rank-then-aggregate", "significance")
Aggregate = Literal["metric", "mean", "median"]
AGGREGATES: tuple[str, ...] = ("metric", "mean", "median")

# Replicate rows are processed in chunks of about this many (row x case) elements to bound memory.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class PairwiseTest:
    """One ordered pair of the significance ranking: does ``better`` beat ``worse``?"""

    better: str  # the entry the one-sided alternative hypothesis says is better
    worse: str
    test: Literal["wilcoxon", "bootstrap-z"]
    statistic: float  # Wilcoxon: sum of ranks of the positive differences better - worse; bootstrap-z: z
    p_value: float  # one-sided, unadjusted
    p_holm: float  # Holm-adjusted over all ordered pairs
    significant: bool  # p_holm <= alpha


@dataclass(frozen=True)
class EntryRankUncertainty:
    entry: str
    reported_rank: int
    median_rank: int  # inverted-CDF quantiles of the bootstrap ranks (always whole ranks)
    rank_low: int
    rank_high: int
    p_first: float  # share of replicates ranked first; a k-way tie for first counts 1/k to each
    difference_to_leader: float  # statistic(entry) - statistic(leader) on all cases
    difference_ci_low: float | None  # percentile interval of the paired replicate differences
    difference_ci_high: float | None
    not_different_from_leader: bool  # ranked first, or the difference interval contains 0


@dataclass(frozen=True)
class RankUncertainty:
    leader: str
    higher_is_better: bool  # of the bootstrapped statistic (False for mean per-case ranks)
    entries: list[EntryRankUncertainty]  # by reported rank, then the better estimate, then input order
    kendall_tau_mean: float | None  # tau-b between each bootstrap ranking and the reported ranking
    kendall_tau_ci_low: float | None
    kendall_tau_ci_high: float | None
    replicates_used: int  # replicates where the statistic was defined for every entry
    level: float


@dataclass(frozen=True)
class RankedEntry:
    entry: str
    rank: int
    value: float  # the aggregate on all cases
    ci_low: float | None  # percentile interval from the paired replicates
    ci_high: float | None
    score: float  # what the scheme ranks: the aggregate, the mean per-case rank, or significant wins


@dataclass(frozen=True)
class Ranking:
    metric: str
    scheme: str
    aggregate: str  # "metric" (the metric's own value), or "mean"/"median" of per-case values
    case_level: bool  # the metric gave per-case values
    higher_is_better: bool  # the direction ranked in: the metric's own, or the one rank_entries was given
    entries: list[RankedEntry]  # by rank, then input order
    tests: list[PairwiseTest]  # the significance scheme only
    uncertainty: RankUncertainty
    replicates: int
    seed: int
    alpha: float
    level: float

    def as_dict(self) -> dict[str, Any]:
        return as_json(self)


def min_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks along the last axis, 1 = best, ties sharing the minimum rank."""
    values = np.asarray(values, dtype=np.float64)
    ranks: np.ndarray = rankdata(-values if higher_is_better else values, method="min", axis=-1).astype(np.int64)
    return ranks


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: p_(i) -> max_{j<=i} min(1, (m - j + 1) p_(j))."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def kendall_tau_b(reference: np.ndarray, rankings: np.ndarray) -> np.ndarray:
    """Kendall's tau-b (as scipy.stats.kendalltau) between ``reference`` (k,) and each row of ``rankings``.

    NaN where it is undefined: fewer than two entries, or all entries tied in either ranking.
    """
    reference = np.asarray(reference, dtype=np.float64)
    rankings = np.atleast_2d(np.asarray(rankings, dtype=np.float64))
    k = reference.size
    if k < 2:
        return np.full(rankings.shape[0], np.nan)
    i, j = np.triu_indices(k, 1)
    a = np.sign(reference[i] - reference[j])  # (pairs,)
    b = np.sign(rankings[:, i] - rankings[:, j])  # (R, pairs)
    pairs = i.size
    untied_a = pairs - np.count_nonzero(a == 0)
    untied_b = pairs - np.count_nonzero(b == 0, axis=1)
    denominator = np.sqrt(float(untied_a) * untied_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (b @ a) / denominator
    return np.where(denominator > 0, tau, np.nan)


def common_case_ids(entries: Mapping[str, MetricInput]) -> list[str]:
    """The case ids every entry was scored on; a ValueError unless they are the same, in the same order, and
    each occurs once."""
    if not entries:
        raise ValueError("no entries to rank")
    names = list(entries)
    case_ids = list(entries[names[0]].case_ids)
    check_unique_case_ids(case_ids)
    for name in names[1:]:
        if list(entries[name].case_ids) != case_ids:
            raise ValueError(f"entries {names[0]!r} and {name!r} are not scored on the same cases in the same "
                             "order; a paired comparison needs identical case_ids")
    return case_ids


def paired_bootstrap(
    entries: dict[str, MetricInput],
    metric: Metric,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    *,
    groups: Grouping | None = None,
) -> dict[str, np.ndarray]:
    """Each entry's statistic on the same resampled cases: ``metric.resample`` on one shared set of replicates.

    Returns shape (replicates,) per entry; replicate r of every entry used the same cases. NaN where the
    metric is undefined on a replicate (e.g. AUROC on a resample with one class). ``groups``: resample
    groups of cases (the clustered bootstrap) instead of cases.
    """
    resamples = resample_cases(common_case_ids(entries), replicates, seed, groups)
    return {name: _resample(metric, data, resamples) for name, data in entries.items()}


def paired_bootstrap_case_values(
    values: Mapping[str, np.ndarray],
    aggregate: Literal["mean", "median"] = "mean",
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    *,
    case_ids: Sequence[str] | None = None,
    groups: Grouping | None = None,
) -> dict[str, np.ndarray]:
    """Mean or median of per-case values on the same resampled cases as ``paired_bootstrap`` (same seed).

    With ``groups`` (clustered), ``case_ids`` names the cases the values are aligned with."""
    names = list(values)
    matrix = _case_matrix(names, [values[name] for name in names])
    if groups is not None and (case_ids is None or len(case_ids) != matrix.shape[1]):
        raise ValueError("a grouping needs case_ids aligned with the per-case values")
    ids = list(case_ids) if case_ids is not None else [str(i) for i in range(matrix.shape[1])]
    replicated = _aggregate_replicates(matrix, resample_cases(ids, replicates, seed, groups), aggregate)
    return {name: replicated[:, e] for e, name in enumerate(names)}


def rank_uncertainty(
    replicates: Mapping[str, np.ndarray],
    reported_ranks: Mapping[str, int],
    estimates: Mapping[str, float],
    *,
    higher_is_better: bool,
    level: float = 0.95,
) -> RankUncertainty:
    """Rank distributions, agreement with the reported ranking, and who is not distinguishable from the leader.

    ``replicates``: each entry's statistic on the paired bootstrap replicates (all the same length);
    ``estimates``: the same statistic on all cases; ``reported_ranks``: the published ranking (any scheme).
    Replicates where any entry's statistic is not finite are left out (``replicates_used`` says how many
    remain).
    """
    names = list(replicates)
    if not names:
        raise ValueError("no entries")
    if set(reported_ranks) != set(names) or set(estimates) != set(names):
        raise ValueError("replicates, reported_ranks and estimates must name the same entries")
    stats = np.column_stack([np.asarray(replicates[name], dtype=np.float64) for name in names])
    stats = stats[np.isfinite(stats).all(axis=1)]
    if stats.shape[0] == 0:
        raise ValueError("no bootstrap replicate defines the statistic for every entry; too few cases to "
                         "estimate rank uncertainty")
    reported = np.array([reported_ranks[name] for name in names], dtype=np.int64)
    point = np.array([estimates[name] for name in names], dtype=np.float64)
    alpha = tail(level)

    boot_ranks = min_ranks(stats, higher_is_better)  # (R, k)
    low, median, high = np.quantile(boot_ranks, [alpha, 0.5, 1.0 - alpha], axis=0, method="inverted_cdf")
    first = boot_ranks == 1
    p_first = (first / first.sum(axis=1, keepdims=True)).mean(axis=0)

    taus = kendall_tau_b(reported, boot_ranks)
    finite_taus = taus[np.isfinite(taus)]
    tau_mean = float(finite_taus.mean()) if finite_taus.size else None
    tau_low, tau_high = percentile_interval(taus, level)

    leaders = np.flatnonzero(reported == reported.min())
    best = point[leaders].max() if higher_is_better else point[leaders].min()
    leader = int(leaders[np.flatnonzero(point[leaders] == best)[0]]) if np.isfinite(best) else int(leaders[0])

    rows = []
    for e, name in enumerate(names):
        diff_low, diff_high = percentile_interval(stats[:, e] - stats[:, leader], level)
        contains_zero = diff_low is not None and diff_high is not None and diff_low <= 0.0 <= diff_high
        rows.append(EntryRankUncertainty(
            entry=name,
            reported_rank=int(reported[e]),
            median_rank=int(median[e]),
            rank_low=int(low[e]),
            rank_high=int(high[e]),
            p_first=float(p_first[e]),
            difference_to_leader=float(point[e] - point[leader]),
            difference_ci_low=diff_low,
            difference_ci_high=diff_high,
            not_different_from_leader=bool(reported[e] == reported.min() or contains_zero),
        ))
    order = np.lexsort((np.arange(len(names)), -point if higher_is_better else point, reported))
    return RankUncertainty(
        leader=names[leader],
        higher_is_better=higher_is_better,
        entries=[rows[e] for e in order],
        kendall_tau_mean=tau_mean,
        kendall_tau_ci_low=tau_low,
        kendall_tau_ci_high=tau_high,
        replicates_used=int(stats.shape[0]),
        level=level,
    )


def rank_entries(
    entries: dict[str, MetricInput],
    metric: Metric,
    scheme: RankingScheme = "aggregate-then-rank",
    *,
    aggregate: Aggregate = "metric",
    alpha: float = 0.05,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
    results: Mapping[str, MetricResult] | None = None,
    higher_is_better: bool | None = None,
    groups: Grouping | None = None,
) -> Ranking:
    """Rank entries by one metric with the chosen scheme, with CIs and rank uncertainty.

    ``aggregate``: ``"metric"`` uses the metric's own value (``compute``) and replicates (``resample``):
    the set-level statistic, or a case-level metric's documented aggregate (the mean for most, the root of
    the mean of squared errors for RMSE). ``"mean"`` or ``"median"`` aggregate the per-case values of a
    case-level metric instead. ``results`` are the entries' ``metric.compute`` results if already at hand
    (computed otherwise). A metric is case-level when every result carries ``per_case`` values.
    ``higher_is_better``: the direction to rank in (a leaderboard's configured order); None: the metric's own.
    ``groups``: case id -> group id; every bootstrap statistic (CIs, rank uncertainty, bootstrap tests) then
    resamples groups instead of cases (the clustered bootstrap). The Wilcoxon tests of the significance scheme
    treat cases as independent either way (docs/statistics.md).
    """
    return ranking_with_replicates(entries, metric, scheme, aggregate=aggregate, alpha=alpha, replicates=replicates,
                                   seed=seed, level=level, results=results, higher_is_better=higher_is_better,
                                   groups=groups).ranking


@dataclass(frozen=True)
class ReplicatedRanking:
    """A ranking with the bootstrap statistic its rank uncertainty was computed from."""

    ranking: Ranking
    statistic: np.ndarray  # (replicates, entries in input order): what each replicate ranks; NaN where undefined
    higher_is_better: bool  # of that statistic (False for mean per-case ranks)


def ranking_with_replicates(
    entries: dict[str, MetricInput],
    metric: Metric,
    scheme: RankingScheme = "aggregate-then-rank",
    *,
    aggregate: Aggregate = "metric",
    alpha: float = 0.05,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
    results: Mapping[str, MetricResult] | None = None,
    higher_is_better: bool | None = None,
    groups: Grouping | None = None,
) -> ReplicatedRanking:
    """``rank_entries`` with the replicate statistic behind its rank uncertainty (a ranking across metrics ranks
    every replicate of every metric, evaluation/ranking_across.py)."""
    if scheme not in RANKING_SCHEMES:
        raise ValueError(f"unknown ranking scheme {scheme!r}; choose one of {', '.join(RANKING_SCHEMES)}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; choose one of {', '.join(AGGREGATES)}")
    case_ids = common_case_ids(entries)
    n = len(case_ids)
    names = list(entries)
    if results is not None and set(results) != set(names):
        raise ValueError("results must be given for exactly the entries being ranked")
    indices = resample_cases(case_ids, replicates, seed, groups)
    computed: dict[str, MetricResult] = {}
    metric_replicates: dict[str, np.ndarray] = {}
    for name in names:  # compute and resample one entry at a time, so a metric may cache per-case values
        computed[name] = results[name] if results is not None else metric.compute(entries[name])
        if aggregate == "metric":
            metric_replicates[name] = _resample(metric, entries[name], indices)
    has_per_case = [computed[name].per_case is not None for name in names]
    if any(has_per_case) and not all(has_per_case):
        raise ValueError(f"metric {metric.name!r} gave per-case values for some entries but not others")
    case_level = all(has_per_case)
    if not case_level and aggregate != "metric":
        raise ValueError(f"{metric.name!r} is a set-level metric (it gives no per-case values), so there is no "
                         f"{aggregate} of per-case values; use aggregate='metric'")
    if not case_level and scheme == "rank-then-aggregate":
        raise ValueError(f"rank-then-aggregate needs one value per case, but {metric.name!r} is a set-level "
                         "metric (it gives no per-case values); use aggregate-then-rank or significance")
    higher = bool(metric.higher_is_better if higher_is_better is None else higher_is_better)
    needs_cases = case_level and (aggregate != "metric" or scheme != "aggregate-then-rank")
    matrix = _case_matrix(names, [computed[name].per_case for name in names], n) if needs_cases else None

    if aggregate == "metric":
        values = np.array([computed[name].value for name in names], dtype=np.float64)
        boot = np.column_stack([metric_replicates[name] for name in names])
    else:
        assert matrix is not None
        values = np.mean(matrix, axis=1) if aggregate == "mean" else np.median(matrix, axis=1)
        boot = _aggregate_replicates(matrix, indices, aggregate)
    intervals = [percentile_interval(boot[:, e], level) for e in range(len(names))]

    tests: list[PairwiseTest] = []
    boot_stat, boot_point, boot_higher = boot, values, higher
    if scheme == "aggregate-then-rank":
        scores = values
        ranks = min_ranks(values, higher)
    elif scheme == "rank-then-aggregate":
        assert matrix is not None
        case_ranks = min_ranks(matrix.T, higher).T.astype(np.float64)  # (k, n): each case ranks the entries
        scores = case_ranks.mean(axis=1)
        ranks = min_ranks(scores, higher_is_better=False)
        boot_stat = _aggregate_replicates(case_ranks, indices, "mean")
        boot_point, boot_higher = scores, False
    else:
        if matrix is not None:
            tests = _wilcoxon_tests(names, matrix, higher, alpha)
        else:
            tests = _bootstrap_tests(names, values, boot, higher, alpha)
        wins = {name: 0 for name in names}
        for test in tests:
            wins[test.better] += int(test.significant)
        scores = np.array([wins[name] for name in names], dtype=np.float64)
        ranks = min_ranks(scores, higher_is_better=True)

    uncertainty = rank_uncertainty(
        {name: boot_stat[:, e] for e, name in enumerate(names)},
        {name: int(ranks[e]) for e, name in enumerate(names)},
        {name: float(boot_point[e]) for e, name in enumerate(names)},
        higher_is_better=boot_higher,
        level=level,
    )
    # Display order: rank, then the better aggregate among tied entries, then input order.
    order = np.lexsort((np.arange(len(names)), -values if higher else values, ranks))
    ranked = [RankedEntry(entry=names[e], rank=int(ranks[e]), value=float(values[e]), ci_low=intervals[e][0],
                          ci_high=intervals[e][1], score=float(scores[e])) for e in order]
    ranking = Ranking(
        metric=metric.name,
        scheme=scheme,
        aggregate=aggregate,
        case_level=case_level,
        higher_is_better=higher,
        entries=ranked,
        tests=tests,
        uncertainty=uncertainty,
        replicates=replicates,
        seed=seed,
        alpha=alpha,
        level=level,
    )
    return ReplicatedRanking(ranking, boot_stat, boot_higher)

def _wilcoxon_tests(names: list[str], matrix: np.ndarray, higher: bool, alpha: float) -> list[PairwiseTest]:
    """One-sided Wilcoxon signed-rank test for every ordered pair (i better than j), Holm over all of them."""
    alternative = "greater" if higher else "less"
    pairs, statistics, p_values = [], [], []
    for i in range(len(names)):
        for j in range(len(names)):
            if i == j:
                continue
            differences = matrix[i] - matrix[j]
            if not differences.any():  # identical per-case values: nothing to test, no evidence either way
                statistic, p = 0.0, 1.0
            else:
                result = wilcoxon(differences, alternative=alternative, zero_method="wilcox", correction=False)
                statistic, p = float(result.statistic), float(result.pvalue)
            pairs.append((i, j))
            statistics.append(statistic)
            p_values.append(p if np.isfinite(p) else 1.0)
    return _pairwise(names, pairs, "wilcoxon", statistics, p_values, alpha)


def _bootstrap_tests(
    names: list[str], values: np.ndarray, boot: np.ndarray, higher: bool, alpha: float
) -> list[PairwiseTest]:
    """One-sided paired bootstrap z-test for every ordered pair, Holm over all of them.

    z = (value_i - value_j) / SD of the paired replicate differences (sign flipped for lower-is-better);
    p = 1 - Phi(z). A normal reference instead of counting replicates keeps p-values continuous, which Holm
    needs: with counting, p cannot go below ~1/replicates, and Holm over k(k-1) pairs could never reject.
    """
    sign = 1.0 if higher else -1.0
    pairs, statistics, p_values = [], [], []
    for i in range(len(names)):
        for j in range(len(names)):
            if i == j:
                continue
            differences = boot[:, i] - boot[:, j]
            differences = differences[np.isfinite(differences)]
            observed = sign * (values[i] - values[j])
            spread = float(np.std(differences, ddof=1)) if differences.size > 1 else float("nan")
            if not np.isfinite(spread):
                z, p = float("nan"), 1.0
            elif spread == 0.0:
                z = float("inf") if observed > 0 else (float("-inf") if observed < 0 else 0.0)
                p = 0.0 if observed > 0 else 1.0
            else:
                z = observed / spread
                p = float(norm.sf(z))
            pairs.append((i, j))
            statistics.append(z)
            p_values.append(p)
    return _pairwise(names, pairs, "bootstrap-z", statistics, p_values, alpha)


def _pairwise(
    names: list[str],
    pairs: list[tuple[int, int]],
    test: Literal["wilcoxon", "bootstrap-z"],
    statistics: list[float],
    p_values: list[float],
    alpha: float,
) -> list[PairwiseTest]:
    adjusted = holm(np.array(p_values))
    return [PairwiseTest(better=names[i], worse=names[j], test=test, statistic=statistics[t],
                         p_value=p_values[t], p_holm=float(adjusted[t]), significant=bool(adjusted[t] <= alpha))
            for t, (i, j) in enumerate(pairs)]


def _case_matrix(names: list[str], per_case: list[Any], n: int | None = None) -> np.ndarray:
    matrix = np.vstack([np.asarray(values, dtype=np.float64).reshape(-1) for values in per_case])
    if n is not None and matrix.shape[1] != n:
        raise ValueError(f"per-case values have {matrix.shape[1]} cases but the entries have {n}")
    for name, row in zip(names, matrix, strict=True):
        if not np.isfinite(row).all():
            raise ValueError(f"entry {name!r} has non-finite per-case values; every case needs a finite value to "
                             "be ranked (decide how a failed case is scored before ranking)")
    return matrix


def _resample(metric: Metric, data: MetricInput, resamples: Resamples) -> np.ndarray:
    """``metric.resample`` in chunks of replicate rows (per block of equal-length rows), so memory stays bounded."""
    return resamples.apply(lambda indices: metric.resample(data, indices), _CHUNK_ELEMENTS)


def _case_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each case occurs in each row of an index matrix: int32, shape (rows, n)."""
    rows = indices.shape[0]
    flat = (np.arange(rows)[:, None] * n + indices).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.int32)


def _aggregate_replicates(matrix: np.ndarray, resamples: Resamples, aggregate: str) -> np.ndarray:
    """Mean or median of each row of ``matrix`` (k, n) over each bootstrap replicate: shape (R, k).

    Works on case counts, not on gathered values: the mean is counts @ values / m (m: the replicate's number of
    cases, n unless clustered); the median is found from cumulative counts along each entry's values sorted
    once, so no replicate is sorted.
    """
    k, n = matrix.shape
    out = np.full((resamples.replicates, k), np.nan)
    order = np.argsort(matrix, axis=1, kind="stable") if aggregate == "median" else None
    for block_rows, indices in resamples.blocks:
        m = indices.shape[1]  # every row of a block has m cases
        if m == 0:
            continue
        low_pos, high_pos = (m + 1) // 2, m // 2 + 1  # 1-based order statistics averaged by the median
        step = max(1, _CHUNK_ELEMENTS // max(n, m, 1))
        for start in range(0, block_rows.size, step):
            rows = block_rows[start:start + step]
            counts = _case_counts(indices[start:start + step], n)
            if order is None:
                out[rows] = (counts @ matrix.T) / m
                continue
            for e in range(k):
                cumulative = np.cumsum(counts[:, order[e]], axis=1, dtype=np.int32)
                sorted_values = matrix[e, order[e]]
                # cumulative is non-decreasing, so the count of positions below m is where order statistic m sits.
                low = sorted_values[(cumulative < low_pos).sum(axis=1)]
                high = sorted_values[(cumulative < high_pos).sum(axis=1)]
                out[rows, e] = (low + high) / 2.0
    return out
