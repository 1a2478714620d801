"""Case-level metrics recomputed from the per-case values they recorded when each submission was scored.

A case-level metric's aggregate is a function of the mean of its per-case values (``CaseMeanMetric``), so its
bootstrap, per-group breakdowns, rank-then-aggregate and significance ranking need only those values, not the
predictions again. For an image metric (Dice, HD95, NSD) that means the phase's analysis never reads a mask twice:
it ranks and breaks down the values the worker stored per case when it scored the submission. The result is the
same number: the mean of the same values, through the metric's own ``aggregate``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evaluation.base import InputKind, Metric, MetricInput, MetricInputError
from evaluation.metrics.regression import CaseMeanMetric


def recorded_case_means(metric: Metric) -> CaseMeanMetric | None:
    """A twin of a case-level metric whose ``predictions`` are its recorded per-case values (targets unused); None
    for a set-level metric (AUROC, lesion AP, ...), which the recorded values cannot rebuild."""
    if not isinstance(metric, CaseMeanMetric):
        return None
    original = metric

    class Recorded(CaseMeanMetric):
        name: ClassVar[str] = original.name
        version: ClassVar[str] = original.version
        title: ClassVar[str] = original.title
        higher_is_better: ClassVar[bool] = original.higher_is_better
        input_kind: ClassVar[InputKind] = original.input_kind

        def per_case(self, data: MetricInput) -> np.ndarray:
            values = np.asarray(data.predictions, dtype=np.float64)
            if values.ndim != 1 or len(values) != len(data.case_ids) or not np.isfinite(values).all():
                raise MetricInputError(f"{self.name}: the recorded per-case values must be finite, one per case")
            return values

        @staticmethod
        def aggregate(mean: np.ndarray) -> np.ndarray:
            return original.aggregate(mean)

    return Recorded()
