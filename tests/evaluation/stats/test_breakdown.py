"""Per-group breakdown: each group scored as its own test set; undefined groups reported, not dropped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.base import MetricInput
from evaluation.bootstrap import bootstrap_indices
from evaluation.breakdown import breakdown
from tests.evaluation.stats.metrics import AbsoluteError, SetAUROC, auroc_rows


def site_data(n: int = 300, seed: int = 0) -> MetricInput:
    rng = np.random.default_rng(seed)
    sites = rng.choice(["radboud", "leiden", "oslo"], size=n).tolist()
    targets = (rng.random(n) < 0.4).astype(float)
    shift = np.array([{"radboud": 2.0, "leiden": 1.0, "oslo": 0.2}[s] for s in sites])
    scores = targets * shift + rng.normal(size=n)
    scanners = rng.choice(["ge", "siemens"], size=n).tolist()
    return MetricInput([f"c{i}" for i in range(n)], scores, targets, metadata={"site": sites, "scanner": scanners})


def test_each_site_is_scored_on_its_own_cases_with_a_within_site_bootstrap() -> None:
    data = site_data()
    groups = breakdown(data, SetAUROC(), "site", replicates=400, seed=3)
    assert [g.group for g in groups] == ["leiden", "oslo", "radboud"]
    sites = np.array(data.metadata["site"])
    for group in groups:
        members = sites == group.group
        scores, targets = data.predictions[members], data.targets[members]
        assert group.column == "site" and group.defined and group.reason == ""
        assert group.n_cases == members.sum() and group.n_positives == targets.sum()
        assert group.value == pytest.approx(auroc_rows(scores, targets)[0])
        indices = bootstrap_indices(int(members.sum()), 400, 3)
        low, high = np.quantile(auroc_rows(scores[indices], targets[indices]), [0.025, 0.975])
        assert (group.ci_low, group.ci_high) == (pytest.approx(low), pytest.approx(high))
        assert group.replicates_defined == 400
    by_site = {g.group: g.value for g in groups}
    assert by_site["radboud"] > by_site["leiden"] > by_site["oslo"]


def test_a_site_with_one_class_is_reported_undefined_with_the_reason() -> None:
    data = site_data(n=200, seed=1)
    sites = list(data.metadata["site"])
    targets = data.targets.copy()
    for i in range(5):
        sites[i] = "tromso"
        targets[i] = 0.0
    data = MetricInput(data.case_ids, data.predictions, targets, metadata={"site": sites})
    groups = {g.group: g for g in breakdown(data, SetAUROC(), "site", replicates=100)}
    assert set(groups) == {"leiden", "oslo", "radboud", "tromso"}
    tromso = groups["tromso"]
    assert not tromso.defined and tromso.value is None and tromso.ci_low is None
    assert "only one class" in tromso.reason
    assert (tromso.n_cases, tromso.n_positives) == (5, 0)
    assert all(groups[s].defined for s in ("leiden", "oslo", "radboud"))


def test_a_small_group_reports_how_many_replicates_were_defined() -> None:
    targets = np.array([0, 1, 0, 0, 0, 0, 1, 0], dtype=float)
    data = MetricInput([str(i) for i in range(8)], np.linspace(0, 1, 8), targets, metadata={"site": ["a"] * 8})
    (group,) = breakdown(data, SetAUROC(), "site", replicates=500)
    indices = bootstrap_indices(8, 500, 0)
    defined = np.isfinite(auroc_rows(data.predictions[indices], targets[indices])).sum()
    assert 0 < group.replicates_defined == defined < 500


def test_case_level_metric_and_list_inputs() -> None:
    data = site_data(n=120, seed=2)
    listed = MetricInput(data.case_ids, data.predictions.tolist(), data.targets.tolist(), metadata=data.metadata)
    groups = breakdown(listed, AbsoluteError(), "scanner", replicates=100)
    scanners = np.array(data.metadata["scanner"])
    for group in groups:
        members = scanners == group.group
        assert group.value == pytest.approx(np.abs(data.predictions - data.targets)[members].mean())
        assert group.n_positives is None  # references given as a list: "positive" is not meaningful here
        assert group.ci_low < group.value < group.ci_high


def test_unknown_column_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no metadata column 'vendor'; the cases have: scanner, site"):
        breakdown(site_data(n=20), SetAUROC(), "vendor")


def test_group_results_are_strict_json() -> None:
    groups = breakdown(site_data(n=60), SetAUROC(), "site", replicates=50)
    json.dumps([g.as_dict() for g in groups], allow_nan=False)
