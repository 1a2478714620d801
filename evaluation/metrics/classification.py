"""Binary classification metrics on a continuous score.

Both are computed row-wise on 2-D arrays so that bootstrap replicates are one vectorised call.
Targets are 0/1 (1 = positive class). Ties in scores are handled as scikit-learn does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from scipy.stats import rankdata

from evaluation.base import MetricInput, MetricInputError, MetricResult
from evaluation.bootstrap import bootstrap_ci


def auroc_rows(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """AUROC of each row by the Mann-Whitney U statistic with average ranks for ties.

    Rows with only one class give NaN.
    """
    scores = np.atleast_2d(scores)
    positives = np.atleast_2d(targets).astype(bool)
    ranks = rankdata(scores, axis=1)
    n_pos = positives.sum(axis=1)
    n_neg = positives.shape[1] - n_pos
    rank_sum = np.where(positives, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def average_precision_rows(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Average precision of each row: sum over thresholds of (R_k - R_{k-1}) * P_k.

    Cases with tied scores form one threshold, as in scikit-learn. Rows with no positives give NaN.
    """
    scores = np.atleast_2d(scores).astype(np.float64)
    targets = np.atleast_2d(targets).astype(np.float64)
    order = np.argsort(-scores, axis=1, kind="mergesort")
    s = np.take_along_axis(scores, order, axis=1)
    t = np.take_along_axis(targets, order, axis=1)
    tp = np.cumsum(t, axis=1)
    seen = np.arange(1, s.shape[1] + 1, dtype=np.float64)
    # The last position of each run of tied scores closes a threshold.
    closes = np.ones_like(s, dtype=bool)
    closes[:, :-1] = s[:, :-1] != s[:, 1:]
    n_pos = tp[:, -1]
    precision = tp / seen
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / n_pos[:, None]
    # Recall increment between consecutive closing thresholds.
    recall_at_close = np.where(closes, recall, np.nan)
    # Recall at the previous closing threshold: forward-fill, then shift right by one.
    filled = _forward_fill(recall_at_close)
    prev_recall = np.concatenate([np.zeros((s.shape[0], 1)), filled[:, :-1]], axis=1)
    prev_recall = np.nan_to_num(prev_recall, nan=0.0)
    contrib = np.where(closes, (recall - prev_recall) * precision, 0.0)
    ap = contrib.sum(axis=1)
    return np.where(n_pos > 0, ap, np.nan)


def _forward_fill(values: np.ndarray) -> np.ndarray:
    mask = np.isnan(values)
    idx = np.where(~mask, np.arange(values.shape[1]), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = np.take_along_axis(values, idx, axis=1)
    # Leading NaNs (before the first closing threshold) stay NaN.
    first_valid = np.argmax(~mask, axis=1)
    leading = np.arange(values.shape[1])[None, :] < first_valid[:, None]
    return np.where(leading & mask, np.nan, filled)


def _check_binary(data: MetricInput, metric: str) -> None:
    if data.predictions.shape != data.targets.shape or data.predictions.ndim != 1:
        raise MetricInputError(f"{metric}: predictions and targets must be 1-D arrays of the same length")
    if not np.isin(data.targets, (0.0, 1.0)).all():
        raise MetricInputError(f"{metric}: reference values must be 0 or 1")
    if not np.isfinite(data.predictions).all():
        raise MetricInputError(f"{metric}: predictions must be finite numbers")
    if data.targets.min(initial=1.0) == data.targets.max(initial=0.0):
        raise MetricInputError(f"{metric}: the scored cases hold only one class; it is undefined")


class _BinaryScoreMetric:
    """A statistic of continuous scores against 0/1 references, with a paired-bootstrap CI."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    title: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    rows: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray]]

    def compute(self, data: MetricInput) -> MetricResult:
        _check_binary(data, self.name)
        statistic = type(self).rows
        value = float(statistic(data.predictions, data.targets)[0])
        low, high = bootstrap_ci(statistic, data.predictions, data.targets, seed=data.random_seed)
        return MetricResult(value=value, ci_low=low, ci_high=high, detail="95% percentile bootstrap CI")


class AUROC(_BinaryScoreMetric):
    name = "auroc"
    title = "AUROC"
    rows = staticmethod(auroc_rows)


class AveragePrecision(_BinaryScoreMetric):
    name = "average_precision"
    title = "Average precision"
    rows = staticmethod(average_precision_rows)
