"""Regression plugins against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from evaluation.base import MetricInput, MetricInputError
from evaluation.bootstrap import bootstrap_indices
from evaluation.metrics.regression import MeanAbsoluteError, RootMeanSquaredError

EXACT = 1e-12


def make_data(n: int, seed: int) -> MetricInput:
    rng = np.random.default_rng(seed)
    targets = rng.normal(50, 10, n)
    return MetricInput([f"c{i}" for i in range(n)], targets + rng.standard_t(3, n), targets)


@pytest.mark.parametrize("n", [1, 13, 5000])
@pytest.mark.parametrize(("plugin_class", "reference"), [(MeanAbsoluteError, mean_absolute_error),
                                                         (RootMeanSquaredError, root_mean_squared_error)])
def test_errors_equal_scikit_learn(n: int, plugin_class: type, reference) -> None:
    data = make_data(n, n)
    result = plugin_class().compute(data)
    assert result.value == pytest.approx(reference(data.targets, data.predictions), abs=EXACT)
    indices = bootstrap_indices(n, 30, seed=2)
    replicates = plugin_class().resample(data, indices)
    for row, idx in enumerate(indices):
        assert replicates[row] == pytest.approx(reference(data.targets[idx], data.predictions[idx]), abs=EXACT)
    assert result.ci_low <= result.value <= result.ci_high
    assert not plugin_class.higher_is_better


def test_per_case_values_are_absolute_and_squared_errors() -> None:
    data = MetricInput(["a", "b", "c"], np.array([1.0, 2.0, 5.0]), np.array([1.5, 2.0, 2.0]))
    assert MeanAbsoluteError().compute(data).per_case.tolist() == [0.5, 0.0, 3.0]
    result = RootMeanSquaredError().compute(data)
    assert result.per_case.tolist() == [0.25, 0.0, 9.0]
    assert result.value == pytest.approx(np.sqrt(9.25 / 3), abs=EXACT)


@pytest.mark.parametrize(("predictions", "targets", "message"), [
    (np.array([1.0, np.inf]), np.array([1.0, 2.0]), "finite"),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]), "same length"),
])
def test_invalid_inputs_are_refused(predictions: np.ndarray, targets: np.ndarray, message: str) -> None:
    with pytest.raises(MetricInputError, match=message):
        MeanAbsoluteError().compute(MetricInput(["a", "b"], predictions, targets))


def test_unknown_options_are_refused() -> None:
    data = make_data(5, 1)
    with pytest.raises(MetricInputError, match="unknown option"):
        RootMeanSquaredError().compute(MetricInput(data.case_ids, data.predictions, data.targets,
                                                   options={"squared": False}))
