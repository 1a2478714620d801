"""Percentile bootstrap over cases, or over groups of cases (the clustered bootstrap, docs/statistics.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# --- clustered (group) bootstrap -------------------------------------------------------------------------------

Grouping = Mapping[str, str | None]  # case id -> group id (e.g. a patient); None or "": the case is its own group


@dataclass(frozen=True)
class Resamples:
    """Bootstrap replicates of ``n`` cases: for each replicate (row), the indices of the cases drawn.

    Without clustering every row has ``n`` indices and ``blocks`` holds one matrix, exactly
    ``bootstrap_indices(n, replicates, seed)``. With clustering a row holds every case of each drawn group, so
    rows differ in length; rows of equal length are kept together in one block (its row numbers and its index
    matrix), and a statistic is computed block by block, vectorised within each block.
    """

    n: int
    replicates: int
    blocks: tuple[tuple[np.ndarray, np.ndarray], ...]  # (row numbers (b,), case indices (b, length))

    def apply(self, statistic: Callable[[np.ndarray], np.ndarray], max_elements: int = 2_000_000) -> np.ndarray:
        """``statistic`` (index matrix (rows, length) -> (rows,)) on every replicate: shape (replicates,).

        Called per block, in chunks of about ``max_elements`` indices so memory stays bounded.
        """
        out = np.full(self.replicates, np.nan)
        for rows, indices in self.blocks:
            step = max(1, max_elements // max(indices.shape[1], 1))
            for start in range(0, rows.size, step):
                out[rows[start:start + step]] = np.asarray(statistic(indices[start:start + step]), dtype=np.float64)
        return out


def group_labels(case_ids: Sequence[str], groups: Grouping) -> np.ndarray:
    """Each case's group number (0, 1, ... in order of first appearance); a case mapped to None or "" is a
    group of its own. A ValueError names cases missing from ``groups``."""
    missing = [case for case in case_ids if case not in groups]
    if missing:
        named = ", ".join(repr(case) for case in missing[:5])
        more = f", ... and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"no group for case(s) {named}{more}; the grouping must name every case "
                         "(map a case to None for a group of its own)")
    numbers: dict[Any, int] = {}
    labels = np.empty(len(case_ids), dtype=np.int64)
    for position, case in enumerate(case_ids):
        group = groups[case]
        key: Any = ("case", case) if group is None or group == "" else ("group", str(group))
        labels[position] = numbers.setdefault(key, len(numbers))
    return labels


def resample_cases(
    case_ids: Sequence[str],
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    groups: Grouping | None = None,
) -> Resamples:
    """The bootstrap replicates of ``case_ids``: cases drawn with replacement, or, with ``groups``, groups.

    Clustered: with G groups (numbered in order of first appearance), replicate r draws G group numbers,
    ``default_rng(seed).integers(0, G, size=(replicates, G))[r]``, and takes every case of each drawn group (in
    case order, a group drawn twice twice), so its length is the sum of the drawn groups' sizes. With one case
    per group this is exactly the unclustered bootstrap (same seed, same indices).
    """
    n = len(case_ids)
    if groups is None:
        return Resamples(n, replicates, ((np.arange(replicates), bootstrap_indices(n, replicates, seed)),))
    labels = group_labels(case_ids, groups)
    n_groups = int(labels.max()) + 1 if n else 0
    draws = np.random.default_rng(seed).integers(0, max(n_groups, 1), size=(replicates, n_groups))
    members = np.argsort(labels, kind="stable")  # case indices grouped by group number, in case order within
    sizes = np.bincount(labels, minlength=n_groups)
    offsets = np.cumsum(sizes) - sizes
    drawn_sizes = sizes[draws.ravel()]
    # Every drawn group's cases, concatenated over all replicates: one gather, no loop over replicates.
    within = np.arange(int(drawn_sizes.sum())) - np.repeat(np.cumsum(drawn_sizes) - drawn_sizes, drawn_sizes)
    flat = members[np.repeat(offsets[draws.ravel()], drawn_sizes) + within]
    lengths = sizes[draws].sum(axis=1)
    starts = np.cumsum(lengths) - lengths
    blocks = []
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        blocks.append((rows, flat[starts[rows][:, None] + np.arange(int(length))]))
    return Resamples(n, replicates, tuple(blocks))
