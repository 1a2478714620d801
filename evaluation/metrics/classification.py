"""Binary classification metrics on a continuous score (input_kind "scalar").

Targets are 0/1 (1 = positive class). Definitions, options and edge cases are in docs/metrics.md.

Bootstrap replicates are computed without materialising a (replicates, n) matrix of scores: every statistic
here depends on the cases only through *how many* drawn cases fall into each of a few categories (a
confusion-matrix cell, or a (distinct score, class) pair), so a replicate is a vector of category counts
(``rowwise_counts``), obtained with one ``np.bincount`` over the index matrix. Scores are sorted once, not
once per replicate. With integer counts, AUROC is an exact rational number rounded once, so the vectorised
value is bit-identical to the Mann-Whitney formula and equal to scikit-learn within rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from evaluation.base import InputKind, MetricInput, MetricInputError, MetricResult
from evaluation.bootstrap import DEFAULT_REPLICATES, percentile_interval, resample_cases
from evaluation.metrics.regression import CaseMeanMetric, check_options

# Elements per bincount block: small enough for the histogram to stay in cache, and memory stays bounded
# whatever the number of replicates.
_BLOCK_ELEMENTS = 1 << 18


# --- row-wise statistics on explicit (replicates, n) matrices (the original API) ---------------------------

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


# --- bootstrap replicates as category counts ----------------------------------------------------------------

def rowwise_counts(
    statistic: Callable[[np.ndarray], np.ndarray],
    codes: np.ndarray,
    n_codes: int,
    indices: np.ndarray | None,
    *,
    width: int = 0,
) -> np.ndarray:
    """``statistic`` of the category counts of each row of case indices.

    ``codes[i]`` is the category of case i (0 <= code < n_codes); the counts of a row are how many of its drawn
    cases fall in each category, shape (rows, n_codes). ``indices=None`` means every case once (the point
    estimate). Rows are processed in blocks so memory stays bounded for any number of replicates; ``width`` is
    the number of columns per row ``statistic`` works on, if larger than ``n_codes``.
    """
    codes = np.asarray(codes, dtype=np.intp)
    if indices is None:
        return statistic(np.bincount(codes, minlength=n_codes)[None, :])
    indices = np.atleast_2d(indices)
    step = max(1, _BLOCK_ELEMENTS // max(indices.shape[1], n_codes, width, 1))
    parts = []
    for start in range(0, indices.shape[0], step):
        block = indices[start:start + step]
        rows = block.shape[0]
        keys = codes[block]
        keys += (np.arange(rows, dtype=np.intp) * n_codes)[:, None]
        counts = np.bincount(keys.ravel(), minlength=rows * n_codes).reshape(rows, n_codes)
        parts.append(statistic(counts))
    return np.concatenate(parts) if parts else np.empty(0)


def score_codes(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Category of each case as (distinct score, class): ``code = rank_of_score + n_distinct * target``.

    Returns the codes, the number of categories and the distinct scores in ascending order. In the counts of
    these codes, columns [0, n_distinct) hold negatives and [n_distinct, 2 n_distinct) positives, per distinct
    score in ascending order.
    """
    thresholds, group = np.unique(scores, return_inverse=True)
    codes = group.astype(np.intp) + thresholds.size * np.asarray(targets).astype(np.intp)
    return codes, 2 * thresholds.size, thresholds


def _by_score(counts: np.ndarray, *, descending: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Negative and positive counts per distinct score, shape (rows, distinct scores)."""
    distinct = counts.shape[1] // 2
    neg, pos = counts[:, :distinct], counts[:, distinct:]
    return (neg[:, ::-1], pos[:, ::-1]) if descending else (neg, pos)


def auroc_from_counts(counts: np.ndarray) -> np.ndarray:
    """AUROC per row from (distinct score, class) counts: P(score_pos > score_neg) + P(tie) / 2.

    A positive beats every negative below its score and ties with those at its score, so twice the Mann-Whitney
    U is sum(pos * (2 * negatives_below + negatives_tied)), an exact integer: the result is the exact AUROC
    rounded once. Rows with only one class give NaN.
    """
    neg, pos = _by_score(counts, descending=False)
    neg_through = np.cumsum(neg, axis=1)  # negatives at or below each score
    twice_u = np.einsum("ij,ij->i", pos, 2 * neg_through - neg)
    denominator = 2.0 * pos.sum(axis=1) * neg_through[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, twice_u / denominator, np.nan)


def average_precision_from_counts(counts: np.ndarray, *, zero_precision_at_lowest: bool = False) -> np.ndarray:
    """Average precision per row: sum over distinct scores (descending) of (R_k - R_{k-1}) * P_k.

    With ``zero_precision_at_lowest`` the precision at the lowest distinct score is taken as 0: picai_eval's rule
    for missed lesions, which carry score 0 and only count in the recall denominator. Rows with no positives give
    NaN.
    """
    neg, pos = _by_score(counts)
    tp = np.cumsum(pos, axis=1)
    seen = tp + np.cumsum(neg, axis=1)
    n_pos = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / n_pos
        precision = tp / seen
    prev_recall = np.concatenate([np.zeros((tp.shape[0], 1)), recall[:, :-1]], axis=1)
    contributes = pos > 0
    if zero_precision_at_lowest:
        contributes[:, -1] = False
    ap = np.where(contributes, (recall - prev_recall) * precision, 0.0).sum(axis=1)
    return np.where(n_pos[:, 0] > 0, ap, np.nan)


def sensitivity_at_specificity_from_counts(counts: np.ndarray, target: float) -> np.ndarray:
    """Highest sensitivity among ROC operating points whose specificity is at least ``target``.

    Operating points are "positive when score >= t" for every distinct score t, plus t = +inf (nothing
    positive; specificity 1, sensitivity 0), so the value always exists. No interpolation. Rows with only one
    class give NaN.
    """
    neg, pos = _by_score(counts)
    tp = np.cumsum(pos, axis=1)
    fp = np.cumsum(neg, axis=1)
    n_pos = tp[:, -1:]
    n_neg = fp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        specificity = (n_neg - fp) / n_neg
        sensitivity = tp / n_pos
    best = np.where(specificity >= target, sensitivity, 0.0).max(axis=1, initial=0.0)
    return np.where((n_pos[:, 0] > 0) & (n_neg[:, 0] > 0), best, np.nan)


# Confusion-matrix cells at a threshold: code = 2 * target + (score >= threshold).
_TN, _FP, _FN, _TP = 0, 1, 2, 3


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, empty)


def sensitivity_from_cells(cells: np.ndarray) -> NDArray[np.float64]:
    return _ratio(cells[:, _TP], cells[:, _TP] + cells[:, _FN], np.nan)


def specificity_from_cells(cells: np.ndarray) -> NDArray[np.float64]:
    return _ratio(cells[:, _TN], cells[:, _TN] + cells[:, _FP], np.nan)


def ppv_from_cells(cells: np.ndarray) -> NDArray[np.float64]:
    """TP / (TP + FP); 0 when nothing is called positive (scikit-learn's ``zero_division`` default)."""
    return _ratio(cells[:, _TP], cells[:, _TP] + cells[:, _FP], 0.0)


def balanced_accuracy_from_cells(cells: np.ndarray) -> NDArray[np.float64]:
    return (specificity_from_cells(cells) + sensitivity_from_cells(cells)) / 2


def expected_calibration_error_rows(
    probabilities: np.ndarray, targets: np.ndarray, bins: int, indices: np.ndarray | None
) -> np.ndarray:
    """ECE with ``bins`` equal-width bins [0, 1/B], (1/B, 2/B], ..., ((B-1)/B, 1], per row of indices.

    ECE = sum_b (n_b / n) |mean(y in b) - mean(p in b)| = sum_b |sum_{i in b} (y_i - p_i)| / n.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = np.searchsorted(edges[1:-1], probabilities, side="left").astype(np.intp)
    gap = np.asarray(targets, dtype=np.float64) - probabilities
    if indices is None:
        return np.array([np.abs(np.bincount(bin_of, weights=gap, minlength=bins)).sum() / gap.size])
    indices = np.atleast_2d(indices)
    step = max(1, _BLOCK_ELEMENTS // max(indices.shape[1], 1))
    parts = []
    for start in range(0, indices.shape[0], step):
        block = indices[start:start + step]
        rows = block.shape[0]
        keys = bin_of[block] + (np.arange(rows, dtype=np.intp) * bins)[:, None]
        sums = np.bincount(keys.ravel(), weights=gap[block].ravel(), minlength=rows * bins).reshape(rows, bins)
        parts.append(np.abs(sums).sum(axis=1) / block.shape[1])
    return np.concatenate(parts) if parts else np.empty(0)


# --- input checks and options ---------------------------------------------------------------------------------

def _check_scores(data: MetricInput, metric: str, *, need: tuple[int, ...] = (0, 1), probabilities: bool = False
                  ) -> None:
    """Reject inputs the metric cannot score; ``need`` lists the classes that must be present."""
    predictions, targets = data.predictions, data.targets
    if (not isinstance(predictions, np.ndarray) or not isinstance(targets, np.ndarray)
            or predictions.shape != targets.shape or predictions.ndim != 1):
        raise MetricInputError(f"{metric}: predictions and targets must be 1-D arrays of the same length")
    if predictions.size == 0:
        raise MetricInputError(f"{metric}: no cases to score")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise MetricInputError(f"{metric}: reference values must be 0 or 1")
    if not np.isfinite(predictions).all():
        raise MetricInputError(f"{metric}: predictions must be finite numbers")
    if probabilities and (predictions.min() < 0.0 or predictions.max() > 1.0):
        raise MetricInputError(f"{metric}: predictions must be probabilities in [0, 1]")
    present = set(np.unique(targets).astype(int).tolist())
    if set(need) == {0, 1} and present != {0, 1}:
        raise MetricInputError(f"{metric}: the scored cases hold only one class; it is undefined")
    missing = [c for c in need if c not in present]
    if missing:
        kind = "positive" if missing[0] == 1 else "negative"
        raise MetricInputError(f"{metric}: the scored cases hold no {kind} case; it is undefined")


def _float_option(data: MetricInput, metric: str, key: str, default: float, low: float, high: float) -> float:
    value = data.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise MetricInputError(f"{metric}: option {key!r} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


# --- plugins --------------------------------------------------------------------------------------------------

class _SetLevelScalarMetric:
    """A statistic of all cases together with a percentile-bootstrap CI (the paired replicates of the platform)."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    title: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[InputKind] = "scalar"
    options: ClassVar[tuple[str, ...]] = ()
    need: ClassVar[tuple[int, ...]] = (0, 1)
    probabilities: ClassVar[bool] = False

    def _rows(self, data: MetricInput, indices: np.ndarray | None) -> np.ndarray:
        """The statistic per row of ``indices`` (None: every case once)."""
        raise NotImplementedError

    def _check(self, data: MetricInput) -> None:
        check_options(data, self.name, self.options)
        _check_scores(data, self.name, need=self.need, probabilities=self.probabilities)

    def point_estimate(self, data: MetricInput) -> float:
        return float(self._rows(data, None)[0])

    def compute(self, data: MetricInput) -> MetricResult:
        self._check(data)
        value = self.point_estimate(data)
        resamples = resample_cases(data.case_ids, DEFAULT_REPLICATES, data.random_seed, data.groups)
        low, high = percentile_interval(resamples.apply(lambda indices: self._rows(data, indices)))
        return MetricResult(value=value, ci_low=low, ci_high=high, detail="95% percentile bootstrap CI")

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        self._check(data)
        return self._rows(data, indices)


class _ScoreCurveMetric(_SetLevelScalarMetric):
    """Statistics of the ROC / precision-recall curve: replicates are (distinct score, class) counts."""

    def _from_counts(self, counts: np.ndarray, data: MetricInput) -> np.ndarray:
        raise NotImplementedError

    def _rows(self, data: MetricInput, indices: np.ndarray | None) -> np.ndarray:
        codes, n_codes, _ = score_codes(data.predictions, data.targets)
        return rowwise_counts(lambda counts: self._from_counts(counts, data), codes, n_codes, indices)


class AUROC(_ScoreCurveMetric):
    name = "auroc"
    title = "AUROC"

    def point_estimate(self, data: MetricInput) -> float:
        return float(auroc_rows(data.predictions, data.targets)[0])

    def _from_counts(self, counts: np.ndarray, data: MetricInput) -> np.ndarray:
        return auroc_from_counts(counts)


class AveragePrecision(_ScoreCurveMetric):
    name = "average_precision"
    title = "Average precision"

    def point_estimate(self, data: MetricInput) -> float:
        return float(average_precision_rows(data.predictions, data.targets)[0])

    def _from_counts(self, counts: np.ndarray, data: MetricInput) -> np.ndarray:
        return average_precision_from_counts(counts)


class SensitivityAtSpecificity(_ScoreCurveMetric):
    name = "sensitivity_at_specificity"
    title = "Sensitivity at fixed specificity"
    options = ("specificity",)

    def _from_counts(self, counts: np.ndarray, data: MetricInput) -> np.ndarray:
        target = _float_option(data, self.name, "specificity", 0.9, 0.0, 1.0)
        return sensitivity_at_specificity_from_counts(counts, target)


class _ThresholdMetric(_SetLevelScalarMetric):
    """A confusion-matrix statistic at option ``threshold`` (a case is positive when prediction >= threshold)."""

    options = ("threshold",)

    @staticmethod
    def from_cells(cells: np.ndarray) -> np.ndarray:
        """The statistic per row of confusion-matrix cells (shape (rows, 4)); set by each subclass."""
        raise NotImplementedError

    def _rows(self, data: MetricInput, indices: np.ndarray | None) -> np.ndarray:
        threshold = _float_option(data, self.name, "threshold", 0.5, -np.inf, np.inf)
        codes = 2 * data.targets.astype(np.intp) + (data.predictions >= threshold)
        return rowwise_counts(type(self).from_cells, codes, 4, indices)


class Sensitivity(_ThresholdMetric):
    name = "sensitivity"
    title = "Sensitivity (recall) at a threshold"
    need = (1,)
    from_cells = staticmethod(sensitivity_from_cells)


class Specificity(_ThresholdMetric):
    name = "specificity"
    title = "Specificity at a threshold"
    need = (0,)
    from_cells = staticmethod(specificity_from_cells)


class PositivePredictiveValue(_ThresholdMetric):
    name = "ppv"
    title = "Positive predictive value (precision) at a threshold"
    need = ()
    from_cells = staticmethod(ppv_from_cells)


class BalancedAccuracy(_ThresholdMetric):
    name = "balanced_accuracy"
    title = "Balanced accuracy at a threshold"
    from_cells = staticmethod(balanced_accuracy_from_cells)


class ExpectedCalibrationError(_SetLevelScalarMetric):
    name = "expected_calibration_error"
    title = "Expected calibration error"
    higher_is_better = False
    options = ("bins",)
    need = ()
    probabilities = True

    def _bins(self, data: MetricInput) -> int:
        bins: Any = data.options.get("bins", 10)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise MetricInputError(f"{self.name}: option 'bins' must be a positive integer, got {bins!r}")
        return bins

    def _rows(self, data: MetricInput, indices: np.ndarray | None) -> np.ndarray:
        return expected_calibration_error_rows(data.predictions, data.targets, self._bins(data), indices)


class BrierScore(CaseMeanMetric):
    """Mean squared difference between the predicted probability and the 0/1 reference."""

    name = "brier_score"
    title = "Brier score"
    higher_is_better = False
    input_kind: ClassVar[InputKind] = "scalar"

    def per_case(self, data: MetricInput) -> np.ndarray:
        check_options(data, self.name, ())
        _check_scores(data, self.name, need=(), probabilities=True)
        predictions = np.asarray(data.predictions, dtype=np.float64)
        targets = np.asarray(data.targets, dtype=np.float64)  # 0/1 (checked above), so exact as float64
        return (predictions - targets) ** 2
