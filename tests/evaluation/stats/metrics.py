"""Small, real metric plugins for these tests, independent of ``evaluation.metrics`` (which evolves on its own).

``SetAUROC`` is a set-level metric (no per-case values); ``AbsoluteError`` is a case-level metric (lower is
better). Both follow the plugin contract in ``evaluation/base.py``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.stats import rankdata

from evaluation.base import InputKind, MetricInput, MetricInputError, MetricResult


def auroc_rows(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    scores, positives = np.atleast_2d(scores), np.atleast_2d(targets).astype(bool)
    ranks = rankdata(scores, axis=1)
    n_pos = positives.sum(axis=1)
    n_neg = positives.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (np.where(positives, ranks, 0.0).sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


class SetAUROC:
    name: ClassVar[str] = "test_auroc"
    version: ClassVar[str] = "1"
    title: ClassVar[str] = "AUROC (test copy)"
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[InputKind] = "scalar"

    def compute(self, data: MetricInput) -> MetricResult:
        targets = np.asarray(data.targets)
        if targets.min() == targets.max():
            raise MetricInputError("test_auroc: the scored cases hold only one class; it is undefined")
        return MetricResult(value=float(auroc_rows(data.predictions, targets)[0]))

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        return auroc_rows(np.asarray(data.predictions)[indices], np.asarray(data.targets)[indices])


class AbsoluteError:
    name: ClassVar[str] = "test_absolute_error"
    version: ClassVar[str] = "1"
    title: ClassVar[str] = "Absolute error (test copy)"
    higher_is_better: ClassVar[bool] = False
    input_kind: ClassVar[InputKind] = "scalar"

    def compute(self, data: MetricInput) -> MetricResult:
        per_case = np.abs(np.asarray(data.predictions, dtype=float) - np.asarray(data.targets, dtype=float))
        return MetricResult(value=float(per_case.mean()), per_case=per_case)

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        per_case = np.abs(np.asarray(data.predictions, dtype=float) - np.asarray(data.targets, dtype=float))
        return per_case[indices].mean(axis=1)
