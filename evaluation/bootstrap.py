"""Percentile bootstrap over cases."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_REPLICATES = 1000


def bootstrap_indices(n: int, replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> np.ndarray:
    """Resampled case indices, shape (replicates, n). The same seed gives the same cases to every entry."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(replicates, n))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    predictions: np.ndarray,
    targets: np.ndarray,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> tuple[float, float] | tuple[None, None]:
    """CI of a statistic that is vectorised over rows of (replicates, n) arrays."""
    idx = bootstrap_indices(predictions.shape[0], replicates, seed)
    return percentile_interval(statistic(predictions[idx], targets[idx]))
