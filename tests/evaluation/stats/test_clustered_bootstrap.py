"""The clustered (group) bootstrap, cross-checked against a brute-force loop that shares its draws.

The library draws G group numbers per replicate with ``default_rng(seed).integers(0, G, size=(R, G))`` and takes
every case of each drawn group. The brute force below makes the same call (same seed, so the *same draws*), then
concatenates the drawn groups' cases one replicate at a time in Python and scores them with an independent
implementation (numpy mean/median, scikit-learn's roc_auc_score). Identical draws must give identical values,
which is a stronger check than comparing two distributions within a tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.base import MetricInput
from evaluation.bootstrap import bootstrap_indices, group_labels, percentile_interval, resample_cases
from evaluation.breakdown import breakdown
from evaluation.ranking import paired_bootstrap, paired_bootstrap_case_values, rank_entries
from evaluation.registry import get_metric
from tests.evaluation.stats.metrics import AbsoluteError, SetAUROC


def patients(n_patients: int, seed: int, max_images: int = 4) -> list[str]:
    """Case -> patient labels: 1 to ``max_images`` images per patient, patients interleaved (not contiguous)."""
    rng = np.random.default_rng(seed)
    labels = [f"p{p}" for p in range(n_patients) for _ in range(int(rng.integers(1, max_images + 1)))]
    return [labels[i] for i in rng.permutation(len(labels))]


def brute_force(case_patient: list[str], replicates: int, seed: int, statistic) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The clustered bootstrap by hand: draw groups, concatenate their cases, score each replicate in a loop."""
    order: list[str] = []
    for patient in case_patient:  # groups numbered in order of first appearance
        if patient not in order:
            order.append(patient)
    members = {p: [i for i, q in enumerate(case_patient) if q == p] for p in order}
    draws = np.random.default_rng(seed).integers(0, len(order), size=(replicates, len(order)))
    out = []
    for row in draws:
        cases = np.concatenate([members[order[g]] for g in row]).astype(int)
        out.append(statistic(cases))
    return np.array(out, dtype=float)


def sk_auroc(scores: np.ndarray, targets: np.ndarray):  # type: ignore[no-untyped-def]
    def statistic(cases: np.ndarray) -> float:
        t = targets[cases]
        return float(roc_auc_score(t, scores[cases])) if 0 < t.sum() < t.size else float("nan")
    return statistic


def classifier(n: int, seed: int, strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, size=n).astype(float)
    return targets * strength + rng.normal(size=n), targets


# --- against brute force ----------------------------------------------------------------------------------------

def test_mean_and_median_match_brute_force_with_the_same_draws() -> None:
    case_patient = patients(40, seed=1)
    n = len(case_patient)
    ids = [f"c{i}" for i in range(n)]
    values = np.random.default_rng(2).normal(size=n).round(1)  # rounded: ties, which the median must handle
    groups = dict(zip(ids, case_patient, strict=True))
    for aggregate, numpy_statistic in (("mean", np.mean), ("median", np.median)):
        library = paired_bootstrap_case_values({"a": values}, aggregate, replicates=400, seed=9,  # type: ignore[arg-type]
                                               case_ids=ids, groups=groups)["a"]
        expected = brute_force(case_patient, 400, 9, lambda cases, f=numpy_statistic: f(values[cases]))
        np.testing.assert_allclose(library, expected, rtol=1e-12, atol=1e-12)
    # The metric plugin path (metric.resample on the clustered replicates) gives the same mean.
    data = MetricInput(ids, values, np.zeros(n))
    plugin = paired_bootstrap({"a": data}, AbsoluteError(), replicates=400, seed=9, groups=groups)["a"]
    np.testing.assert_allclose(plugin, brute_force(case_patient, 400, 9, lambda cases: np.abs(values[cases]).mean()),
                               rtol=1e-12)


def test_real_auroc_matches_brute_force_with_sklearn() -> None:
    case_patient = patients(30, seed=3, max_images=5)
    n = len(case_patient)
    ids = [f"c{i}" for i in range(n)]
    scores, targets = classifier(n, seed=4)
    groups = dict(zip(ids, case_patient, strict=True))
    auroc = get_metric("auroc")  # the platform's AUROC plugin, not a test copy
    library = paired_bootstrap({"a": MetricInput(ids, scores, targets)}, auroc, replicates=300, seed=11,
                               groups=groups)["a"]
    expected = brute_force(case_patient, 300, 11, sk_auroc(scores, targets))
    np.testing.assert_allclose(library, expected, rtol=1e-10, equal_nan=True)
    # and the CI rank_entries reports is the percentile interval of exactly that distribution
    ranking = rank_entries({"a": MetricInput(ids, scores, targets)}, auroc, replicates=300, seed=11, groups=groups)
    assert (ranking.entries[0].ci_low, ranking.entries[0].ci_high) == pytest.approx(percentile_interval(expected))


def test_breakdown_resamples_clusters_within_each_site() -> None:
    case_patient = patients(60, seed=5)
    n = len(case_patient)
    ids = [f"c{i}" for i in range(n)]
    scores, targets = classifier(n, seed=6)
    sites = ["A" if int(p[1:]) % 2 else "B" for p in case_patient]  # a patient's images share a site
    data = MetricInput(ids, scores, targets, {"site": sites})
    results = breakdown(data, SetAUROC(), "site", replicates=200, seed=3,
                        groups=dict(zip(ids, case_patient, strict=True)))
    for result in results:
        members = [i for i, s in enumerate(sites) if s == result.group]
        expected = brute_force([case_patient[i] for i in members], 200, 3,
                               sk_auroc(scores[members], targets[members]))
        assert (result.ci_low, result.ci_high) == pytest.approx(percentile_interval(expected), rel=1e-10)


# --- reductions to the ordinary bootstrap -------------------------------------------------------------------------

def test_one_case_per_group_is_exactly_the_unclustered_bootstrap() -> None:
    n = 50
    ids = [f"c{i}" for i in range(n)]
    resamples = resample_cases(ids, 300, 4, {case: f"patient-{case}" for case in ids})
    assert len(resamples.blocks) == 1
    np.testing.assert_array_equal(resamples.blocks[0][1], bootstrap_indices(n, 300, 4))
    scores, targets = classifier(n, seed=8)
    entries = {"a": MetricInput(ids, scores, targets), "b": MetricInput(ids, scores + 0.3 * targets, targets)}
    for groups in ({case: case for case in ids}, {case: None for case in ids}, {case: "" for case in ids}):
        clustered = rank_entries(entries, SetAUROC(), "significance", replicates=300, seed=4, groups=groups)
        assert clustered.as_dict() == rank_entries(entries, SetAUROC(), "significance", replicates=300,
                                                   seed=4).as_dict()


def test_without_groups_the_numbers_are_those_from_before_clustering() -> None:
    """Pinned from the code before the clustered bootstrap existed (same data, seed and replicates)."""
    rng = np.random.default_rng(3)
    n = 60
    ids = [f"c{i}" for i in range(n)]
    t = (np.arange(n) % 2).astype(float)
    entries = {f"e{k}": MetricInput(ids, t * s + rng.normal(size=n), t, {"site": [["A", "B", "C"][i % 3]
                                                                                  for i in range(n)]})
               for k, s in enumerate([0.5, 1.0, 1.2])}
    ranking = rank_entries(entries, SetAUROC(), replicates=300, seed=5)
    assert [(e.entry, e.ci_low, e.ci_high) for e in ranking.entries] == [
        ("e2", 0.6453381292420816, 0.893534244398538),
        ("e1", 0.6586753472222222, 0.8582020202020202),
        ("e0", 0.49498244601587255, 0.787561783077225)]
    assert [(e.entry, e.p_first) for e in ranking.uncertainty.entries] == [
        ("e2", pytest.approx(0.5216666666666666, abs=1e-15)), ("e1", pytest.approx(0.415, abs=1e-15)),
        ("e0", pytest.approx(0.06333333333333334, abs=1e-15))]
    median = rank_entries(entries, AbsoluteError(), aggregate="median", replicates=300, seed=5)
    assert [(e.entry, e.ci_low, e.ci_high) for e in median.entries] == [
        ("e0", 0.48194538850678587, 0.8559336433490986),
        ("e2", 0.49245524644180244, 0.8514081586845307),
        ("e1", 0.6092161379498706, 1.0576944147199128)]
    sites = breakdown(entries["e1"], SetAUROC(), "site", replicates=200, seed=1)
    assert [(g.group, g.ci_low, g.ci_high) for g in sites] == [
        ("A", pytest.approx(0.6599141414141415, abs=1e-15), pytest.approx(0.98989898989899, abs=1e-15)),
        ("B", pytest.approx(0.5304687500000002, abs=1e-15), pytest.approx(0.9231770833333334, abs=1e-15)),
        ("C", pytest.approx(0.39359090909090916, abs=1e-15), pytest.approx(0.8958333333333334, abs=1e-15))]


# --- what clustering changes --------------------------------------------------------------------------------------

def test_clustering_widens_the_ci_when_a_patients_images_agree() -> None:
    """40 patients x 5 near-identical images: 40 independent observations, not 200. The clustered CI of the mean
    must be about sqrt(5) times wider; the case bootstrap, treating 200 cases as independent, is too narrow."""
    rng = np.random.default_rng(12)
    patient_effect = rng.normal(size=40)
    values = np.repeat(patient_effect, 5) + rng.normal(scale=0.05, size=200)
    ids = [f"c{i}" for i in range(200)]
    groups = {case: f"p{i // 5}" for i, case in enumerate(ids)}
    cases = paired_bootstrap_case_values({"a": values}, "mean", replicates=2000, seed=1)["a"]
    clustered = paired_bootstrap_case_values({"a": values}, "mean", replicates=2000, seed=1, case_ids=ids,
                                             groups=groups)["a"]
    case_low, case_high = percentile_interval(cases)
    low, high = percentile_interval(clustered)
    assert case_low is not None and case_high is not None and low is not None and high is not None
    assert (high - low) > 1.8 * (case_high - case_low)  # sqrt(5) = 2.24 expected
    # and the clustered interval matches the standard error of 40 patient means
    assert (high - low) == pytest.approx(2 * 1.96 * patient_effect.std() / np.sqrt(40), rel=0.2)


def test_a_replicate_holds_every_case_of_each_drawn_group() -> None:
    case_patient = ["p1", "p2", "p1", "p3", "p2", "p1"]
    ids = [f"c{i}" for i in range(6)]
    resamples = resample_cases(ids, 50, 0, dict(zip(ids, case_patient, strict=True)))
    sizes = {0: 3, 1: 2, 2: 1}  # p1, p2, p3 numbered by first appearance
    labels = group_labels(ids, dict(zip(ids, case_patient, strict=True)))
    assert labels.tolist() == [0, 1, 0, 2, 1, 0]
    assert sum(rows.size for rows, _ in resamples.blocks) == 50
    for _, indices in resamples.blocks:
        for row in indices:
            drawn = np.bincount(labels[row], minlength=3)
            # each group occurs a whole number of times: all its cases, as often as it was drawn
            assert all(drawn[g] % sizes[g] == 0 for g in range(3))
            assert sorted(row.tolist()) == sorted(sum(([i for i in range(6) if labels[i] == g]
                                                       * (drawn[g] // sizes[g]) for g in range(3)), []))


def test_a_grouping_that_misses_cases_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"no group for case\(s\) 'c2'"):
        resample_cases(["c0", "c1", "c2"], 10, 0, {"c0": "p", "c1": "p"})


@pytest.mark.parametrize("name", ["auroc", "mae"])
def test_a_metrics_own_ci_resamples_the_groups_of_metric_input(name: str) -> None:
    """``MetricInput.groups``: the CI ``compute`` reports is the clustered one (the brute force with the same
    draws); without groups it is the case bootstrap, as before."""
    case_patient = patients(30, seed=13)
    n = len(case_patient)
    ids = [f"c{i}" for i in range(n)]
    scores, targets = classifier(n, seed=14)
    if name == "mae":
        scores = scores / 4 + 0.5
    metric = get_metric(name)
    groups = dict(zip(ids, case_patient, strict=True))
    clustered = metric.compute(MetricInput(ids, scores, targets, groups=groups, random_seed=2))
    statistic = (sk_auroc(scores, targets) if name == "auroc"
                 else (lambda cases: float(np.abs(scores[cases] - targets[cases]).mean())))
    expected = brute_force(case_patient, 1000, 2, statistic)
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx(percentile_interval(expected), rel=1e-10)
    plain = metric.compute(MetricInput(ids, scores, targets, random_seed=2))
    indices = bootstrap_indices(n, 1000, 2)
    assert (plain.ci_low, plain.ci_high) == pytest.approx(
        percentile_interval(metric.resample(MetricInput(ids, scores, targets), indices)), rel=1e-12)
    assert clustered.value == plain.value and (clustered.ci_low, clustered.ci_high) != (plain.ci_low, plain.ci_high)
