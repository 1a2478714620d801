"""Rankings across metrics (evaluation/ranking_across.py): hand-computed examples for each scheme and each
combination, the weighted median against numpy, and the bootstrap against a brute-force loop over replicates."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from evaluation.base import InputKind, MetricInput, MetricResult
from evaluation.bootstrap import resample_cases
from evaluation.ranking import min_ranks, rank_entries, rank_uncertainty
from evaluation.ranking_across import combine_ranks, rank_across_metrics, weighted_median
from tests.evaluation.stats.metrics import AbsoluteError, SetAUROC


class SquaredError:
    name: ClassVar[str] = "test_squared_error"
    version: ClassVar[str] = "1"
    title: ClassVar[str] = "Squared error (test copy)"
    higher_is_better: ClassVar[bool] = False
    input_kind: ClassVar[InputKind] = "scalar"

    def compute(self, data: MetricInput) -> MetricResult:
        per_case = (np.asarray(data.predictions, dtype=float) - np.asarray(data.targets, dtype=float)) ** 2
        return MetricResult(value=float(per_case.mean()), per_case=per_case)

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        per_case = (np.asarray(data.predictions, dtype=float) - np.asarray(data.targets, dtype=float)) ** 2
        return per_case[indices].mean(axis=1)


IDS = [f"c{i}" for i in range(6)]
TARGETS = np.array([0, 0, 0, 1, 1, 1], dtype=float)
# AUROC a 1.0, b 8/9, c 1.0 (ranks 1, 3, 1); mean absolute error a 0.2, b 0.3, c 0.45 (ranks 1, 2, 3).
PREDICTIONS = {"a": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9],
               "b": [0.1, 0.6, 0.2, 0.5, 0.7, 0.9],
               "c": [0.45, 0.45, 0.45, 0.55, 0.55, 0.55]}


def small_entries() -> dict[str, MetricInput]:
    return {name: MetricInput(IDS, np.array(values), TARGETS) for name, values in PREDICTIONS.items()}


def ranks_of(combined) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {e.entry: e.rank for e in combined.entries}


@pytest.mark.parametrize(("weights", "combine", "expected_scores", "expected_ranks"), [
    # equal weights: a (1+1)/2 = 1, b (3+2)/2 = 2.5, c (1+3)/2 = 2
    ((1, 1), "mean", {"a": 1.0, "b": 2.5, "c": 2.0}, {"a": 1, "c": 2, "b": 3}),
    # MAE weighs 3: b (3 + 3*2)/4 = 2.25, c (1 + 3*3)/4 = 2.5: b and c change places
    ((1, 3), "mean", {"a": 1.0, "b": 2.25, "c": 2.5}, {"a": 1, "b": 2, "c": 3}),
    # weighted median, MAE weighs 3: b's ranks {2 (w 3), 3 (w 1)} reach half the weight at 2; c's {1 (w 1), 3 (w 3)}
    # at 3
    ((1, 3), "median", {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 1, "b": 2, "c": 3}),
    # equal weights, median of two ranks: the mean of both, as numpy's median
    ((1, 1), "median", {"a": 1.0, "b": 2.5, "c": 2.0}, {"a": 1, "c": 2, "b": 3}),
])
def test_aggregate_then_rank_across_metrics_by_hand(weights, combine, expected_scores, expected_ranks) -> None:  # type: ignore[no-untyped-def]
    entries = small_entries()
    combined, per_metric = rank_across_metrics(
        {"test_auroc": entries, "test_absolute_error": entries},
        [(SetAUROC(), weights[0], True), (AbsoluteError(), weights[1], False)],
        combine=combine, replicates=200, seed=3)
    assert {e.entry: e.score for e in combined.entries} == pytest.approx(expected_scores)
    assert ranks_of(combined) == expected_ranks
    assert {e.entry: e.metric_ranks for e in combined.entries} == {
        "a": {"test_auroc": 1, "test_absolute_error": 1}, "b": {"test_auroc": 3, "test_absolute_error": 2},
        "c": {"test_auroc": 1, "test_absolute_error": 3}}
    assert [e.entry for e in combined.entries] == sorted(expected_ranks, key=expected_ranks.__getitem__)
    assert per_metric["test_auroc"].entries[0].value == pytest.approx(1.0)
    assert combined.uncertainty.leader == "a"


def test_ties_share_the_minimum_rank() -> None:
    entries = small_entries()  # weights 1 and 2: a 1, b (3 + 4)/3 = 7/3, c (1 + 6)/3 = 7/3: b and c tie for 2
    combined, _ = rank_across_metrics({"test_auroc": entries, "test_absolute_error": entries},
                                      [(SetAUROC(), 1, True), (AbsoluteError(), 2, False)], replicates=200)
    assert ranks_of(combined) == {"a": 1, "b": 2, "c": 2}


def test_the_direction_given_is_the_direction_ranked() -> None:
    entries = small_entries()  # MAE ranked as if higher were better: c 1, b 2, a 3
    combined, per_metric = rank_across_metrics({"test_auroc": entries, "test_absolute_error": entries},
                                               [(SetAUROC(), 1, True), (AbsoluteError(), 1, True)], replicates=200)
    assert {e.entry: e.rank for e in per_metric["test_absolute_error"].entries} == {"c": 1, "b": 2, "a": 3}
    assert ranks_of(combined) == {"c": 1, "a": 2, "b": 3}  # c (1+1)/2, a (1+3)/2, b (3+2)/2


def test_rank_then_aggregate_ranks_each_metric_on_every_case_by_hand() -> None:
    # Two case-level metrics on three cases. Absolute errors: a (0, 2, 1), b (1, 1, 0), c (2, 0, 2); per-case
    # ranks a (1, 3, 2), b (2, 2, 1), c (3, 1, 3): means a 2, b 5/3, c 7/3 -> ranks b 1, a 2, c 3. Squared errors
    # rank the cases the same way, so the same ranks; the combined mean rank is b 1, a 2, c 3.
    ids = ["x", "y", "z"]
    targets = np.zeros(3)
    entries = {"a": MetricInput(ids, np.array([0.0, 2.0, 1.0]), targets),
               "b": MetricInput(ids, np.array([1.0, 1.0, 0.0]), targets),
               "c": MetricInput(ids, np.array([2.0, 0.0, 2.0]), targets)}
    combined, per_metric = rank_across_metrics(
        {"test_absolute_error": entries, "test_squared_error": entries},
        [(AbsoluteError(), 1, False), (SquaredError(), 1, False)], "rank-then-aggregate", replicates=200)
    mean_ranks = {e.entry: e.score for e in per_metric["test_absolute_error"].entries}
    assert mean_ranks == pytest.approx({"a": 2.0, "b": 5 / 3, "c": 7 / 3})
    assert ranks_of(combined) == {"b": 1, "a": 2, "c": 3}
    assert combined.scheme == "rank-then-aggregate"


def test_significance_ranks_each_metric_by_its_significant_wins() -> None:
    rng = np.random.default_rng(0)
    n = 120
    targets = (np.arange(n) % 2).astype(float)
    ids = [f"c{i}" for i in range(n)]
    # "good" is far better on both metrics, "mid" and "weak" indistinguishable from each other
    entries = {"good": MetricInput(ids, targets * 0.9 + 0.05 + rng.normal(scale=0.02, size=n), targets),
               "mid": MetricInput(ids, np.clip(targets * 0.4 + 0.3 + rng.normal(scale=0.2, size=n), 0, 1), targets),
               "weak": MetricInput(ids, np.clip(targets * 0.4 + 0.3 + rng.normal(scale=0.2, size=n), 0, 1), targets)}
    combined, per_metric = rank_across_metrics(
        {"test_absolute_error": entries, "test_squared_error": entries},
        [(AbsoluteError(), 1, False), (SquaredError(), 1, False)], "significance", replicates=300)
    for name, ranking in per_metric.items():
        single = rank_entries(entries, AbsoluteError() if name == "test_absolute_error" else SquaredError(),
                              "significance", replicates=300, higher_is_better=False)
        assert {e.entry: e.rank for e in ranking.entries} == {e.entry: e.rank for e in single.entries}
        assert {e.entry: e.rank for e in ranking.entries} == {"good": 1, "mid": 2, "weak": 2}  # 2 wins; 0; 0
    assert ranks_of(combined) == {"good": 1, "mid": 2, "weak": 2}


@pytest.mark.parametrize("groups", [None, "pairs"])
def test_rank_uncertainty_equals_a_brute_force_loop_over_replicates(groups) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    n, replicates, seed = 40, 150, 9
    ids = [f"c{i}" for i in range(n)]
    targets = rng.normal(size=n)
    entries = {f"e{k}": MetricInput(ids, targets + rng.normal(scale=s, size=n), targets)
               for k, s in enumerate([0.5, 0.6, 0.65, 1.0])}
    grouping = {case: f"p{i // 2}" for i, case in enumerate(ids)} if groups else None
    weights = [1.0, 2.0]
    combined, _ = rank_across_metrics(
        {"test_absolute_error": entries, "test_squared_error": entries},
        [(AbsoluteError(), weights[0], False), (SquaredError(), weights[1], False)],
        replicates=replicates, seed=seed, groups=grouping)

    names = list(entries)
    errors = np.array([entries[name].predictions - targets for name in names])  # (entries, cases)
    point = combine_ranks(np.stack([min_ranks(np.abs(errors).mean(axis=1), False),
                                    min_ranks((errors ** 2).mean(axis=1), False)], axis=-1), weights, "mean")
    brute = np.empty((replicates, len(names)))
    resamples = resample_cases(ids, replicates, seed, grouping)
    drawn = {int(r): cases for rows, matrix in resamples.blocks for r, cases in zip(rows, matrix, strict=True)}
    for r in range(replicates):
        resampled = errors[:, drawn[r]]
        metric_ranks = np.stack([min_ranks(np.abs(resampled).mean(axis=1), False),
                                 min_ranks((resampled ** 2).mean(axis=1), False)], axis=-1)
        brute[r] = combine_ranks(metric_ranks, weights, "mean")
    expected = rank_uncertainty({name: brute[:, e] for e, name in enumerate(names)},
                                {name: int(rank) for name, rank in zip(names, min_ranks(point, False), strict=True)},
                                {name: float(point[e]) for e, name in enumerate(names)}, higher_is_better=False)
    assert combined.uncertainty == expected
    assert {e.entry: e.score for e in combined.entries} == pytest.approx(dict(zip(names, point, strict=True)))


def test_weighted_median_with_equal_weights_is_numpys_median() -> None:
    rng = np.random.default_rng(1)
    for size in (1, 2, 3, 4, 7, 10):
        values = rng.integers(1, 6, size=(50, size)).astype(float)
        np.testing.assert_allclose(weighted_median(values, np.ones(size)), np.median(values, axis=1))


def test_weighted_median_by_hand() -> None:
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])) == 3.0  # 4 of 6 sit at 3
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])) == 1.5  # exactly half at 1
    assert weighted_median(np.array([5.0, 1.0]), np.array([1.0, 3.0])) == 1.0


@pytest.mark.parametrize(("metrics", "message"), [
    ([(AbsoluteError(), 1.0, False)], "at least two metrics"),
    ([(AbsoluteError(), 1.0, False), (AbsoluteError(), 1.0, False)], "appear once"),
    ([(AbsoluteError(), 1.0, False), (SquaredError(), 0.0, False)], "positive"),
    ([(AbsoluteError(), 1.0, False), (SquaredError(), float("nan"), False)], "positive"),
])
def test_refused_rankings(metrics, message) -> None:  # type: ignore[no-untyped-def]
    entries = small_entries()
    with pytest.raises(ValueError, match=message):
        rank_across_metrics({"test_absolute_error": entries, "test_squared_error": entries}, metrics)


def test_metrics_scored_on_other_cases_are_refused() -> None:
    entries = small_entries()
    other = {name: MetricInput([f"x{i}" for i in range(6)], data.predictions, data.targets)
             for name, data in entries.items()}
    with pytest.raises(ValueError, match="same cases"):
        rank_across_metrics({"test_absolute_error": entries, "test_squared_error": other},
                            [(AbsoluteError(), 1.0, False), (SquaredError(), 1.0, False)])
