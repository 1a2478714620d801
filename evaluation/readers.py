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
    positive_at: float | None  # a call >= positive_at counts as positive (None for the panel's average)
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
    # With two readers or more: the algorithm against the panel's average reader, whose sensitivity and
    # specificity are the means of the readers' (in every replicate too); reader = "panel average".
    panel: ReaderComparison | None
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

    panel = len(called) >= 2
    names = [*called, *([PANEL] if panel else [])]
    point = _compare_all(OperatingCurves(scores, targets), targets[None, :],
                         {name: calls[None, :] for name, calls in called.items()}, panel)
    indices = bootstrap_indices(scores.size, replicates, seed)
    parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in names}
    step = max(1, _CHUNK_ELEMENTS // scores.size)
    for start in range(0, replicates, step):
        idx = indices[start:start + step]
        curves = OperatingCurves(scores[idx], targets[idx])  # sorted once, shared by every reader
        for name, rows in _compare_all(curves, targets[idx], {n: calls[idx] for n, calls in called.items()},
                                       panel).items():
            parts[name].append(rows)

    comparisons = []
    for name in names:
        reps = {key: np.concatenate([part[key] for part in parts[name]]) for key in point[name]}

        def summary(key: str, reps: dict[str, np.ndarray] = reps, name: str = name) -> Estimate:
            return estimate(float(point[name][key][0]), reps[key], level, infinite_is_value=key.startswith("thr"))

        comparisons.append(ReaderComparison(
            reader=name,
            positive_at=cut_offs.get(name),
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
    return ReaderStudy(comparisons=comparisons[:len(called)], panel=comparisons[-1] if panel else None,
                       replicates=replicates, seed=seed, level=level)


PANEL = "panel average"


def _compare_all(curves: OperatingCurves, targets: np.ndarray, called: Mapping[str, np.ndarray],
                 panel: bool) -> dict[str, dict[str, np.ndarray]]:
    """Every reader's comparison for each row (replicate), and with ``panel`` the panel average's: the mean of
    the readers' sensitivities and of their specificities, row by row."""
    rates = {name: _rates(targets, calls) for name, calls in called.items()}
    compared = {name: _compare(curves, sensitivity, specificity) for name, (sensitivity, specificity) in rates.items()}
    if panel:
        with np.errstate(invalid="ignore"):
            sensitivity = np.mean([r[0] for r in rates.values()], axis=0)
            specificity = np.mean([r[1] for r in rates.values()], axis=0)
        compared[PANEL] = _compare(curves, sensitivity, specificity)
    return compared


def _rates(targets: np.ndarray, called: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A reader's sensitivity and specificity for each row (replicate); NaN where a row lacks a class."""
    positives = targets > 0.5
    n_pos = positives.sum(axis=1)
    n_neg = positives.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(n_pos > 0, (called & positives).sum(axis=1) / n_pos, np.nan)
        specificity = np.where(n_neg > 0, (~called & ~positives).sum(axis=1) / n_neg, np.nan)
    return sensitivity, specificity


def _compare(curves: OperatingCurves, sensitivity: np.ndarray, specificity: np.ndarray) -> dict[str, np.ndarray]:
    """The reader's operating point and the algorithm's matched ones, for each row (replicate)."""
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
