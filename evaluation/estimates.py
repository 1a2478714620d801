"""A point estimate with its percentile bootstrap interval, and JSON-safe conversion of result dataclasses.

Shared by the statistics modules (ranking, breakdown, operating points, readers) so that every result
reports uncertainty the same way: the value on all cases, the percentile interval of the bootstrap
replicates that were defined, and how many replicates that was.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.bootstrap import percentile_interval


@dataclass(frozen=True)
class Estimate:
    value: float  # on all cases; NaN when undefined there (a threshold may be +inf: no case called positive)
    ci_low: float | None  # percentile interval over the defined (finite) replicates
    ci_high: float | None
    replicates_defined: int  # how many replicates gave a finite value

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)


def tail(level: float) -> float:
    """(1 - level) / 2 without floating-point residue (0.025 exactly for 0.95), so that inverted-CDF
    quantiles land on the intended order statistic (with 80 replicates, the 2nd, not the 3rd)."""
    return round((1.0 - level) / 2.0, 12)


def estimate(value: float, replicates: np.ndarray, level: float = 0.95, *, infinite_is_value: bool = False) -> Estimate:
    """The value with the percentile ``level`` interval of the defined replicates.

    NaN replicates (statistic undefined on that resample) are left out. With ``infinite_is_value`` (for
    thresholds, where +inf means "no case is called positive") infinite replicates are kept as values and the
    interval uses inverted-CDF quantiles, so its ends are thresholds that occurred (no interpolation, and
    none with infinity). Otherwise infinite replicates are left out and quantiles are interpolated linearly.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    kept = replicates[~np.isnan(replicates)] if infinite_is_value else replicates[np.isfinite(replicates)]
    if kept.size == 0:
        return Estimate(float(value), None, None, 0)
    if infinite_is_value:
        alpha = tail(level)
        quantiles = np.quantile(kept, [alpha, 1.0 - alpha], method="inverted_cdf")
        return Estimate(float(value), float(quantiles[0]), float(quantiles[1]), int(kept.size))
    low, high = percentile_interval(kept, level)
    return Estimate(float(value), low, high, int(kept.size))


def as_json(result: Any) -> dict[str, Any]:
    """A result dataclass as a JSON object (see ``jsonable``)."""
    data: dict[str, Any] = jsonable(result)
    return data


def jsonable(value: Any) -> Any:
    """Dataclasses, numpy scalars and arrays as plain JSON values; NaN and ±inf become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Estimate):
            out["defined"] = value.defined
        return out
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
