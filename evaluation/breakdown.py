"""A metric broken down by a case metadata column (site, scanner, vendor, ...), each group with its own CI.

Each group is scored as if it were the whole test set: the value is ``metric.compute`` on the group's cases
and the CI is the percentile interval of ``metric.resample`` on a bootstrap of the group's cases only.
A group on which the metric is undefined (e.g. AUROC at a site with one class) is reported as undefined
with the metric's reason; no group is dropped. With ``groups`` (case id -> cluster, e.g. a patient) the
bootstrap within each group resamples clusters of its cases instead of cases (the clustered bootstrap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.base import Metric, MetricInput, MetricInputError, check_unique_case_ids
from evaluation.bootstrap import DEFAULT_REPLICATES, Grouping, percentile_interval, resample_cases
from evaluation.estimates import as_json


@dataclass(frozen=True)
class GroupResult:
    column: str
    group: str
    n_cases: int
    n_positives: int | None  # binary (0/1) scalar references only
    value: float | None  # None when the metric is undefined on the group
    ci_low: float | None
    ci_high: float | None
    replicates_defined: int  # bootstrap replicates on which the metric was defined
    defined: bool
    reason: str  # why the value (or its CI) is missing; "" otherwise

    def as_dict(self) -> dict[str, Any]:
        return as_json(self)


def breakdown(
    data: MetricInput,
    metric: Metric,
    column: str,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
    *,
    groups: Grouping | None = None,
) -> list[GroupResult]:
    """The metric on every group of ``column`` (sorted by group label), with a within-group bootstrap CI.

    ``groups``: resample clusters (case id -> cluster id) within each group rather than cases."""
    check_unique_case_ids(data.case_ids)
    if column not in data.metadata:
        known = ", ".join(sorted(data.metadata)) or "none"
        raise ValueError(f"no metadata column {column!r}; the cases have: {known}")
    labels = [str(label) for label in data.metadata[column]]
    if len(labels) != len(data.case_ids):
        raise ValueError(f"metadata column {column!r} has {len(labels)} values for {len(data.case_ids)} cases")
    label_array = np.asarray(labels, dtype=object)
    results = []
    for group in sorted(set(labels)):
        members = np.flatnonzero(label_array == group)
        results.append(_score_group(_subset(data, members), metric, column, group, replicates, seed, level, groups))
    return results


def _score_group(
    data: MetricInput, metric: Metric, column: str, group: str, replicates: int, seed: int, level: float,
    groups: Grouping | None,
) -> GroupResult:
    n = len(data.case_ids)
    positives = _positives(data) if getattr(metric, "input_kind", "scalar") == "scalar" else None
    try:
        value = float(metric.compute(data).value)
    except MetricInputError as error:
        return GroupResult(column, group, n, positives, None, None, None, 0, False, str(error))
    if not math.isfinite(value):
        return GroupResult(column, group, n, positives, None, None, None, 0, False,
                           f"{metric.name} is not a finite number on this group")
    try:
        resamples = resample_cases(data.case_ids, replicates, seed, groups)
        replicated = resamples.apply(lambda indices: metric.resample(data, indices))
    except MetricInputError as error:
        return GroupResult(column, group, n, positives, value, None, None, 0, True, f"no CI: {error}")
    low, high = percentile_interval(replicated, level)
    defined = int(np.isfinite(replicated).sum())
    reason = "" if low is not None else f"no CI: {metric.name} is undefined on every bootstrap replicate"
    return GroupResult(column, group, n, positives, value, low, high, defined, True, reason)


def _subset(data: MetricInput, members: np.ndarray) -> MetricInput:
    def take(values: Any) -> Any:
        if isinstance(values, np.ndarray):
            return values[members]
        return [values[i] for i in members]

    return MetricInput(
        case_ids=[data.case_ids[i] for i in members],
        predictions=take(data.predictions),
        targets=take(data.targets),
        metadata={name: [column[i] for i in members] for name, column in data.metadata.items()},
        options=data.options,
        random_seed=data.random_seed,
    )


def _positives(data: MetricInput) -> int | None:
    """Positive cases for binary scalar references; None where "positive" has no meaning."""
    targets = data.targets
    if not isinstance(targets, np.ndarray) or targets.ndim != 1 or not np.isin(targets, (0, 1)).all():
        return None
    return int(np.count_nonzero(targets == 1))
