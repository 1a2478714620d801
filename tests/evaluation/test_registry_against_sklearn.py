"""Metric plugins against scikit-learn as the independent reference."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from evaluation.base import MetricInput, MetricInputError
from evaluation.metrics.classification import auroc_rows, average_precision_rows
from evaluation.registry import UnknownMetric, get_metric, metric_registry


@pytest.mark.parametrize("n", [2, 7, 100, 5000])
@pytest.mark.parametrize("ties", [False, True])
def test_auroc_and_ap_equal_scikit_learn(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n)
    targets = rng.integers(0, 2, n)
    targets[0], targets[-1] = 0, 1
    scores = rng.random(n)
    if ties:
        scores = np.round(scores, 1)
    assert auroc_rows(scores, targets)[0] == pytest.approx(roc_auc_score(targets, scores), abs=1e-12)
    assert average_precision_rows(scores, targets)[0] == pytest.approx(
        average_precision_score(targets, scores), abs=1e-12)


def test_rows_are_independent_bootstrap_replicates() -> None:
    rng = np.random.default_rng(3)
    scores, targets = rng.random((50, 40)), rng.integers(0, 2, (50, 40))
    for row in range(50):
        assert auroc_rows(scores, targets)[row] == pytest.approx(roc_auc_score(targets[row], scores[row]))


def test_plugins_give_a_confidence_interval_around_the_value() -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, 300).astype(float)
    scores = targets * 0.5 + rng.random(300)
    for name in ("auroc", "average_precision"):
        result = get_metric(name).compute(MetricInput([str(i) for i in range(300)], scores, targets))
        assert result.ci_low < result.value < result.ci_high
        assert result.ci_low >= 0.0 and result.ci_high <= 1.0


def test_one_class_is_refused_with_a_reason() -> None:
    with pytest.raises(MetricInputError, match="only one class"):
        get_metric("auroc").compute(MetricInput(["a", "b"], np.array([0.1, 0.2]), np.array([1.0, 1.0])))


def test_registry_comes_from_entry_points_and_names_known_metrics() -> None:
    assert {"auroc", "average_precision"} <= set(metric_registry())
    with pytest.raises(UnknownMetric, match="known metrics: .*auroc"):
        get_metric("accuracy-ish")
