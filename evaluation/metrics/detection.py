"""Lesion detection metrics in the style of the PI-CAI challenge (input_kind "detection").

Per case, the prediction is a *detection map*: a 3-D image (path, or numpy array) whose connected components
(26-connected) are lesion candidates, each holding one constant likelihood > 0; background is 0. The target is
a binary label image on the same grid, whose 26-connected components are the reference lesions.

Lesion matching follows picai_eval (``evaluate_case`` with its defaults): a candidate may hit a reference lesion
when their IoU >= ``min_overlap`` (default 0.1). Candidates are assigned one-to-one to reference lesions by a
maximum-weight bipartite matching with weight 1 + IoU for eligible pairs, i.e. the number of hits is maximised
first and the total IoU second; the likelihood plays no part in the matching. Then every case contributes
lesion-level entries (is_lesion, score):

- each matched candidate: (1, its likelihood), a true positive;
- each unmatched reference lesion: (1, 0.0), a false negative (it only counts in the recall denominator);
- each candidate with IoU < min_overlap to every reference lesion: (0, its likelihood), a false positive;
- a candidate that overlaps some lesion enough but lost the matching is ignored (neither TP nor FP).

The case-level score is the largest likelihood of the map (0 for an empty map), the case-level label whether
the reference holds a lesion. Definitions of the four metrics are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, sparse
from scipy.optimize import linear_sum_assignment

from evaluation.base import InputKind, MetricInput, MetricInputError, MetricResult
from evaluation.bootstrap import DEFAULT_REPLICATES, percentile_interval, resample_cases
from evaluation.metrics.classification import (
    auroc_from_counts,
    average_precision_from_counts,
    rowwise_counts,
    score_codes,
)
from evaluation.metrics.regression import check_options
from evaluation.metrics.segmentation import as_binary_mask, check_same_grid, read_image

DEFAULT_FP_PER_CASE = (0.25, 0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class CaseDetections:
    """The lesion-level entries of one case, and its case-level label and score."""

    is_lesion: np.ndarray  # bool, one per entry
    score: np.ndarray  # float, one per entry (0.0 for a missed lesion)
    has_lesion: bool
    case_score: float


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)  # 26-connectivity in 3-D
    labels, count = ndimage.label(mask, structure=structure)
    return labels, int(count)


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        occupied = np.flatnonzero(np.any(mask, axis=tuple(i for i in range(mask.ndim) if i != axis)))
        box.append(slice(int(occupied[0]), int(occupied[-1]) + 1))
    return tuple(box)


def evaluate_detection_case(detection_map: np.ndarray, label: np.ndarray, min_overlap: float = 0.1,
                            case: str = "") -> CaseDetections:
    """Lesion-level entries of one case (see the module docstring for the matching rule)."""
    where = f"case {case}: " if case else ""
    likelihood = np.asarray(detection_map, dtype=np.float32)  # picai_eval reads detection maps as float32
    reference = as_binary_mask(np.asarray(label), f"{where}reference label")
    if likelihood.shape != reference.shape:
        raise MetricInputError(f"{where}the detection map has shape {likelihood.shape} but the reference label has "
                               f"shape {reference.shape}; they must be on the same voxel grid")
    if not np.isfinite(likelihood).all() or (likelihood.size and likelihood.min() < 0):
        raise MetricInputError(f"{where}detection map likelihoods must be finite and >= 0")

    # Components never leave the bounding box of all non-zero voxels: label only that.
    occupied = (likelihood > 0) | reference
    if not occupied.any():
        return CaseDetections(np.empty(0, bool), np.empty(0), has_lesion=False, case_score=0.0)
    box = _bounding_box(occupied)
    likelihood, reference = likelihood[box], reference[box]
    candidates, n_candidates = _components(likelihood > 0)
    lesions, n_lesions = _components(reference)

    index = np.arange(1, n_candidates + 1)
    confidence = np.asarray(ndimage.maximum(likelihood, candidates, index), dtype=np.float64).reshape(-1)
    lowest = np.asarray(ndimage.minimum(likelihood, candidates, index), dtype=np.float64).reshape(-1)
    if np.any(lowest != confidence):
        raise MetricInputError(f"{where}each connected component of a detection map must hold one constant "
                               "likelihood (this looks like a probability map; extract lesion candidates first)")

    is_fp = np.ones(n_candidates, dtype=bool)
    tp_scores = np.empty(0)
    if n_lesions:
        # Intersections of every (lesion, candidate) pair with one bincount; row/column 0 is background.
        joint = np.bincount((lesions.astype(np.intp) * (n_candidates + 1) + candidates).ravel(),
                            minlength=(n_lesions + 1) * (n_candidates + 1)).reshape(n_lesions + 1, n_candidates + 1)
        intersection = joint[1:, 1:]
        union = joint[1:, :].sum(axis=1)[:, None] + joint[:, 1:].sum(axis=0)[None, :] - intersection
        overlap = intersection / np.maximum(union, 1)
        eligible = (overlap >= min_overlap) & (intersection > 0)
        weight = np.where(eligible, 1.0 + overlap, 0.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        matched = eligible[rows, cols]
        tp_scores = confidence[cols[matched]]
        is_fp = ~eligible.any(axis=0)
        n_missed = n_lesions - int(matched.sum())
    else:
        n_missed = 0

    fp_scores = confidence[is_fp]
    return CaseDetections(
        is_lesion=np.concatenate([np.ones(tp_scores.size + n_missed, dtype=bool), np.zeros(fp_scores.size, bool)]),
        score=np.concatenate([tp_scores, np.zeros(n_missed), fp_scores]),
        has_lesion=n_lesions > 0,
        case_score=float(confidence.max(initial=0.0)),
    )


def _load(item: Any, what: str) -> tuple[np.ndarray, tuple[float, ...] | None]:
    if isinstance(item, str | Path):
        return read_image(item)
    if isinstance(item, np.ndarray):
        return item, None
    raise MetricInputError(f"{what}: expected an image path or an array, got {type(item).__name__}")


@dataclass(frozen=True)
class DetectionTable:
    """Lesion-level entries of all cases (``entry_case`` says whose) and the case-level labels and scores."""

    entry_case: np.ndarray
    is_lesion: np.ndarray
    score: np.ndarray
    has_lesion: np.ndarray
    case_score: np.ndarray

    @classmethod
    def from_cases(cls, cases: list[CaseDetections]) -> DetectionTable:
        sizes = [c.is_lesion.size for c in cases]
        return cls(
            entry_case=np.repeat(np.arange(len(cases)), sizes),
            is_lesion=np.concatenate([c.is_lesion for c in cases]) if cases else np.empty(0, bool),
            score=np.concatenate([c.score for c in cases]) if cases else np.empty(0),
            has_lesion=np.array([c.has_lesion for c in cases], dtype=bool),
            case_score=np.array([c.case_score for c in cases], dtype=np.float64),
        )

    @property
    def n_cases(self) -> int:
        return self.has_lesion.size


def evaluate_detections(data: MetricInput, min_overlap: float) -> DetectionTable:
    if not len(data.predictions) == len(data.targets) == len(data.case_ids):
        raise MetricInputError("case_ids, predictions and targets must have the same length")
    cases = []
    for case, prediction, target in zip(data.case_ids, data.predictions, data.targets, strict=True):
        likelihood, det_spacing = _load(prediction, f"case {case} detection map")
        label, label_spacing = _load(target, f"case {case} reference label")
        if det_spacing is not None and label_spacing is not None:
            check_same_grid(likelihood.shape, label.shape, det_spacing, label_spacing, case)
        cases.append(evaluate_detection_case(likelihood, label, min_overlap, case))
    return DetectionTable.from_cases(cases)


# --- statistics per bootstrap row ----------------------------------------------------------------------------

def _lesion_curve_counts(table: DetectionTable, indices: np.ndarray | None,
                         statistic: Callable[[np.ndarray, np.ndarray, bool, np.ndarray], np.ndarray]) -> np.ndarray:
    """``statistic`` of per-row (distinct score, is_lesion) counts of the lesion entries of the drawn cases.

    A case drawn k times contributes its entries k times (as picai_eval's bootstrap over a subject list does):
    per-row case counts (rows, n) times the sparse (case -> entry category) matrix. ``statistic`` is called with
    those counts, the distinct scores (ascending), whether the lowest of them is 0.0 (missed lesions) and the
    number of cases in each row.
    """
    codes, n_codes, thresholds = score_codes(table.score, table.is_lesion)
    membership = sparse.csr_matrix((np.ones(codes.size), (table.entry_case, codes)),
                                   shape=(table.n_cases, n_codes))
    zero_lowest = thresholds.size > 0 and thresholds[0] == 0.0

    def from_case_counts(case_counts: np.ndarray) -> np.ndarray:
        counts = np.asarray((membership.T @ case_counts.T).T)
        return statistic(np.rint(counts).astype(np.int64), thresholds, zero_lowest, case_counts.sum(axis=1))

    return rowwise_counts(from_case_counts, np.arange(table.n_cases), table.n_cases, indices, width=n_codes)


def lesion_ap_rows(table: DetectionTable, indices: np.ndarray | None) -> NDArray[np.float64]:
    """Lesion-level average precision; missed lesions count in recall only (their precision is taken as 0)."""
    if table.score.size == 0:
        return np.full(1 if indices is None else np.atleast_2d(indices).shape[0], np.nan)
    return _lesion_curve_counts(
        table, indices, lambda c, t, zero, n: average_precision_from_counts(c, zero_precision_at_lowest=zero))


def froc_rows(table: DetectionTable, indices: np.ndarray | None, fp_per_case: tuple[float, ...]) -> np.ndarray:
    """Mean over ``fp_per_case`` of the lesion sensitivity at that many false positives per case.

    Operating points are "candidates with likelihood >= t" for each distinct likelihood t > 0, plus t = +inf
    (nothing detected: sensitivity 0). Sensitivity at f = the highest sensitivity among operating points with
    FP / cases <= f. Rows without any reference lesion give NaN.
    """
    if table.score.size == 0:
        return np.full(1 if indices is None else np.atleast_2d(indices).shape[0], np.nan)
    budgets = np.asarray(fp_per_case, dtype=np.float64)

    def statistic(counts: np.ndarray, thresholds: np.ndarray, zero_lowest: bool, n_cases: np.ndarray) -> np.ndarray:
        distinct = counts.shape[1] // 2
        fp = np.cumsum(counts[:, :distinct][:, ::-1], axis=1)
        tp = np.cumsum(counts[:, distinct:][:, ::-1], axis=1)
        n_lesions = tp[:, -1]
        if zero_lowest:  # the score-0 entries are missed lesions, not an operating point
            tp, fp = tp[:, :-1], fp[:, :-1]
        fp_rate = fp / n_cases[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            sensitivity = tp / n_lesions[:, None]
        at_budget = np.stack([np.where(fp_rate <= f, sensitivity, 0.0).max(axis=1, initial=0.0) for f in budgets])
        return np.where(n_lesions > 0, at_budget.mean(axis=0), np.nan)

    return _lesion_curve_counts(table, indices, statistic)


def case_auroc_rows(table: DetectionTable, indices: np.ndarray | None) -> NDArray[np.float64]:
    codes, n_codes, _ = score_codes(table.case_score, table.has_lesion)
    return rowwise_counts(auroc_from_counts, codes, n_codes, indices)


# --- plugins ---------------------------------------------------------------------------------------------------

class _DetectionMetric:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    title: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[InputKind] = "detection"
    options: ClassVar[tuple[str, ...]] = ("min_overlap",)

    # What a prediction must be, in words that quote nothing of it (the platform tells participants this).
    prediction_requirement: ClassVar[str] = (
        "a detection map on the voxel grid of the reference: finite likelihoods >= 0, 0 for the background, and one "
        "constant likelihood in each connected component")

    _cached: tuple[MetricInput, float, DetectionTable] | None = None

    def check_case(self, prediction: Any, target: Any, case: str, options: dict[str, Any]) -> None:
        """Raise MetricInputError when this case cannot be scored (reads both images): the platform calls it per
        case before ``compute``, and again with the reference as the prediction, to tell whose fault it is."""
        self._table(MetricInput(case_ids=[case], predictions=[prediction], targets=[target], options=options))
        self._cached = None

    def _check_options(self, data: MetricInput) -> None:
        """Options are checked before any image is read."""
        check_options(data, self.name, self.options)

    def _table(self, data: MetricInput) -> DetectionTable:
        self._check_options(data)
        min_overlap = data.options.get("min_overlap", 0.1)
        if isinstance(min_overlap, bool) or not isinstance(min_overlap, int | float) or not 0 <= min_overlap <= 1:
            raise MetricInputError(f"{self.name}: option 'min_overlap' must be a number in [0, 1], "
                                   f"got {min_overlap!r}")
        if self._cached is None or self._cached[0] is not data or self._cached[1] != min_overlap:
            self._cached = (data, float(min_overlap), evaluate_detections(data, float(min_overlap)))
        return self._cached[2]

    def _rows(self, data: MetricInput, table: DetectionTable, indices: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _check(self, table: DetectionTable) -> None:
        if table.n_cases == 0:
            raise MetricInputError(f"{self.name}: no cases to score")

    def compute(self, data: MetricInput) -> MetricResult:
        table = self._table(data)
        self._check(table)
        value = float(self._rows(data, table, None)[0])
        resamples = resample_cases(data.case_ids, DEFAULT_REPLICATES, data.random_seed, data.groups)
        low, high = percentile_interval(resamples.apply(lambda indices: self._rows(data, table, indices)))
        return MetricResult(value=value, ci_low=low, ci_high=high, detail="95% percentile bootstrap CI")

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        table = self._table(data)
        self._check(table)
        return self._rows(data, table, indices)


def _need_lesions(table: DetectionTable, metric: str) -> None:
    if not table.has_lesion.any():
        raise MetricInputError(f"{metric}: the reference labels hold no lesion; it is undefined")


def _need_both_case_classes(table: DetectionTable, metric: str) -> None:
    if table.has_lesion.all() or not table.has_lesion.any():
        raise MetricInputError(f"{metric}: the scored cases are all with or all without a lesion; case-level "
                               "AUROC is undefined")


class LesionAveragePrecision(_DetectionMetric):
    name = "lesion_average_precision"
    title = "Lesion-level average precision"

    def _check(self, table: DetectionTable) -> None:
        super()._check(table)
        _need_lesions(table, self.name)

    def _rows(self, data: MetricInput, table: DetectionTable, indices: np.ndarray | None) -> np.ndarray:
        return lesion_ap_rows(table, indices)


class CaseAUROC(_DetectionMetric):
    name = "case_auroc"
    title = "Case-level AUROC (largest lesion likelihood per case)"

    def _check(self, table: DetectionTable) -> None:
        super()._check(table)
        _need_both_case_classes(table, self.name)

    def _rows(self, data: MetricInput, table: DetectionTable, indices: np.ndarray | None) -> np.ndarray:
        return case_auroc_rows(table, indices)


class PicaiScore(_DetectionMetric):
    name = "picai_score"
    title = "PI-CAI ranking score: (case AUROC + lesion AP) / 2"

    def _check(self, table: DetectionTable) -> None:
        super()._check(table)
        _need_both_case_classes(table, self.name)

    def _rows(self, data: MetricInput, table: DetectionTable, indices: np.ndarray | None) -> np.ndarray:
        return (case_auroc_rows(table, indices) + lesion_ap_rows(table, indices)) / 2


class FROCSensitivity(_DetectionMetric):
    name = "froc_sensitivity"
    title = "Mean lesion sensitivity at fixed false positives per case (FROC)"
    options = ("min_overlap", "fp_per_case")

    def _check(self, table: DetectionTable) -> None:
        super()._check(table)
        _need_lesions(table, self.name)

    def _check_options(self, data: MetricInput) -> None:
        super()._check_options(data)
        self._budgets(data)

    def _budgets(self, data: MetricInput) -> tuple[float, ...]:
        value = data.options.get("fp_per_case", DEFAULT_FP_PER_CASE)
        budgets = [value] if isinstance(value, int | float) else value
        if (not isinstance(budgets, list | tuple) or not budgets
                or any(isinstance(f, bool) or not isinstance(f, int | float) or not f >= 0 for f in budgets)):
            raise MetricInputError(f"{self.name}: option 'fp_per_case' must be a number >= 0 or a non-empty list "
                                   f"of them, got {value!r}")
        return tuple(float(f) for f in budgets)

    def _rows(self, data: MetricInput, table: DetectionTable, indices: np.ndarray | None) -> np.ndarray:
        return froc_rows(table, indices, self._budgets(data))
