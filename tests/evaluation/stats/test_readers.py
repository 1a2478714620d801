"""Readers as baselines, against a direct computation: reader operating points, the algorithm's threshold
matched to them by brute force, and paired bootstrap replicates that re-choose the threshold."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evaluation.bootstrap import bootstrap_indices
from evaluation.readers import compare_readers
from tests.evaluation.stats.test_operating_points import brute_force


def reader_study(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    targets = (rng.random(n) < 0.3).astype(float)
    latent = targets * 1.5 + rng.normal(size=n)
    scores = (latent + rng.normal(scale=0.5, size=n)).round(2)
    # Ordinal reads, BI-RADS-like 1..5, from a noisier look at the same cases.
    birads = np.clip(np.digitize(latent + rng.normal(scale=0.8, size=n), [-0.5, 0.3, 1.0, 1.8]) + 1, 1, 5)
    binary = (latent + rng.normal(scale=1.0, size=n) > 1.0).astype(float)
    return scores, targets, {"birads": birads.astype(float), "binary": binary}


def direct(scores: np.ndarray, targets: np.ndarray, calls: np.ndarray) -> dict[str, float]:
    positive = targets == 1
    if positive.all() or not positive.any():
        return dict.fromkeys(("sensitivity", "specificity", "threshold_at_sensitivity", "algorithm_specificity",
                              "specificity_difference", "threshold_at_specificity", "algorithm_sensitivity",
                              "sensitivity_difference"), math.nan)
    sensitivity = (calls & positive).sum() / positive.sum()
    specificity = (~calls & ~positive).sum() / (~positive).sum()
    at_sensitivity = brute_force(scores, targets, "sensitivity", sensitivity)
    at_specificity = brute_force(scores, targets, "specificity", specificity)
    return {
        "sensitivity": sensitivity,
        "specificity": specificity,
        "threshold_at_sensitivity": at_sensitivity["threshold"],
        "algorithm_specificity": at_sensitivity["specificity"],
        "specificity_difference": at_sensitivity["specificity"] - specificity,
        "threshold_at_specificity": at_specificity["threshold"],
        "algorithm_sensitivity": at_specificity["sensitivity"],
        "sensitivity_difference": at_specificity["sensitivity"] - sensitivity,
    }


FIELDS = {
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "threshold_at_sensitivity": "threshold_at_reader_sensitivity",
    "algorithm_specificity": "algorithm_specificity_at_reader_sensitivity",
    "specificity_difference": "specificity_difference",
    "threshold_at_specificity": "threshold_at_reader_specificity",
    "algorithm_sensitivity": "algorithm_sensitivity_at_reader_specificity",
    "sensitivity_difference": "sensitivity_difference",
}


def test_point_estimates_equal_a_direct_computation() -> None:
    scores, targets, readers = reader_study()
    study = compare_readers(scores, targets, readers, positive_at={"birads": 4, "binary": 1}, replicates=50)
    assert [c.reader for c in study.comparisons] == ["birads", "binary"]
    for comparison in study.comparisons:
        calls = readers[comparison.reader] >= comparison.positive_at
        expected = direct(scores, targets, calls)
        for key, field in FIELDS.items():
            assert getattr(comparison, field).value == pytest.approx(expected[key], abs=1e-12), field
        assert comparison.algorithm_sensitivity_at_reader_specificity.value >= 0
        assert comparison.n_positives == targets.sum() and comparison.n_cases == targets.size


def test_bootstrap_resamples_cases_jointly_and_rechooses_the_threshold() -> None:
    scores, targets, readers = reader_study(n=60, seed=3)
    study = compare_readers(scores, targets, {"birads": readers["birads"]}, positive_at=3, replicates=80, seed=4)
    (comparison,) = study.comparisons
    calls = readers["birads"] >= 3
    rows = [direct(scores[idx], targets[idx], calls[idx]) for idx in bootstrap_indices(60, 80, 4)]
    for key, field in FIELDS.items():
        values = np.array([row[key] for row in rows])
        estimate = getattr(comparison, field)
        if key.startswith("threshold"):
            low, high = np.quantile(values[~np.isnan(values)], [0.025, 0.975], method="inverted_cdf")
        else:
            low, high = np.quantile(values[np.isfinite(values)], [0.025, 0.975])
        assert (estimate.ci_low, estimate.ci_high) == (pytest.approx(low), pytest.approx(high)), field
        assert estimate.replicates_defined == np.sum(~np.isnan(values))


def test_ordinal_calls_with_a_cut_off_equal_the_binary_calls_they_imply() -> None:
    scores, targets, readers = reader_study(seed=5)
    ordinal = compare_readers(scores, targets, {"r": readers["birads"]}, positive_at=4, replicates=100)
    binary = compare_readers(scores, targets, {"r": (readers["birads"] >= 4).astype(float)}, replicates=100)
    assert ordinal.comparisons[0].sensitivity == binary.comparisons[0].sensitivity
    assert ordinal.comparisons[0].sensitivity_difference == binary.comparisons[0].sensitivity_difference


def test_a_reader_on_the_algorithms_own_roc_curve_has_no_difference() -> None:
    scores, targets, _ = reader_study(seed=6)
    threshold = np.quantile(scores, 0.7)
    study = compare_readers(scores, targets, {"same": (scores >= threshold).astype(float)}, replicates=100)
    (comparison,) = study.comparisons
    assert comparison.specificity_difference.value == 0.0
    assert comparison.sensitivity_difference.value == 0.0
    assert comparison.threshold_at_reader_sensitivity.value == comparison.threshold_at_reader_specificity.value
    assert comparison.specificity_difference.ci_low <= 0.0 <= comparison.specificity_difference.ci_high


def test_a_clearly_better_algorithm_shows_a_positive_difference() -> None:
    rng = np.random.default_rng(7)
    targets = (rng.random(400) < 0.3).astype(float)
    scores = targets * 3.0 + rng.normal(size=400)
    weak_reader = (targets * 0.5 + rng.normal(size=400) > 0.5).astype(float)
    (comparison,) = compare_readers(scores, targets, {"weak": weak_reader}, replicates=300).comparisons
    assert comparison.specificity_difference.ci_low > 0
    assert comparison.sensitivity_difference.ci_low > 0


def test_results_are_strict_json() -> None:
    scores, targets, readers = reader_study(n=40, seed=8)
    json.dumps(compare_readers(scores, targets, readers, positive_at={"birads": 4, "binary": 1},
                               replicates=30).as_dict(), allow_nan=False)


def test_bad_inputs_are_refused() -> None:
    scores, targets, readers = reader_study(n=30)
    with pytest.raises(ValueError, match="reader 'short' has 29 calls for 30 cases"):
        compare_readers(scores, targets, {"short": readers["binary"][:-1]})
    with pytest.raises(ValueError, match="both positive and negative"):
        compare_readers(scores, np.zeros(30), readers)


def panel_direct(scores: np.ndarray, targets: np.ndarray, calls: list[np.ndarray]) -> dict[str, float]:
    """The panel's average reader by brute force: mean sensitivity and specificity of the readers, and the
    algorithm's thresholds matched to them."""
    positive = targets == 1
    if positive.all() or not positive.any():
        return dict.fromkeys(FIELDS, math.nan)
    sensitivity = float(np.mean([(c & positive).sum() / positive.sum() for c in calls]))
    specificity = float(np.mean([(~c & ~positive).sum() / (~positive).sum() for c in calls]))
    at_sensitivity = brute_force(scores, targets, "sensitivity", sensitivity)
    at_specificity = brute_force(scores, targets, "specificity", specificity)
    return {"sensitivity": sensitivity, "specificity": specificity,
            "threshold_at_sensitivity": at_sensitivity["threshold"],
            "algorithm_specificity": at_sensitivity["specificity"],
            "specificity_difference": at_sensitivity["specificity"] - specificity,
            "threshold_at_specificity": at_specificity["threshold"],
            "algorithm_sensitivity": at_specificity["sensitivity"],
            "sensitivity_difference": at_specificity["sensitivity"] - sensitivity}


def test_the_panel_average_reader_equals_a_brute_force_computation() -> None:
    scores, targets, readers = reader_study(n=80, seed=6)
    cut_offs = {"birads": 4.0, "binary": 1.0}
    study = compare_readers(scores, targets, readers, positive_at=cut_offs, replicates=60, seed=2)
    assert study.panel is not None and study.panel.reader == "panel average" and study.panel.positive_at is None
    calls = [readers[name] >= cut_offs[name] for name in readers]
    expected = panel_direct(scores, targets, calls)
    for key, field in FIELDS.items():
        assert getattr(study.panel, field).value == pytest.approx(expected[key], abs=1e-12), field
    # the mean of the readers' own operating points
    assert study.panel.sensitivity.value == pytest.approx(np.mean([c.sensitivity.value for c in study.comparisons]))
    # its intervals: the same joint resamples, the panel re-averaged and the thresholds re-chosen in each
    rows = [panel_direct(scores[idx], targets[idx], [c[idx] for c in calls]) for idx in bootstrap_indices(80, 60, 2)]
    for key, field in FIELDS.items():
        values = np.array([row[key] for row in rows])
        estimate = getattr(study.panel, field)
        if key.startswith("threshold"):
            low, high = np.quantile(values[~np.isnan(values)], [0.025, 0.975], method="inverted_cdf")
        else:
            low, high = np.quantile(values[np.isfinite(values)], [0.025, 0.975])
        assert (estimate.ci_low, estimate.ci_high) == (pytest.approx(low), pytest.approx(high)), field


def test_one_reader_has_no_panel() -> None:
    scores, targets, readers = reader_study(n=60)
    assert compare_readers(scores, targets, {"binary": readers["binary"]}, replicates=20).panel is None
