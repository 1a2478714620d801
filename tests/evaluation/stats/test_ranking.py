"""Ranking schemes, the paired bootstrap and rank uncertainty, checked against direct computations,
scipy (Wilcoxon, Kendall's tau) and statsmodels (Holm)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import kendalltau, norm, rankdata, wilcoxon
from statsmodels.stats.multitest import multipletests

from evaluation.base import MetricInput
from evaluation.bootstrap import bootstrap_indices
from evaluation.ranking import (
    holm,
    kendall_tau_b,
    min_ranks,
    paired_bootstrap,
    paired_bootstrap_case_values,
    rank_entries,
    rank_uncertainty,
)
from tests.evaluation.stats.metrics import AbsoluteError, SetAUROC, auroc_rows


def classifier_entries(strengths: list[float], n: int, seed: int) -> dict[str, MetricInput]:
    """Entries whose score separates the classes by ``strength`` standard deviations, independent noise each."""
    rng = np.random.default_rng(seed)
    targets = (np.arange(n) % 2).astype(float)
    ids = [f"c{i}" for i in range(n)]
    return {f"e{k}": MetricInput(ids, targets * strength + rng.normal(size=n), targets)
            for k, strength in enumerate(strengths)}


def regression_entries(noise: list[float], n: int, seed: int, decimals: int = 1) -> dict[str, MetricInput]:
    """Entries predicting a quantity with the given noise level (rounded, so per-case values tie)."""
    rng = np.random.default_rng(seed)
    targets = rng.normal(size=n).round(decimals)
    ids = [f"c{i}" for i in range(n)]
    return {f"r{k}": MetricInput(ids, (targets + rng.normal(scale=s, size=n)).round(decimals), targets)
            for k, s in enumerate(noise)}


def by_entry(ranking) -> dict:  # type: ignore[no-untyped-def]
    return {row.entry: row for row in ranking.uncertainty.entries}


# --- paired bootstrap -------------------------------------------------------------------------------------------

def test_paired_bootstrap_uses_one_index_matrix_for_every_entry() -> None:
    entries = classifier_entries([0.5, 1.0, 1.5], n=2100, seed=1)  # n large enough to be chunked (2 chunks)
    replicated = paired_bootstrap(entries, SetAUROC(), replicates=1000, seed=7)
    indices = bootstrap_indices(2100, 1000, 7)
    for name, data in entries.items():
        expected = auroc_rows(data.predictions[indices], data.targets[indices])
        assert replicated[name].shape == (1000,)
        np.testing.assert_array_equal(replicated[name], expected)


def test_paired_bootstrap_refuses_entries_scored_on_different_cases() -> None:
    entries = classifier_entries([1.0, 1.0], n=20, seed=0)
    other = entries["e1"]
    entries["e1"] = MetricInput(list(reversed(other.case_ids)), other.predictions, other.targets)
    with pytest.raises(ValueError, match="same cases in the same order"):
        paired_bootstrap(entries, SetAUROC(), replicates=10)


@pytest.mark.parametrize("n", [37, 40])
def test_case_value_bootstrap_equals_mean_and_median_of_resampled_values(n: int) -> None:
    rng = np.random.default_rng(n)
    values = {"a": rng.normal(size=n), "b": rng.integers(0, 5, n).astype(float), "c": rng.random(n)}
    indices = bootstrap_indices(n, 300, 3)
    means = paired_bootstrap_case_values(values, "mean", replicates=300, seed=3)
    medians = paired_bootstrap_case_values(values, "median", replicates=300, seed=3)
    for name, v in values.items():
        np.testing.assert_allclose(means[name], v[indices].mean(axis=1), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(medians[name], np.median(v[indices], axis=1))


# --- building blocks ---------------------------------------------------------------------------------------------

def test_ties_share_the_minimum_rank() -> None:
    values = np.array([0.9, 0.8, 0.9, 0.7])
    assert min_ranks(values, higher_is_better=True).tolist() == [1, 3, 1, 4]
    assert min_ranks(values, higher_is_better=False).tolist() == [3, 2, 3, 1]


@pytest.mark.parametrize("m", [1, 2, 7, 30, 190])
def test_holm_equals_statsmodels(m: int) -> None:
    rng = np.random.default_rng(m)
    p = rng.random(m) ** 3
    p[: m // 4] = p[0]  # ties
    if m > 3:
        p[1], p[2] = 0.0, 1.0
    reject, corrected, _, _ = multipletests(p, alpha=0.05, method="holm")
    np.testing.assert_allclose(holm(p), corrected, rtol=0, atol=1e-15)
    assert ((holm(p) <= 0.05) == reject).all()


def test_kendall_tau_b_equals_scipy_with_ties() -> None:
    rng = np.random.default_rng(5)
    reference = np.array([1, 2, 2, 4, 5, 5, 7])
    rankings = rng.integers(1, 5, size=(200, 7))
    rankings[0] = 3  # all tied: undefined
    taus = kendall_tau_b(reference, rankings)
    for row, tau in zip(rankings, taus, strict=True):
        expected = kendalltau(reference, row).statistic
        if np.isnan(expected):
            assert np.isnan(tau)
        else:
            assert tau == pytest.approx(expected, abs=1e-12)


def test_rank_uncertainty_summaries_equal_a_direct_computation() -> None:
    rng = np.random.default_rng(11)
    names = ["a", "b", "c", "d"]
    stats = rng.normal(loc=[0.0, 0.2, 0.2, 1.0], scale=0.5, size=(400, 4)).round(1)  # rounding makes rank ties
    stats[5, 1] = np.nan  # a replicate where b is undefined is left out
    estimates = {"a": 0.0, "b": 0.2, "c": 0.21, "d": 1.0}
    reported = {"a": 4, "b": 3, "c": 2, "d": 1}
    result = rank_uncertainty({n: stats[:, i] for i, n in enumerate(names)}, reported, estimates,
                              higher_is_better=True)
    kept = np.delete(stats, 5, axis=0)
    assert result.replicates_used == 399
    assert result.leader == "d"
    rows = {row.entry: row for row in result.entries}
    ranks = np.array([[1 + sum(r[j] > r[i] for j in range(4)) for i in range(4)] for r in kept])
    for i, name in enumerate(names):
        column = np.sort(ranks[:, i])
        cdf = np.arange(1, column.size + 1) / column.size
        assert rows[name].rank_low == column[np.argmax(cdf >= 0.025)]
        assert rows[name].median_rank == column[np.argmax(cdf >= 0.5)]
        assert rows[name].rank_high == column[np.argmax(cdf >= 0.975)]
        shares = [(r[i] == 1) / np.sum(r == 1) for r in ranks]
        assert rows[name].p_first == pytest.approx(np.mean(shares))
        difference = kept[:, i] - kept[:, 3]
        low, high = np.quantile(difference, [0.025, 0.975])
        assert rows[name].difference_ci_low == pytest.approx(low)
        assert rows[name].difference_ci_high == pytest.approx(high)
        assert rows[name].difference_to_leader == pytest.approx(estimates[name] - 1.0)
        assert rows[name].not_different_from_leader == (name == "d" or low <= 0 <= high)
    taus = [kendalltau([4, 3, 2, 1], r).statistic for r in ranks]
    assert result.kendall_tau_mean == pytest.approx(np.nanmean(taus))
    assert sum(row.p_first for row in result.entries) == pytest.approx(1.0)


# --- schemes on data with known structure --------------------------------------------------------------------

def test_clearly_different_entries_rank_stably() -> None:
    entries = classifier_entries([0.0, 1.0, 2.0, 3.0], n=400, seed=2)
    ranking = rank_entries(entries, SetAUROC(), replicates=500)
    assert [row.entry for row in ranking.entries] == ["e3", "e2", "e1", "e0"]
    assert [row.rank for row in ranking.entries] == [1, 2, 3, 4]
    for row in ranking.entries:
        assert row.ci_low < row.value < row.ci_high
        assert row.value == pytest.approx(auroc_rows(entries[row.entry].predictions, entries[row.entry].targets)[0])
    rows = by_entry(ranking)
    assert rows["e3"].p_first > 0.99
    assert (rows["e3"].rank_low, rows["e3"].median_rank, rows["e3"].rank_high) == (1, 1, 1)
    assert ranking.uncertainty.kendall_tau_mean > 0.95
    assert ranking.uncertainty.kendall_tau_ci_low >= 2 / 3
    assert [rows[e].not_different_from_leader for e in ("e3", "e2", "e1", "e0")] == [True, False, False, False]


def test_exchangeable_entries_have_overlapping_ranks_and_shared_wins() -> None:
    """Entries of equal true quality: over many data sets each wins about 1/k of the time."""
    k, data_sets = 4, 30
    p_first, taus, widths, not_different = [], [], [], []
    for seed in range(data_sets):
        ranking = rank_entries(classifier_entries([0.8] * k, n=300, seed=100 + seed), SetAUROC(),
                               replicates=200, seed=seed)
        rows = by_entry(ranking)
        p_first.append([rows[f"e{e}"].p_first for e in range(k)])
        taus.append(ranking.uncertainty.kendall_tau_mean)
        widths.append(np.mean([row.rank_high - row.rank_low for row in rows.values()]))
        not_different.append(sum(row.not_different_from_leader for row in rows.values()))
    mean_p_first = np.mean(p_first, axis=0)
    assert np.all(np.abs(mean_p_first - 1 / k) < 0.12), mean_p_first
    assert np.mean(taus) < 0.7  # vs > 0.95 for clearly different entries
    assert np.mean(widths) >= 1.5  # 95% rank intervals span two ranks or more on average
    assert np.mean(not_different) >= 2.5  # most entries are not distinguishable from the leader


def test_lower_is_better_metric_ranks_ascending_with_each_aggregate() -> None:
    entries = regression_entries([0.1, 0.5, 0.3], n=200, seed=4)
    for aggregate in ("metric", "mean", "median"):
        ranking = rank_entries(entries, AbsoluteError(), aggregate=aggregate, replicates=200)
        assert [row.entry for row in ranking.entries] == ["r0", "r2", "r1"]
        errors = {name: np.abs(d.predictions - d.targets) for name, d in entries.items()}
        expected = {name: (np.median(e) if aggregate == "median" else e.mean()) for name, e in errors.items()}
        for row in ranking.entries:
            assert row.value == pytest.approx(expected[row.entry])
            assert row.ci_low <= row.value <= row.ci_high
        assert ranking.aggregate == aggregate and ranking.case_level


def test_aggregate_replicates_come_from_the_shared_index_matrix() -> None:
    entries = regression_entries([0.1, 0.5], n=150, seed=8)
    ranking = rank_entries(entries, AbsoluteError(), aggregate="median", replicates=300, seed=5)
    indices = bootstrap_indices(150, 300, 5)
    for row in ranking.entries:
        errors = np.abs(entries[row.entry].predictions - entries[row.entry].targets)
        low, high = np.quantile(np.median(errors[indices], axis=1), [0.025, 0.975])
        assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_rank_then_aggregate_equals_a_direct_computation() -> None:
    entries = regression_entries([0.2, 0.2, 0.4, 0.1], n=120, seed=6)  # rounding: many per-case ties
    names = list(entries)
    ranking = rank_entries(entries, AbsoluteError(), "rank-then-aggregate", replicates=200, seed=2)
    errors = np.array([np.abs(entries[n].predictions - entries[n].targets) for n in names])
    per_case_ranks = np.array([[1 + sum(errors[j, c] < errors[i, c] for j in range(4)) for i in range(4)]
                               for c in range(120)])
    mean_ranks = per_case_ranks.mean(axis=0)
    final = rankdata(mean_ranks, method="min")
    scores = {row.entry: row.score for row in ranking.entries}
    for i, name in enumerate(names):
        assert scores[name] == pytest.approx(mean_ranks[i])
        assert next(r.rank for r in ranking.entries if r.entry == name) == final[i]
    # The bootstrap re-applies the scheme: mean per-case rank over each replicate's cases.
    indices = bootstrap_indices(120, 200, 2)
    replicate_means = {name: per_case_ranks[:, i][indices].mean(axis=1) for i, name in enumerate(names)}
    direct = rank_uncertainty(replicate_means, {r.entry: r.rank for r in ranking.entries},
                              dict(zip(names, mean_ranks, strict=True)), higher_is_better=False)
    assert ranking.uncertainty == direct


def test_rank_then_aggregate_refuses_a_set_level_metric() -> None:
    with pytest.raises(ValueError, match="set-level metric"):
        rank_entries(classifier_entries([1.0, 2.0], n=50, seed=0), SetAUROC(), "rank-then-aggregate")
    with pytest.raises(ValueError, match="no median of per-case values"):
        rank_entries(classifier_entries([1.0, 2.0], n=50, seed=0), SetAUROC(), aggregate="median")


def test_significance_on_case_values_uses_wilcoxon_and_holm() -> None:
    entries = regression_entries([0.1, 0.3, 0.31, 0.8], n=80, seed=9)
    names = list(entries)
    ranking = rank_entries(entries, AbsoluteError(), "significance", replicates=200)
    errors = {n: np.abs(entries[n].predictions - entries[n].targets) for n in names}
    assert len(ranking.tests) == 12
    p_values = []
    for test in ranking.tests:
        assert test.test == "wilcoxon"
        differences = errors[test.better] - errors[test.worse]
        expected = wilcoxon(differences, alternative="less")  # lower error is better
        assert test.p_value == pytest.approx(expected.pvalue, rel=1e-12)
        assert test.statistic == pytest.approx(expected.statistic)
        p_values.append(test.p_value)
    reject, corrected, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    np.testing.assert_allclose([t.p_holm for t in ranking.tests], corrected, atol=1e-15)
    assert [t.significant for t in ranking.tests] == reject.tolist()
    wins = {n: sum(t.significant for t in ranking.tests if t.better == n) for n in names}
    assert {row.entry: row.score for row in ranking.entries} == wins
    assert wins["r0"] == 3 and wins["r3"] == 0
    expected_ranks = rankdata([-wins[n] for n in names], method="min")
    assert {row.entry: row.rank for row in ranking.entries} == dict(zip(names, expected_ranks, strict=True))


def test_significance_on_a_set_level_metric_uses_the_paired_bootstrap() -> None:
    entries = classifier_entries([0.2, 1.5, 1.6, 3.0], n=300, seed=12)
    names = list(entries)
    ranking = rank_entries(entries, SetAUROC(), "significance", replicates=400, seed=1)
    replicated = paired_bootstrap(entries, SetAUROC(), replicates=400, seed=1)
    values = {n: auroc_rows(entries[n].predictions, entries[n].targets)[0] for n in names}
    for test in ranking.tests:
        assert test.test == "bootstrap-z"
        z = (values[test.better] - values[test.worse]) / np.std(replicated[test.better] - replicated[test.worse],
                                                                 ddof=1)
        assert test.statistic == pytest.approx(z)
        assert test.p_value == pytest.approx(norm.sf(z))
    wins = {row.entry: row.score for row in ranking.entries}
    assert wins["e3"] == 3 and wins["e0"] == 0
    assert ranking.entries[0].entry == "e3"


# --- edge cases ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["aggregate-then-rank", "rank-then-aggregate", "significance"])
def test_one_entry(scheme: str) -> None:
    entries = regression_entries([0.3], n=60, seed=1)
    ranking = rank_entries(entries, AbsoluteError(), scheme, replicates=100)
    (row,) = ranking.entries
    assert row.rank == 1 and row.ci_low < row.value < row.ci_high
    (unc,) = ranking.uncertainty.entries
    assert (unc.p_first, unc.rank_low, unc.rank_high, unc.not_different_from_leader) == (1.0, 1, 1, True)
    assert ranking.uncertainty.kendall_tau_mean is None
    assert ranking.tests == []


@pytest.mark.parametrize(("scheme", "metric"), [("aggregate-then-rank", SetAUROC()), ("significance", SetAUROC()),
                                                ("rank-then-aggregate", AbsoluteError()),
                                                ("significance", AbsoluteError())])
def test_two_identical_entries_tie_everywhere(scheme: str, metric) -> None:  # type: ignore[no-untyped-def]
    base = (classifier_entries if isinstance(metric, SetAUROC) else regression_entries)([1.0], n=80, seed=3)
    only = next(iter(base.values()))
    entries = {"first": only, "second": MetricInput(only.case_ids, only.predictions.copy(), only.targets)}
    ranking = rank_entries(entries, metric, scheme, replicates=200)
    assert [row.rank for row in ranking.entries] == [1, 1]
    assert ranking.entries[0].value == ranking.entries[1].value
    for row in ranking.uncertainty.entries:
        assert row.p_first == 0.5 and (row.rank_low, row.rank_high) == (1, 1)
        assert row.not_different_from_leader and row.difference_to_leader == 0.0
    assert ranking.uncertainty.kendall_tau_mean is None  # every ranking is one tie: tau-b is undefined
    assert all(not test.significant and test.p_value == 1.0 for test in ranking.tests)


def test_result_is_strict_json() -> None:
    ranking = rank_entries(classifier_entries([0.5, 1.0, 1.0], n=100, seed=0), SetAUROC(), "significance",
                           replicates=100)
    text = json.dumps(ranking.as_dict(), allow_nan=False)
    assert json.loads(text)["uncertainty"]["leader"] == ranking.uncertainty.leader


def test_unknown_scheme_and_aggregate_are_refused() -> None:
    entries = regression_entries([0.1], n=10, seed=0)
    with pytest.raises(ValueError, match="unknown ranking scheme 'best-of'"):
        rank_entries(entries, AbsoluteError(), "best-of")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown aggregate 'mode'"):
        rank_entries(entries, AbsoluteError(), aggregate="mode")  # type: ignore[arg-type]


def test_registered_auroc_plugin_ranks_like_the_reference() -> None:
    from sklearn.metrics import roc_auc_score

    from evaluation.registry import get_metric

    entries = classifier_entries([0.5, 2.0, 1.0], n=300, seed=21)
    ranking = rank_entries(entries, get_metric("auroc"), replicates=300)
    assert [row.entry for row in ranking.entries] == ["e1", "e2", "e0"]
    reference = paired_bootstrap(entries, SetAUROC(), replicates=300)
    plugin = paired_bootstrap(entries, get_metric("auroc"), replicates=300)
    for row in ranking.entries:
        data = entries[row.entry]
        assert row.value == pytest.approx(roc_auc_score(data.targets, data.predictions), abs=1e-12)
        np.testing.assert_allclose(plugin[row.entry], reference[row.entry], rtol=0, atol=1e-12)


# --- the direction ranked in (a leaderboard's configured order) ---------------------------------------------------

@pytest.mark.parametrize("scheme", ["aggregate-then-rank", "rank-then-aggregate", "significance"])
def test_a_given_direction_ranks_against_the_metrics_own(scheme: str) -> None:
    """Ranking lower-is-better absolute errors "higher first" is the metric's own ranking turned round."""
    entries = regression_entries([0.1, 0.3, 0.9], n=150, seed=4)  # r0 the most accurate, r2 the least
    own = rank_entries(entries, AbsoluteError(), scheme, replicates=200, seed=1)
    turned = rank_entries(entries, AbsoluteError(), scheme, replicates=200, seed=1, higher_is_better=True)
    assert [row.entry for row in own.entries] == ["r0", "r1", "r2"] and own.higher_is_better is False
    assert [row.entry for row in turned.entries] == ["r2", "r1", "r0"] and turned.higher_is_better is True
    assert {row.entry: row.rank for row in turned.entries} == {"r2": 1, "r1": 2, "r0": 3}
    uncertainty = by_entry(turned)
    assert turned.uncertainty.leader == "r2" and uncertainty["r2"].median_rank == 1
    assert uncertainty["r0"].median_rank == 3 and uncertainty["r2"].p_first > 0.9
    assert [row.value for row in turned.entries] == sorted(row.value for row in own.entries)[::-1]
    same = rank_entries(entries, AbsoluteError(), scheme, replicates=200, seed=1, higher_is_better=False)
    assert same == own  # the metric's own direction given explicitly changes nothing
