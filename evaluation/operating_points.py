"""Operating points of a continuous score, per site: the threshold that meets a target, and what it gives.

A case is called positive when its score is >= the threshold t. The candidate thresholds are the distinct
observed scores plus t = +inf (no case called positive); so cases with tied scores are always called
together, and every candidate corresponds to a cut c = the number of cases called positive. The rules
(each meets its target on the cases it is estimated on, and is the least conservative threshold that does):

- ``recall_rate`` r (the share of cases called positive, the "referral" rate of screening): the LOWEST
  threshold whose recall rate does not exceed r;
- ``specificity`` s: the LOWEST threshold whose specificity is at least s (the highest sensitivity among
  thresholds meeting s);
- ``sensitivity`` s: the HIGHEST threshold whose sensitivity is at least s (the highest specificity among
  thresholds meeting s).

Comparisons with the target use a tolerance of 1e-12 so that, e.g., 29/100 meets a target of 0.29.
Bootstrap replicates RE-ESTIMATE the threshold on every resample, so the intervals include the uncertainty
of the threshold itself; resampling is stratified by site. Details: docs/statistics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evaluation.bootstrap import DEFAULT_REPLICATES
from evaluation.estimates import Estimate, as_json, estimate

OperatingTarget = Literal["recall_rate", "specificity", "sensitivity"]
OPERATING_TARGETS: tuple[str, ...] = ("recall_rate", "specificity", "sensitivity")
TOLERANCE = 1e-12
_CHUNK_ELEMENTS = 2_000_000

RULES = {
    "recall_rate": "lowest threshold whose recall rate (share of cases with score >= t) does not exceed the target",
    "specificity": "lowest threshold whose specificity is at least the target",
    "sensitivity": "highest threshold whose sensitivity is at least the target",
}


@dataclass(frozen=True)
class RowOperatingPoints:
    """One operating point per row (replicate): arrays of shape (rows,); NaN where undefined."""

    threshold: np.ndarray  # +inf: no case called positive
    sensitivity: np.ndarray
    specificity: np.ndarray
    ppv: np.ndarray  # NaN when no case is called positive
    recall_rate: np.ndarray


class OperatingCurves:
    """Every operating point of each row of scores, from one descending sort per row.

    ``tp[:, c]`` is the number of positives among the c highest scores; cut c is a candidate threshold only
    where it does not split a run of tied scores (``valid``).
    """

    def __init__(self, scores: np.ndarray, targets: np.ndarray) -> None:
        scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        targets = np.atleast_2d(np.asarray(targets, dtype=np.float64))
        order = np.argsort(-scores, axis=1, kind="stable")
        self.sorted_scores = np.take_along_axis(scores, order, axis=1)
        rows, n = scores.shape
        self.n = n
        self.tp = np.zeros((rows, n + 1))
        np.cumsum(np.take_along_axis(targets, order, axis=1), axis=1, out=self.tp[:, 1:])
        self.valid = np.ones((rows, n + 1), dtype=bool)
        self.valid[:, 1:n] = self.sorted_scores[:, :-1] != self.sorted_scores[:, 1:]
        self.n_pos = self.tp[:, -1]
        self.n_neg = n - self.n_pos

    def cut_for(self, target: str, value: float | np.ndarray) -> np.ndarray:
        """The cut (cases called positive) each row's rule picks; -1 where the target cannot be located."""
        rows, width = self.tp.shape
        goal = np.broadcast_to(np.asarray(value, dtype=np.float64), (rows,))[:, None]
        cuts = np.arange(width)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            if target == "recall_rate":
                ok = self.valid & (cuts / self.n <= goal + TOLERANCE)
                cut: np.ndarray = np.where(ok, cuts, -1).max(axis=1)
                return cut
            if target == "specificity":
                specificity = (self.n_neg[:, None] - (cuts - self.tp)) / self.n_neg[:, None]
                ok = self.valid & (specificity >= goal - TOLERANCE)
                return np.where(ok.any(axis=1) & (self.n_neg > 0), np.where(ok, cuts, -1).max(axis=1), -1)
            if target == "sensitivity":
                sensitivity = self.tp / self.n_pos[:, None]
                ok = self.valid & (sensitivity >= goal - TOLERANCE)
                return np.where(ok.any(axis=1) & (self.n_pos > 0), np.where(ok, cuts, width).min(axis=1), -1)
        raise ValueError(f"unknown operating target {target!r}; choose one of {', '.join(OPERATING_TARGETS)}")

    def at_cut(self, cut: np.ndarray) -> RowOperatingPoints:
        rows = np.arange(self.tp.shape[0])
        defined = cut >= 0
        safe = np.where(defined, cut, 0)
        tp = self.tp[rows, safe]
        fp = safe - tp
        threshold = np.where(safe > 0, self.sorted_scores[rows, np.maximum(safe - 1, 0)], np.inf)
        return _points(np.where(defined, threshold, np.nan), tp, fp, self.n_pos, self.n_neg, defined)

    def select(self, target: str, value: float | np.ndarray) -> RowOperatingPoints:
        return self.at_cut(self.cut_for(target, value))


def at_thresholds(scores: np.ndarray, targets: np.ndarray, thresholds: np.ndarray) -> RowOperatingPoints:
    """Each row's operating point at a given threshold (shape (rows,)); NaN thresholds give NaN."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positives = np.atleast_2d(np.asarray(targets, dtype=np.float64)) > 0.5
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (scores.shape[0],))
    called = scores >= thresholds[:, None]
    tp = (called & positives).sum(axis=1).astype(np.float64)
    fp = (called & ~positives).sum(axis=1).astype(np.float64)
    n_pos = positives.sum(axis=1).astype(np.float64)
    return _points(thresholds, tp, fp, n_pos, scores.shape[1] - n_pos, ~np.isnan(thresholds))


def _points(threshold: np.ndarray, tp: np.ndarray, fp: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray,
            defined: np.ndarray) -> RowOperatingPoints:
    called = tp + fp
    n = n_pos + n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(defined & (n_pos > 0), tp / n_pos, np.nan)
        specificity = np.where(defined & (n_neg > 0), (n_neg - fp) / n_neg, np.nan)
        ppv = np.where(defined & (called > 0), tp / called, np.nan)
        recall_rate = np.where(defined & (n > 0), called / n, np.nan)
    return RowOperatingPoints(threshold, sensitivity, specificity, ppv, recall_rate)


def choose_threshold(scores: np.ndarray, targets: np.ndarray, target: OperatingTarget, value: float) -> float:
    """The threshold the rule for ``target`` picks on these cases (+inf: call none; NaN: cannot be located)."""
    _check_target(target, value)
    return float(OperatingCurves(scores, targets).select(target, value).threshold[0])


@dataclass(frozen=True)
class OperatingPoint:
    threshold: Estimate  # +inf (null in JSON) means no case is called positive
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    recall_rate: Estimate
    n_cases: int
    n_positives: int
    note: str  # what is undefined here and why; "" when everything is defined


@dataclass(frozen=True)
class SiteOperatingPoints:
    site: str
    own: OperatingPoint  # threshold chosen on this site's cases
    pooled: OperatingPoint  # the threshold chosen on all sites pooled, applied to this site's cases


@dataclass(frozen=True)
class OperatingPointReport:
    target: str
    target_value: float
    rule: str
    overall: OperatingPoint  # the pooled threshold on all cases
    sites: list[SiteOperatingPoints]  # sorted by site label; empty without site labels
    replicates: int
    seed: int
    level: float

    def as_dict(self) -> dict[str, Any]:
        return as_json(self)


def operating_points(
    scores: np.ndarray,
    targets: np.ndarray,
    sites: Sequence[str] | np.ndarray | None = None,
    *,
    target: OperatingTarget,
    value: float,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
) -> OperatingPointReport:
    """Operating points per site and pooled, with bootstrap CIs that include threshold re-estimation.

    ``scores`` are continuous (higher = more likely positive), ``targets`` 0/1, ``sites`` one label per case
    (any metadata column). Per site: the site's own threshold and the pooled threshold applied to the site.
    """
    _check_target(target, value)
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if scores.ndim != 1 or scores.shape != targets.shape or scores.size == 0:
        raise ValueError("scores and targets must be non-empty 1-D arrays of the same length")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite numbers")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1")
    labels = np.asarray(["all"] * scores.size if sites is None else [str(s) for s in sites], dtype=object)
    if labels.size != scores.size:
        raise ValueError(f"{labels.size} site labels for {scores.size} cases")
    site_names = sorted(set(labels.tolist()))
    positions = {site: np.flatnonzero(labels == site) for site in site_names}

    # Stratified resampling: replicate r draws n_s cases with replacement within every site s.
    rng = np.random.default_rng(seed)
    site_indices = {}
    for site in site_names:
        size = positions[site].size
        site_indices[site] = positions[site][rng.integers(0, size, size=(replicates, size))]

    overall_point, pooled_threshold = _selected(scores[None, :], targets[None, :], target, value)
    own_point = {site: _selected(scores[None, positions[site]], targets[None, positions[site]], target, value)[0]
                 for site in site_names}
    pooled_point = {site: at_thresholds(scores[None, positions[site]], targets[None, positions[site]],
                                        pooled_threshold) for site in site_names}

    overall_reps: list[RowOperatingPoints] = []
    own_reps: dict[str, list[RowOperatingPoints]] = {site: [] for site in site_names}
    pooled_reps: dict[str, list[RowOperatingPoints]] = {site: [] for site in site_names}
    step = max(1, _CHUNK_ELEMENTS // scores.size)
    for start in range(0, replicates, step):
        rows = slice(start, min(start + step, replicates))
        pooled_idx = np.hstack([site_indices[site][rows] for site in site_names])
        chunk_overall, chunk_thresholds = _selected(scores[pooled_idx], targets[pooled_idx], target, value)
        overall_reps.append(chunk_overall)
        for site in site_names:
            idx = site_indices[site][rows]
            own_reps[site].append(_selected(scores[idx], targets[idx], target, value)[0])
            pooled_reps[site].append(at_thresholds(scores[idx], targets[idx], chunk_thresholds))

    def summarise(point: RowOperatingPoints, reps: list[RowOperatingPoints], idx: np.ndarray) -> OperatingPoint:
        return _summary(point, _concat(reps), int(idx.size), int(targets[idx].sum()), level)

    everything = np.arange(scores.size)
    site_results = [] if sites is None else [
        SiteOperatingPoints(site=site,
                            own=summarise(own_point[site], own_reps[site], positions[site]),
                            pooled=summarise(pooled_point[site], pooled_reps[site], positions[site]))
        for site in site_names
    ]
    return OperatingPointReport(
        target=target,
        target_value=float(value),
        rule=RULES[target],
        overall=summarise(overall_point, overall_reps, everything),
        sites=site_results,
        replicates=replicates,
        seed=seed,
        level=level,
    )


def _selected(scores: np.ndarray, targets: np.ndarray, target: str, value: float
              ) -> tuple[RowOperatingPoints, np.ndarray]:
    points = OperatingCurves(scores, targets).select(target, value)
    return points, points.threshold


def _concat(parts: list[RowOperatingPoints]) -> RowOperatingPoints:
    if not parts:
        empty = np.empty(0)
        return RowOperatingPoints(empty, empty, empty, empty, empty)
    return RowOperatingPoints(*(np.concatenate([getattr(p, name) for p in parts])
                                for name in ("threshold", "sensitivity", "specificity", "ppv", "recall_rate")))


def _summary(point: RowOperatingPoints, reps: RowOperatingPoints, n_cases: int, n_positives: int,
             level: float) -> OperatingPoint:
    notes = []
    if np.isnan(point.threshold[0]):
        notes.append("the target cannot be located on these cases (no case of the class it is defined on)")
    else:
        if n_positives == 0:
            notes.append("no positive case: sensitivity is undefined")
        if n_positives == n_cases:
            notes.append("no negative case: specificity is undefined")
        if point.recall_rate[0] == 0:
            notes.append("no case is called positive (threshold +inf): PPV is undefined")
    return OperatingPoint(
        threshold=estimate(point.threshold[0], reps.threshold, level, infinite_is_value=True),
        sensitivity=estimate(point.sensitivity[0], reps.sensitivity, level),
        specificity=estimate(point.specificity[0], reps.specificity, level),
        ppv=estimate(point.ppv[0], reps.ppv, level),
        recall_rate=estimate(point.recall_rate[0], reps.recall_rate, level),
        n_cases=n_cases,
        n_positives=n_positives,
        note="; ".join(notes),
    )


def _check_target(target: str, value: float) -> None:
    if target not in OPERATING_TARGETS:
        raise ValueError(f"unknown operating target {target!r}; choose one of {', '.join(OPERATING_TARGETS)}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"the {target} target must be in [0, 1], got {value!r}")
