"""What a run cost, from the prices the operator sets (PODIUM_PRICE_*; docs/operations.md, "Time and cost per case").

cost of a run = CPU hours x price per CPU-hour + peak memory in GiB x wall hours x price per GiB-hour
               + the phase's GPUs x wall hours x price per GPU-hour (a GPU is held for the whole run).

Per case, a run's time and cost are divided by the number of cases it processed (its valid and invalid cases). In
batch mode that is all there is: one container sees every case, so there is no time of each case. In per-case mode
(one container run per case) each case's run records its own wall time, CPU seconds and peak memory
(CaseOutcome), so the spread is known too: the median and the 95th percentile of the cases' times and costs
(`case_spread`), each case's cost priced as a run of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.config import Settings

MIB_PER_GIB = 1024.0


@dataclass(frozen=True)
class Prices:
    """The operator's prices; None where not set. No price set: no cost is computed or shown."""

    cpu_hour: float | None = None
    gb_hour: float | None = None  # per GiB of peak memory and hour of wall time
    gpu_hour: float | None = None
    currency: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Prices:
        return cls(settings.price_cpu_hour, settings.price_gb_hour, settings.price_gpu_hour,
                   settings.price_currency)

    @property
    def any_set(self) -> bool:
        return any(price is not None for price in (self.cpu_hour, self.gb_hour, self.gpu_hour))


def run_cost(prices: Prices | None, *, wall_seconds: float | None, cpu_seconds: float | None,
             peak_memory_mb: float | None, gpus: int = 0) -> float | None:
    """The run's cost in prices.currency; None when no price is set or a figure a set price needs is missing
    (a run recorded before CPU and memory were measured), or when the run held GPUs and no GPU price is set:
    never a cost that leaves a part out."""
    if prices is None or not prices.any_set:
        return None
    cost = 0.0
    if prices.cpu_hour is not None:
        if cpu_seconds is None:
            return None
        cost += cpu_seconds / 3600.0 * prices.cpu_hour
    if prices.gb_hour is not None:
        if peak_memory_mb is None or wall_seconds is None:
            return None
        cost += peak_memory_mb / MIB_PER_GIB * wall_seconds / 3600.0 * prices.gb_hour
    if gpus > 0:
        if prices.gpu_hour is None or wall_seconds is None:
            return None
        cost += gpus * wall_seconds / 3600.0 * prices.gpu_hour
    return cost


def per_case(value: float | None, cases: int) -> float | None:
    """A run's figure divided by the cases it processed (batch mode); None when either is unknown."""
    if value is None or cases <= 0:
        return None
    return value / cases


@dataclass(frozen=True)
class CaseFigures:
    """What one case's own run used (per-case mode); None where not measured."""

    wall_seconds: float | None
    cpu_seconds: float | None
    peak_memory_mb: float | None


@dataclass(frozen=True)
class CaseSpread:
    """The median and 95th percentile of the cases' wall times and costs (per-case mode); a cost is None when no
    price is set or a case lacks a figure a set price needs."""

    cases: int
    seconds_median: float
    seconds_p95: float
    cost_median: float | None
    cost_p95: float | None


def case_spread(prices: Prices | None, cases: Sequence[CaseFigures], gpus: int = 0) -> CaseSpread | None:
    """The spread of the per-case figures of one run; None when it has none (a batch run, or one recorded before
    per-case figures were kept). The percentile is numpy's (linear between the two nearest cases)."""
    walls = [c.wall_seconds for c in cases if c.wall_seconds is not None]
    if not cases or len(walls) != len(cases):
        return None
    costs = [run_cost(prices, wall_seconds=c.wall_seconds, cpu_seconds=c.cpu_seconds, peak_memory_mb=c.peak_memory_mb,
                      gpus=gpus) for c in cases]
    known = [c for c in costs if c is not None]
    cost_median, cost_p95 = (None, None) if len(known) != len(costs) else _median_p95(known)
    seconds_median, seconds_p95 = _median_p95(walls)
    return CaseSpread(len(cases), seconds_median, seconds_p95, cost_median, cost_p95)


def _median_p95(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(np.median(array)), float(np.percentile(array, 95))
