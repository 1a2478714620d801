"""Classification plugins against scikit-learn (and an explicit loop for ECE) as independent references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

import evaluation.metrics.classification as classification
from evaluation.base import MetricInput, MetricInputError
from evaluation.bootstrap import bootstrap_ci, bootstrap_indices
from evaluation.metrics.classification import (
    AUROC,
    AveragePrecision,
    BalancedAccuracy,
    BrierScore,
    ExpectedCalibrationError,
    PositivePredictiveValue,
    Sensitivity,
    SensitivityAtSpecificity,
    Specificity,
    auroc_rows,
)

EXACT = 1e-12


def make_data(n: int, seed: int, *, decimals: int | None = 1, **options: object) -> MetricInput:
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, n).astype(np.float64)
    targets[0], targets[-1] = 0.0, 1.0
    scores = np.clip(rng.random(n) * 0.8 + targets * 0.2, 0.0, 1.0)
    if decimals is not None:
        scores = np.round(scores, decimals)  # ties, and scores exactly at the threshold
    return MetricInput([f"c{i}" for i in range(n)], scores, targets, options=dict(options))


def rows_of(data: MetricInput, replicates: int = 40, seed: int = 5) -> np.ndarray:
    return bootstrap_indices(len(data.case_ids), replicates, seed)


# --- AUROC and average precision (existing plugins, new vectorised bootstrap) ----------------------------------

@pytest.mark.parametrize("n", [2, 9, 300])
@pytest.mark.parametrize("decimals", [None, 1])
def test_auroc_and_ap_replicates_equal_scikit_learn_per_row(n: int, decimals: int | None) -> None:
    data = make_data(n, n, decimals=decimals)
    indices = rows_of(data)
    auroc, ap = AUROC().resample(data, indices), AveragePrecision().resample(data, indices)
    for row, idx in enumerate(indices):
        y, s = data.targets[idx], data.predictions[idx]
        if 0 < y.sum() < y.size:
            assert auroc[row] == pytest.approx(roc_auc_score(y, s), abs=EXACT)
            assert ap[row] == pytest.approx(average_precision_score(y, s), abs=EXACT)
        else:
            assert np.isnan(auroc[row])
    # Integer counts make the vectorised AUROC the same correctly rounded number as the rank formula.
    assert np.array_equal(auroc, auroc_rows(data.predictions[indices], data.targets[indices]), equal_nan=True)


def test_auroc_and_ap_point_estimates_and_intervals_are_unchanged() -> None:
    data = make_data(400, 1, decimals=2)
    for plugin, rows, reference in ((AUROC(), classification.auroc_rows, roc_auc_score),
                                    (AveragePrecision(), classification.average_precision_rows,
                                     average_precision_score)):
        result = plugin.compute(data)
        assert result.value == pytest.approx(reference(data.targets, data.predictions), abs=EXACT)
        old_low, old_high = bootstrap_ci(rows, data.predictions, data.targets, seed=data.random_seed)
        assert (result.ci_low, result.ci_high) == pytest.approx((old_low, old_high), abs=EXACT)


def test_blocks_of_replicates_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_data(200, 2, decimals=2, threshold=0.4)
    indices = rows_of(data, replicates=30)
    plugins = (AUROC(), AveragePrecision(), SensitivityAtSpecificity(), ExpectedCalibrationError())
    whole = [p.resample(MetricInput(data.case_ids, data.predictions, data.targets), indices) for p in plugins]
    monkeypatch.setattr(classification, "_BLOCK_ELEMENTS", 1)  # one replicate per block
    for plugin, expected in zip(plugins, whole, strict=True):
        got = plugin.resample(MetricInput(data.case_ids, data.predictions, data.targets), indices)
        assert np.array_equal(got, expected, equal_nan=True)


# --- metrics at a threshold ---------------------------------------------------------------------------------

def sklearn_at_threshold(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (s >= threshold).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "sensitivity": recall_score(y, pred, zero_division=np.nan) if y.any() else np.nan,
            "specificity": recall_score(y, pred, pos_label=0, zero_division=np.nan) if not y.all() else np.nan,
            "ppv": precision_score(y, pred, zero_division=0.0),
            "balanced_accuracy": balanced_accuracy_score(y, pred) if 0 < y.sum() < y.size else np.nan,
        }


THRESHOLD_PLUGINS = (Sensitivity, Specificity, PositivePredictiveValue, BalancedAccuracy)


@pytest.mark.parametrize("n", [5, 60, 2000])
@pytest.mark.parametrize("threshold", [None, 0.3, 0.5, 0.0, 1.1])
def test_threshold_metrics_equal_scikit_learn(n: int, threshold: float | None) -> None:
    options = {} if threshold is None else {"threshold": threshold}
    cut = 0.5 if threshold is None else threshold
    data = make_data(n, n, **options)  # rounded scores: many cases exactly at 0.3 and 0.5 (counted positive)
    indices = rows_of(data, replicates=15)
    row_references = [sklearn_at_threshold(data.targets[idx], data.predictions[idx], cut) for idx in indices]
    expected = sklearn_at_threshold(data.targets, data.predictions, cut)
    for plugin_class in THRESHOLD_PLUGINS:
        plugin = plugin_class()
        assert plugin.compute(data).value == pytest.approx(expected[plugin.name], abs=EXACT)
        replicates = plugin.resample(data, indices)
        for row, reference in enumerate(row_references):
            assert replicates[row] == pytest.approx(reference[plugin.name], abs=EXACT, nan_ok=True)


def test_ppv_is_zero_when_nothing_is_called_positive() -> None:
    data = make_data(50, 3, threshold=2.0)
    assert PositivePredictiveValue().compute(data).value == 0.0


def test_threshold_metrics_need_their_classes() -> None:
    only_negatives = MetricInput(["a", "b"], np.array([0.2, 0.7]), np.array([0.0, 0.0]))
    with pytest.raises(MetricInputError, match="no positive case"):
        Sensitivity().compute(only_negatives)
    with pytest.raises(MetricInputError, match="only one class"):
        BalancedAccuracy().compute(only_negatives)
    assert Specificity().compute(only_negatives).value == 0.5
    only_positives = MetricInput(["a", "b"], np.array([0.2, 0.7]), np.array([1.0, 1.0]))
    with pytest.raises(MetricInputError, match="no negative case"):
        Specificity().compute(only_positives)


# --- sensitivity at a fixed specificity -------------------------------------------------------------------------

def reference_sensitivity_at_specificity(y: np.ndarray, s: np.ndarray, target: float) -> float:
    """Best sensitivity over scikit-learn's ROC thresholds (incl. +inf) whose specificity reaches the target."""
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    negatives, positives = s[y == 0], s[y == 1]
    best = 0.0
    for threshold, curve_tpr, curve_fpr in zip(thresholds, tpr, fpr, strict=True):
        specificity = np.count_nonzero(negatives < threshold) / negatives.size
        sensitivity = np.count_nonzero(positives >= threshold) / positives.size
        assert (sensitivity, 1 - specificity) == pytest.approx((curve_tpr, curve_fpr), abs=EXACT)
        if specificity >= target:
            best = max(best, sensitivity)
    return best


def test_sensitivity_at_specificity_reference_agrees_with_recall_score() -> None:
    data = make_data(40, 4)
    y, s = data.targets, data.predictions
    for threshold in np.unique(s):
        pred = (s >= threshold).astype(int)
        assert np.count_nonzero(s[y == 0] < threshold) / np.count_nonzero(y == 0) == recall_score(y, pred,
                                                                                                  pos_label=0)
        assert np.count_nonzero(s[y == 1] >= threshold) / np.count_nonzero(y == 1) == recall_score(y, pred)


@pytest.mark.parametrize("n", [6, 50, 700])
@pytest.mark.parametrize("target", [None, 0.0, 0.5, 0.8, 0.95, 1.0])
@pytest.mark.parametrize("decimals", [None, 1])
def test_sensitivity_at_specificity_equals_roc_curve_reference(n: int, target: float | None,
                                                               decimals: int | None) -> None:
    options = {} if target is None else {"specificity": target}
    data = make_data(n, n + 1, decimals=decimals, **options)
    goal = 0.9 if target is None else target
    plugin = SensitivityAtSpecificity()
    expected = reference_sensitivity_at_specificity(data.targets, data.predictions, goal)
    assert plugin.compute(data).value == pytest.approx(expected, abs=EXACT)
    indices = rows_of(data, replicates=15)
    replicates = plugin.resample(data, indices)
    for row, idx in enumerate(indices):
        y, s = data.targets[idx], data.predictions[idx]
        if 0 < y.sum() < y.size:
            assert replicates[row] == pytest.approx(reference_sensitivity_at_specificity(y, s, goal), abs=EXACT)
        else:
            assert np.isnan(replicates[row])


def test_sensitivity_at_specificity_takes_no_interpolation() -> None:
    # Negatives 0.1..0.9 (specificity steps of 1/9), positives interleaved. At specificity >= 0.9 the lowest
    # admissible threshold keeps all 9 negatives below it, i.e. t = 0.95 (spec 1.0 > 0.9 since 8/9 < 0.9).
    negatives = np.arange(1, 10) / 10
    positives = np.array([0.55, 0.95, 0.97, 0.99])
    data = MetricInput([str(i) for i in range(13)], np.concatenate([negatives, positives]),
                       np.concatenate([np.zeros(9), np.ones(4)]))
    assert SensitivityAtSpecificity().compute(data).value == 0.75


# --- Brier score and expected calibration error -----------------------------------------------------------------

def test_brier_score_equals_scikit_learn_and_is_case_level() -> None:
    data = make_data(500, 7, decimals=None)
    result = BrierScore().compute(data)
    assert result.value == pytest.approx(brier_score_loss(data.targets, data.predictions), abs=EXACT)
    assert np.array_equal(result.per_case, (data.predictions - data.targets) ** 2)
    assert result.ci_low < result.value < result.ci_high
    indices = rows_of(data)
    replicates = BrierScore().resample(data, indices)
    for row, idx in enumerate(indices):
        assert replicates[row] == pytest.approx(brier_score_loss(data.targets[idx], data.predictions[idx]),
                                                abs=EXACT)
    assert not BrierScore.higher_is_better


def reference_ece(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """ECE by an explicit loop over bins [0, e1], (e1, e2], ..., (e_{B-1}, 1] with numpy's linspace edges."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        inside = (p <= edges[b + 1]) & ((p > edges[b]) if b > 0 else (p >= edges[b]))
        if inside.any():
            total += inside.sum() / p.size * abs(y[inside].mean() - p[inside].mean())
    return total


def ece_from_calibration_curve(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.array([((p <= edges[b + 1]) & ((p > edges[b]) if b > 0 else (p >= 0))).sum() for b in range(bins)])
    counts = counts[counts > 0]
    return float(np.sum(counts / p.size * np.abs(prob_true - prob_pred)))


@pytest.mark.parametrize("bins", [None, 1, 5, 15])
@pytest.mark.parametrize("n", [8, 400])
def test_expected_calibration_error_equals_loop_and_calibration_curve(bins: int | None, n: int) -> None:
    rng = np.random.default_rng(n)
    p = rng.random(n)
    p[: n // 4] = rng.choice(np.concatenate([np.linspace(0, 1, 11), [0.3, 0.7, 0.6]]), n // 4)  # on bin edges
    y = (rng.random(n) < p ** 1.5).astype(np.float64)
    data = MetricInput([str(i) for i in range(n)], p, y, options={} if bins is None else {"bins": bins})
    b = 10 if bins is None else bins
    plugin = ExpectedCalibrationError()
    value = plugin.compute(data).value
    assert value == pytest.approx(reference_ece(y, p, b), abs=EXACT)
    if 0 < y.sum() < n:
        assert value == pytest.approx(ece_from_calibration_curve(y, p, b), abs=EXACT)
    indices = rows_of(data, replicates=10)
    for row, replicate in enumerate(plugin.resample(data, indices)):
        assert replicate == pytest.approx(reference_ece(y[indices[row]], p[indices[row]], b), abs=EXACT)
    assert not ExpectedCalibrationError.higher_is_better


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    p = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=float)
    assert ExpectedCalibrationError().compute(MetricInput([str(i) for i in range(8)], p, y)).value == 0.0


# --- validation -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("plugin", "options", "message"), [
    (Sensitivity(), {"treshold": 0.5}, "unknown option"),
    (SensitivityAtSpecificity(), {"specificity": 1.5}, "'specificity' must be a number in"),
    (ExpectedCalibrationError(), {"bins": 0}, "'bins' must be a positive integer"),
    (ExpectedCalibrationError(), {"bins": 2.5}, "'bins' must be a positive integer"),
    (AUROC(), {"threshold": 0.5}, "unknown option"),
])
def test_bad_options_are_refused_with_a_reason(plugin: object, options: dict, message: str) -> None:
    with pytest.raises(MetricInputError, match=message):
        plugin.compute(make_data(20, 1, **options))


@pytest.mark.parametrize("plugin", [BrierScore(), ExpectedCalibrationError()])
def test_probability_metrics_refuse_values_outside_unit_interval(plugin: object) -> None:
    data = MetricInput(["a", "b"], np.array([0.2, 1.2]), np.array([0.0, 1.0]))
    with pytest.raises(MetricInputError, match=r"probabilities in \[0, 1\]"):
        plugin.compute(data)


def test_non_binary_references_and_non_finite_predictions_are_refused() -> None:
    with pytest.raises(MetricInputError, match="must be 0 or 1"):
        Sensitivity().compute(MetricInput(["a", "b"], np.array([0.2, 0.3]), np.array([0.0, 2.0])))
    with pytest.raises(MetricInputError, match="finite"):
        Specificity().compute(MetricInput(["a", "b"], np.array([0.2, np.nan]), np.array([0.0, 1.0])))
