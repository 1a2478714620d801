"""The metric plugin contract (version 1).

A metric plugin is a class registered under the entry-point group ``podium.metrics``. The platform
gives it every scored case at once (``MetricInput``) and gets back the aggregate value, its confidence
interval and, for case-level metrics, one value per case (``MetricResult``).

Two shapes of metric exist:
- *set-level* metrics (AUROC, average precision, FROC, ...) need all cases together;
- *case-level* metrics (Dice, HD95, absolute error, ...) give one value per case, aggregated by a mean
  (or another documented aggregate).

Both implement ``resample(data, indices)``: the statistic on bootstrap replicates of the cases, given as
an index matrix of shape (replicates, n). The ranking code calls it with the *same* indices for every
submission (a paired bootstrap), so CIs and rank distributions compare like with like. Under the clustered
bootstrap (groups of cases resampled together) a replicate holds every case of each drawn group, so the index
matrix a plugin receives may have fewer or more than n columns: a plugin must take the number of cases in a
replicate from ``indices.shape[1]``, never assume it is n.

What ``predictions`` and ``targets`` hold depends on ``input_kind``:
- ``"scalar"``: float arrays of shape (n,) (e.g. a likelihood and a 0/1 label);
- ``"image"``: lists of paths to images (MHA/NRRD/NIfTI, read with SimpleITK; spacing honoured);
- ``"detection"``: lists of per-case objects as the metric documents (e.g. a detection map path).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

InputKind = Literal["scalar", "image", "detection"]


class MetricInputError(ValueError):
    """The inputs cannot be scored by this metric (e.g. a single class for AUROC)."""


_NAMED_DUPLICATES = 5  # a duplicate-id error names this many ids, then says how many more there are


def check_unique_case_ids(case_ids: Iterable[str]) -> None:
    """A ``MetricInputError`` (a ``ValueError``) naming the first duplicated ids, if any id occurs twice.

    A case listed twice would silently count twice in every aggregate, bootstrap replicate and ranking.
    """
    ids = list(case_ids)
    if len(set(ids)) == len(ids):
        return
    duplicated = [(case, count) for case, count in Counter(ids).items() if count > 1]  # in order of appearance
    named = ", ".join(f"{case!r} ({count} times)" for case, count in duplicated[:_NAMED_DUPLICATES])
    more = len(duplicated) - _NAMED_DUPLICATES
    raise MetricInputError(f"duplicate case id(s): {named}{f', ... and {more} more' if more > 0 else ''}; "
                           "each case may be scored once (remove or rename the repeated cases)")


@dataclass(frozen=True)
class MetricInput:
    """Every case once: duplicate ``case_ids`` are refused here, so no metric plugin ever sees them."""

    case_ids: list[str]
    predictions: Any  # np.ndarray for "scalar"; list[...] otherwise, aligned with case_ids
    targets: Any
    metadata: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # metric parameters from challenge.yaml
    random_seed: int = 0
    # The clustered bootstrap (docs/statistics.md): case id -> group id (e.g. a patient; None: its own group).
    # With it, the CI ``compute`` reports resamples groups instead of cases. None: cases are resampled.
    groups: Mapping[str, str | None] | None = None

    def __post_init__(self) -> None:
        check_unique_case_ids(self.case_ids)


@dataclass(frozen=True)
class MetricResult:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    per_case: np.ndarray | None = None  # case-level metrics: shape (n,), aligned with case_ids
    detail: str = ""


@runtime_checkable
class Metric(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    higher_is_better: ClassVar[bool]
    input_kind: ClassVar[InputKind]

    def compute(self, data: MetricInput) -> MetricResult: ...

    def resample(self, data: MetricInput, indices: np.ndarray) -> np.ndarray:
        """The statistic on each row of case indices (shape (replicates, n)); returns shape (replicates,)."""
        ...
