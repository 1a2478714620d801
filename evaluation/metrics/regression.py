"""Regression metrics (input_kind "scalar") and the machinery shared by every case-level metric.

A case-level metric gives one value per case (``per_case``); the aggregate is a function of those values
(the mean, or the root of the mean for RMSE), and a bootstrap replicate is the same aggregate over the
drawn cases. Definitions and edge cases are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from evaluation.base import InputKind, MetricInput, MetricInputError, MetricResult
from evaluation.bootstrap import DEFAULT_REPLICATES, percentile_interval, resample_cases

_BLOCK_ELEMENTS = 1 << 20


def check_options(data: MetricInput, metric: str, known: Iterable[str]) -> None:
    """Refuse options the metric does not take, so that a typo in challenge.yaml is not silently ignored."""
    unknown = sorted(set(data.options) - set(known))
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise MetricInputError(f"{metric}: unknown option(s) {', '.join(map(repr, unknown))}; it takes: {takes}")


class CaseMeanMetric:
    """A metric with one value per case, aggregated by the mean (``aggregate`` may transform the mean).

    ``per_case`` validates the inputs and returns shape (n,). The per-case values of the last input are kept,
    so that ``compute`` followed by ``resample`` on the same ``MetricInput`` reads images only once.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    title: ClassVar[str]
    higher_is_better: ClassVar[bool]
    input_kind: ClassVar[InputKind]

    _cached: tuple[MetricInput, np.ndarray] | None = None

    def per_case(self, data: MetricInput) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def aggregate(mean: NDArray[np.float64]) -> np.ndarray:
        """The aggregate from the mean of the per-case values (identity for a plain mean)."""
        return mean

    def _values(self, data: MetricInput) -> np.ndarray:
        if self._cached is None or self._cached[0] is not data:
            self._cached = (data, np.asarray(self.per_case(data), dtype=np.float64))
        return self._cached[1]

    def _rows(self, values: np.ndarray, indices: np.ndarray) -> np.ndarray:
        indices = np.atleast_2d(indices)
        step = max(1, _BLOCK_ELEMENTS // max(indices.shape[1], 1))
        means = [values[indices[start:start + step]].mean(axis=1) for start in range(0, indices.shape[0], step)]
        return self.aggregate(np.concatenate(means)) if means else np.empty(0)

    def compute(self, data: MetricInput) -> MetricResult:
        values = self._values(data)
        if values.size == 0:
            raise MetricInputError(f"{self.name}: no cases to score")
        value = float(self.aggregate(np.array([values.mean()]))[0])
        resamples = resample_cases(data.case_ids, DEFAULT_REPLICATES, data.random_seed, data.groups)
        low, high = percentile_interval(resamples.apply(lambda indices: self._rows(values, indices)))
        return MetricResult(value=value, ci_low=low, ci_high=high, per_case=values,
                            detail="95% percentile bootstrap CI")

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        return self._rows(self._values(data), indices)


def _check_real(data: MetricInput, metric: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    predictions, targets = data.predictions, data.targets
    if (not isinstance(predictions, np.ndarray) or not isinstance(targets, np.ndarray)
            or predictions.shape != targets.shape or predictions.ndim != 1):
        raise MetricInputError(f"{metric}: predictions and targets must be 1-D arrays of the same length")
    predictions = predictions.astype(np.float64)
    targets = targets.astype(np.float64)
    if not (np.isfinite(predictions).all() and np.isfinite(targets).all()):
        raise MetricInputError(f"{metric}: predictions and reference values must be finite numbers")
    return predictions, targets


class MeanAbsoluteError(CaseMeanMetric):
    """Mean of |prediction - reference|; per case: the absolute error."""

    name = "mae"
    title = "Mean absolute error"
    higher_is_better = False
    input_kind: ClassVar[InputKind] = "scalar"

    def per_case(self, data: MetricInput) -> np.ndarray:
        check_options(data, self.name, ())
        predictions, targets = _check_real(data, self.name)
        return np.abs(predictions - targets)


class RootMeanSquaredError(CaseMeanMetric):
    """Square root of the mean of (prediction - reference)^2; per case: the squared error."""

    name = "rmse"
    title = "Root mean squared error"
    higher_is_better = False
    input_kind: ClassVar[InputKind] = "scalar"

    def per_case(self, data: MetricInput) -> np.ndarray:
        check_options(data, self.name, ())
        predictions, targets = _check_real(data, self.name)
        return (predictions - targets) ** 2

    @staticmethod
    def aggregate(mean: NDArray[np.float64]) -> np.ndarray:
        return np.sqrt(mean)
