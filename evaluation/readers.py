"""Human readers as baselines for an algorithm with a continuous score, on the same cases and reference.

A reader's call is binary (0/1) or ordinal (e.g. BI-RADS-like 1-5); it counts as positive when it is
>= the reader's ``positive_at`` cut-off (1 for binary calls; e.g. 4 for "BI-RADS 4 or 5 is a recall").
For each reader: the reader's sensitivity and specificity, and the algorithm at the reader's operating point:

- specificity at the reader's sensitivity: the algorithm's threshold is the HIGHEST whose sensitivity is at
  least the reader's (``operating_points`` rule for a sensitivity target), and the difference is
  algorithm specificity - reader specificity;
- sensitivity at the reader's specificity: the LOWEST threshold whose specificity is at least the reader's,
  and the difference is algorithm sensitivity - reader sensitivity.

Each bootstrap replicate resamples cases jointly for algorithm and reader (one index matrix shared by every
reader) and re-chooses the thresholds on the resample, so the intervals include threshold uncertainty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.bootstrap import DEFAULT_REPLICATES, bootstrap_indices
from evaluation.estimates import Estimate, as_json, estimate
from evaluation.operating_points import OperatingCurves

_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class ReaderComparison:
    reader: str
    positive_at: float  # a call >= positive_at counts as positive
    n_cases: int
    n_positives: int
    sensitivity: Estimate  # the reader's
    specificity: Estimate  # the reader's
    threshold_at_reader_sensitivity: Estimate  # the algorithm's threshold matched to the reader's sensitivity
    algorithm_specificity_at_reader_sensitivity: Estimate
    specificity_difference: Estimate  # algorithm - reader, at the reader's sensitivity
    threshold_at_reader_specificity: Estimate
    algorithm_sensitivity_at_reader_specificity: Estimate
    sensitivity_difference: Estimate  # algorithm - reader, at the reader's specificity


@dataclass(frozen=True)
class ReaderStudy:
    comparisons: list[ReaderComparison]  # in the order the readers were given
    replicates: int
    seed: int
    level: float

    def as_dict(self) -> dict[str, Any]:
        return as_json(self)


def compare_readers(
    scores: np.ndarray,
    targets: np.ndarray,
    readers: Mapping[str, np.ndarray],
    *,
    positive_at: float | Mapping[str, float] = 1.0,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
) -> ReaderStudy:
    """Each reader against the algorithm at the reader's own sensitivity and specificity, with paired CIs."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != targets.shape:
        raise ValueError("scores and targets must be 1-D arrays of the same length")
    if not np.isfinite(scores).all():
        raise ValueError("algorithm scores must be finite numbers")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1")
    if targets.min(initial=1.0) == targets.max(initial=0.0):
        raise ValueError("a reader comparison needs both positive and negative cases")
    if not readers:
        raise ValueError("no readers given")
    called: dict[str, np.ndarray] = {}
    cut_offs: dict[str, float] = {}
    for name, calls in readers.items():
        calls = np.asarray(calls, dtype=np.float64)
        if calls.shape != scores.shape:
            raise ValueError(f"reader {name!r} has {calls.size} calls for {scores.size} cases")
        if not np.isfinite(calls).all():
            raise ValueError(f"reader {name!r} has calls that are not finite numbers")
        cut_offs[name] = float(positive_at[name] if isinstance(positive_at, Mapping) else positive_at)
        called[name] = calls >= cut_offs[name]

    point = {name: _compare(OperatingCurves(scores, targets), targets[None, :], called[name][None, :])
             for name in called}
    indices = bootstrap_indices(scores.size, replicates, seed)
    parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in called}
    step = max(1, _CHUNK_ELEMENTS // scores.size)
    for start in range(0, replicates, step):
        idx = indices[start:start + step]
        curves = OperatingCurves(scores[idx], targets[idx])  # sorted once, shared by every reader
        for name in called:
            parts[name].append(_compare(curves, targets[idx], called[name][idx]))

    comparisons = []
    for name in called:
        reps = {key: np.concatenate([part[key] for part in parts[name]]) for key in point[name]}

        def summary(key: str, reps: dict[str, np.ndarray] = reps, name: str = name) -> Estimate:
            return estimate(float(point[name][key][0]), reps[key], level, infinite_is_value=key.startswith("thr"))

        comparisons.append(ReaderComparison(
            reader=name,
            positive_at=cut_offs[name],
            n_cases=int(scores.size),
            n_positives=int(targets.sum()),
            sensitivity=summary("sensitivity"),
            specificity=summary("specificity"),
            threshold_at_reader_sensitivity=summary("threshold_at_sensitivity"),
            algorithm_specificity_at_reader_sensitivity=summary("algorithm_specificity"),
            specificity_difference=summary("specificity_difference"),
            threshold_at_reader_specificity=summary("threshold_at_specificity"),
            algorithm_sensitivity_at_reader_specificity=summary("algorithm_sensitivity"),
            sensitivity_difference=summary("sensitivity_difference"),
        ))
    return ReaderStudy(comparisons=comparisons, replicates=replicates, seed=seed, level=level)


def _compare(curves: OperatingCurves, targets: np.ndarray, called: np.ndarray) -> dict[str, np.ndarray]:
    """Reader and matched algorithm operating points for each row (replicate)."""
    positives = targets > 0.5
    n_pos = positives.sum(axis=1)
    n_neg = positives.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(n_pos > 0, (called & positives).sum(axis=1) / n_pos, np.nan)
        specificity = np.where(n_neg > 0, (~called & ~positives).sum(axis=1) / n_neg, np.nan)
    at_sensitivity = curves.select("sensitivity", sensitivity)
    at_specificity = curves.select("specificity", specificity)
    return {
        "sensitivity": sensitivity,
        "specificity": specificity,
        "threshold_at_sensitivity": at_sensitivity.threshold,
        "algorithm_specificity": at_sensitivity.specificity,
        "specificity_difference": at_sensitivity.specificity - specificity,
        "threshold_at_specificity": at_specificity.threshold,
        "algorithm_sensitivity": at_specificity.sensitivity,
        "sensitivity_difference": at_specificity.sensitivity - sensitivity,
    }
