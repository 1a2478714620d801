"""Duplicate case ids are refused at every entry point of the metric library (a case would count twice)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evaluation.base import MetricInput, MetricInputError
from evaluation.breakdown import breakdown
from evaluation.ranking import common_case_ids, paired_bootstrap, rank_entries
from evaluation.registry import metric_registry
from tests.evaluation.stats.metrics import AbsoluteError, SetAUROC

SCORES = np.array([0.1, 0.8, 0.4, 0.9, 0.3, 0.7])
TARGETS = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])


def test_a_metric_input_with_duplicate_case_ids_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"duplicate case id\(s\): 'c1' \(2 times\), 'c3' \(3 times\)") as caught:
        MetricInput(["c1", "c1", "c2", "c3", "c3", "c3"], SCORES, TARGETS)
    assert isinstance(caught.value, MetricInputError)  # reported like any other input the metric cannot score
    assert "once" in str(caught.value)


def test_only_the_first_few_duplicates_are_named() -> None:
    ids = [f"c{i // 2}" for i in range(40)]  # 20 ids, each twice
    with pytest.raises(ValueError) as caught:
        MetricInput(ids, np.zeros(40), np.zeros(40))
    message = str(caught.value)
    assert "'c0' (2 times)" in message and "'c4' (2 times)" in message and "'c5'" not in message
    assert "and 15 more" in message


def test_a_copy_with_duplicate_case_ids_is_refused_too() -> None:
    data = MetricInput([f"c{i}" for i in range(6)], SCORES, TARGETS)
    with pytest.raises(ValueError, match="duplicate case id"):
        dataclasses.replace(data, case_ids=["a", "b", "a", "c", "d", "e"])


@pytest.mark.parametrize("name", sorted(metric_registry()))
def test_every_registered_metric_plugin_is_protected(name: str) -> None:
    """The check lives in MetricInput, which every plugin receives: no plugin can score a duplicated case."""
    plugin = metric_registry()[name]()
    ids = ["a", "b", "c", "a", "e", "f"]
    with pytest.raises(ValueError, match="duplicate case id"):
        plugin.compute(MetricInput(ids, SCORES, TARGETS))


def test_unique_case_ids_are_scored_as_before() -> None:
    data = MetricInput([f"c{i}" for i in range(6)], SCORES, TARGETS)
    assert metric_registry()["auroc"]().compute(data).value == 1.0


class _Entry:
    """Something shaped like a MetricInput that skipped its check (a duck-typed entry)."""

    def __init__(self, case_ids: list[str]) -> None:
        self.case_ids = case_ids
        self.predictions, self.targets, self.metadata, self.options, self.random_seed = SCORES, TARGETS, {}, {}, 0


def test_the_ranking_entry_points_refuse_duplicate_case_ids() -> None:
    ids = ["a", "b", "b", "c", "d", "e"]
    entries = {"x": _Entry(ids), "y": _Entry(ids)}
    for call in (lambda: common_case_ids(entries),  # type: ignore[arg-type]
                 lambda: paired_bootstrap(entries, SetAUROC(), replicates=10),  # type: ignore[arg-type]
                 lambda: rank_entries(entries, AbsoluteError(), replicates=10)):  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"duplicate case id\(s\): 'b' \(2 times\)"):
            call()


def test_breakdown_refuses_duplicate_case_ids() -> None:
    entry = _Entry(["a", "b", "c", "a", "e", "f"])
    entry.metadata = {"site": ["s"] * 6}
    with pytest.raises(ValueError, match=r"duplicate case id\(s\): 'a' \(2 times\)"):
        breakdown(entry, SetAUROC(), "site", replicates=10)  # type: ignore[arg-type]
