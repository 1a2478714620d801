"""The metric plugin contract.

A metric plugin is a class registered under the entry-point group ``podium.metrics``. It receives the
validated predictions and reference values of every scored case as numpy arrays and returns an
aggregate value, an optional per-case value array and an optional confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np


class MetricInputError(ValueError):
    """The inputs cannot be scored by this metric (e.g. a single class for AUROC)."""


@dataclass(frozen=True)
class MetricInput:
    case_ids: list[str]
    predictions: np.ndarray  # shape (n,), float64
    targets: np.ndarray  # shape (n,), float64
    metadata: dict[str, list[str]] = field(default_factory=dict)
    random_seed: int = 0


@dataclass(frozen=True)
class MetricResult:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    per_case: np.ndarray | None = None
    detail: str = ""


@runtime_checkable
class Metric(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    higher_is_better: ClassVar[bool]

    def compute(self, data: MetricInput) -> MetricResult: ...
