"""Metric plugins by name, filled from the entry-point group ``podium.metrics``."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from evaluation.base import Metric

ENTRY_POINT_GROUP = "podium.metrics"


class UnknownMetric(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@cache
def metric_registry() -> dict[str, type[Metric]]:
    registry: dict[str, type[Metric]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        plugin = entry.load()
        if getattr(plugin, "name", None) != entry.name:
            raise TypeError(f"metric plugin {entry.value} registers as {entry.name!r} but names itself "
                            f"{getattr(plugin, 'name', None)!r}")
        registry[entry.name] = plugin
    return registry


def get_metric(name: str) -> Metric:
    registry = metric_registry()
    try:
        return registry[name]()
    except KeyError:
        known = ", ".join(sorted(registry)) or "none"
        raise UnknownMetric(f"unknown metric {name!r}; known metrics: {known}") from None


def gives_per_case_values(plugin: type[Metric] | Metric) -> bool:
    """Whether a metric plugin gives one value per case (a case-level metric: Dice, MAE, Brier score, ...).

    Plugins declare it by implementing ``per_case(data)`` (the case-level contract of
    ``evaluation.metrics.regression.CaseMeanMetric``, whose ``compute`` returns those values as ``per_case``);
    set-level metrics (AUROC, average precision, sensitivity at a threshold, ...) do not.
    """
    return callable(getattr(plugin, "per_case", None))
