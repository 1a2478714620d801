"""What a run cost, from the prices the operator sets (PODIUM_PRICE_*; docs/operations.md, "Time and cost per case").

cost of a run = CPU hours x price per CPU-hour + peak memory in GiB x wall hours x price per GiB-hour
(+ GPU hours x price per GPU-hour, once runs record GPU time: issue 11, item 6).

Per case, in batch mode, a run's time and cost are divided by the number of cases it processed (its valid and
invalid cases): one container sees every case, so there is no time of each case, nor a median or percentile of
them. Per-case mode (one container run per case) will record those.
"""

from __future__ import annotations

from dataclasses import dataclass

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
             peak_memory_mb: float | None) -> float | None:
    """The run's cost in prices.currency; None when no price is set or a figure a set price needs is missing
    (a run recorded before CPU and memory were measured): never a cost that leaves a part out."""
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
    # prices.gpu_hour: no run uses a GPU yet; it adds GPU hours x the price once runs record them.
    return cost


def per_case(value: float | None, cases: int) -> float | None:
    """A run's figure divided by the cases it processed (batch mode); None when either is unknown."""
    if value is None or cases <= 0:
        return None
    return value / cases
