"""Operating points: threshold rules against a brute-force loop over every candidate threshold, per site and
pooled, and bootstrap intervals that re-estimate the threshold on every replicate."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from evaluation.operating_points import OperatingCurves, at_thresholds, choose_threshold, operating_points

TOL = 1e-12


def brute_force(scores: np.ndarray, targets: np.ndarray, target: str, value: float) -> dict[str, float]:
    """Try every candidate threshold (each distinct score, and +inf) and apply the documented rule."""
    positives = targets == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    rows = []
    for t in [*sorted(set(scores.tolist())), math.inf]:
        called = scores >= t
        rows.append({
            "threshold": t,
            "recall_rate": called.mean(),
            "sensitivity": (called & positives).sum() / n_pos if n_pos else math.nan,
            "specificity": (~called & ~positives).sum() / n_neg if n_neg else math.nan,
            "ppv": (called & positives).sum() / called.sum() if called.any() else math.nan,
        })
    if target == "recall_rate":
        chosen = min((r for r in rows if r["recall_rate"] <= value + TOL), key=lambda r: r["threshold"])
    elif target == "specificity":
        ok = [r for r in rows if n_neg and r["specificity"] >= value - TOL]
        chosen = min(ok, key=lambda r: r["threshold"]) if ok else None
    else:
        ok = [r for r in rows if n_pos and r["sensitivity"] >= value - TOL]
        chosen = max(ok, key=lambda r: r["threshold"]) if ok else None
    if chosen is None:
        return dict.fromkeys(("threshold", "recall_rate", "sensitivity", "specificity", "ppv"), math.nan)
    return chosen


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


TARGETS = [("recall_rate", v) for v in (0.0, 0.1, 0.29, 0.5, 1.0)] + \
          [("specificity", v) for v in (0.0, 0.8, 0.9, 1.0)] + \
          [("sensitivity", v) for v in (0.0, 0.5, 0.85, 1.0)]


@pytest.mark.parametrize(("target", "value"), TARGETS)
def test_threshold_rules_equal_brute_force(target: str, value: float) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{target}{value}".encode()))
    for _ in range(60):
        n = int(rng.integers(1, 60))
        scores = rng.integers(0, 8, n) / 8.0  # heavy ties
        targets = (rng.random(n) < rng.random()).astype(float)
        expected = brute_force(scores, targets, target, value)
        assert same(choose_threshold(scores, targets, target, value), expected["threshold"])  # type: ignore[arg-type]
        points = OperatingCurves(scores, targets).select(target, value)
        for key in ("recall_rate", "sensitivity", "specificity", "ppv"):
            assert same(getattr(points, key)[0], expected[key]), (key, scores, targets)


def test_every_bootstrap_row_applies_the_rule_to_its_own_cases() -> None:
    rng = np.random.default_rng(4)
    scores = rng.normal(size=40).round(1)
    targets = (rng.random(40) < 0.3).astype(float)
    indices = rng.integers(0, 40, size=(50, 40))
    curves = OperatingCurves(scores[indices], targets[indices])
    for target, value in [("recall_rate", 0.2), ("specificity", 0.9), ("sensitivity", 0.8)]:
        points = curves.select(target, value)
        for r, row in enumerate(indices):
            expected = brute_force(scores[row], targets[row], target, value)
            for key in ("threshold", "recall_rate", "sensitivity", "specificity", "ppv"):
                assert same(getattr(points, key)[r], expected[key])


def test_tied_scores_are_called_together_so_the_threshold_stays_above_a_straddling_tie() -> None:
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.3, 0.2, 0.2, 0.1, 0.1, 0.0])
    targets = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    # A 20% recall rate would split the tie at 0.5 (cases 2-4): the rule stays above it, calling 1 in 10.
    assert choose_threshold(scores, targets, "recall_rate", 0.2) == 0.9
    assert choose_threshold(scores, targets, "recall_rate", 0.4) == 0.5
    assert choose_threshold(scores, targets, "recall_rate", 0.05) == math.inf  # call none
    assert choose_threshold(scores, targets, "sensitivity", 2 / 3) == 0.5
    assert choose_threshold(scores, targets, "specificity", 5 / 7) == 0.3  # 29/100-style ratios meet exactly
    assert choose_threshold(scores, targets, "specificity", 6 / 7) == 0.9  # 0.5 would add two false positives


def three_sites(n_per_site: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sites whose scanners shift every score: a pooled threshold refers very different shares per site."""
    rng = np.random.default_rng(seed)
    sites = np.repeat(["a", "b", "c"], n_per_site)
    targets = (rng.random(sites.size) < 0.2).astype(float)
    shift = np.select([sites == "a", sites == "b"], [0.0, 1.0], 2.0)
    scores = (targets * 1.5 + rng.normal(size=sites.size) + shift).round(2)
    return scores, targets, sites


def test_per_site_and_pooled_thresholds_equal_brute_force() -> None:
    scores, targets, sites = three_sites()
    report = operating_points(scores, targets, sites, target="recall_rate", value=0.15, replicates=200)
    pooled = brute_force(scores, targets, "recall_rate", 0.15)
    assert report.overall.threshold.value == pooled["threshold"]
    assert report.overall.recall_rate.value == pytest.approx(pooled["recall_rate"])
    assert [s.site for s in report.sites] == ["a", "b", "c"]
    for site in report.sites:
        members = sites == site.site
        own = brute_force(scores[members], targets[members], "recall_rate", 0.15)
        assert site.own.threshold.value == own["threshold"]
        for key in ("recall_rate", "sensitivity", "specificity", "ppv"):
            assert same(getattr(site.own, key).value, own[key])
        called = scores[members] >= pooled["threshold"]
        positives = targets[members] == 1
        assert site.pooled.threshold.value == pooled["threshold"]
        assert site.pooled.recall_rate.value == pytest.approx(called.mean())
        assert site.pooled.sensitivity.value == pytest.approx((called & positives).sum() / positives.sum())
        assert site.own.recall_rate.value <= 0.15 + TOL
        assert (site.own.n_cases, site.own.n_positives) == (members.sum(), positives.sum())
    # What per-site calibration changes: the pooled threshold refers few cases at site a and many at site c.
    by_site = {s.site: s for s in report.sites}
    assert by_site["a"].pooled.recall_rate.value < 0.05 < 0.25 < by_site["c"].pooled.recall_rate.value
    assert all(abs(s.own.recall_rate.value - 0.15) < 0.02 for s in report.sites)


def test_bootstrap_intervals_re_estimate_the_threshold_on_every_replicate() -> None:
    scores, targets, sites = three_sites(n_per_site=40, seed=5)
    replicates, seed = 60, 9
    report = operating_points(scores, targets, sites, target="specificity", value=0.9, replicates=replicates,
                              seed=seed)
    # The documented resampling: per site in sorted order, default_rng(seed).integers(0, n_s, (R, n_s)).
    rng = np.random.default_rng(seed)
    site_rows = {}
    for site in ["a", "b", "c"]:
        positions = np.flatnonzero(sites == site)
        site_rows[site] = positions[rng.integers(0, positions.size, size=(replicates, positions.size))]
    pooled_rows = np.hstack([site_rows[s] for s in ["a", "b", "c"]])
    pooled = [brute_force(scores[row], targets[row], "specificity", 0.9) for row in pooled_rows]
    for site in report.sites:
        own = [brute_force(scores[row], targets[row], "specificity", 0.9) for row in site_rows[site.site]]
        for key in ("threshold", "sensitivity", "specificity"):
            values = np.array([o[key] for o in own])
            if key == "threshold":  # thresholds: +inf kept, inverted-CDF quantiles
                low, high = np.quantile(values[~np.isnan(values)], [0.025, 0.975], method="inverted_cdf")
            else:
                low, high = np.quantile(values[np.isfinite(values)], [0.025, 0.975])
            estimate = getattr(site.own, key)
            assert (estimate.ci_low, estimate.ci_high) == (pytest.approx(low), pytest.approx(high)), key
        applied = [at_thresholds(scores[row], targets[row], np.array([p["threshold"]])).sensitivity[0]
                   for row, p in zip(site_rows[site.site], pooled, strict=True)]
        low, high = np.quantile(applied, [0.025, 0.975])
        assert (site.pooled.sensitivity.ci_low, site.pooled.sensitivity.ci_high) == (pytest.approx(low),
                                                                                      pytest.approx(high))
        assert site.own.threshold.ci_low < site.own.threshold.ci_high  # threshold uncertainty is included
    thresholds = np.array([p["threshold"] for p in pooled])
    low, high = np.quantile(thresholds, [0.025, 0.975], method="inverted_cdf")
    assert (report.overall.threshold.ci_low, report.overall.threshold.ci_high) == (pytest.approx(low),
                                                                                    pytest.approx(high))


def test_a_site_with_one_class() -> None:
    scores, targets, sites = three_sites(n_per_site=60, seed=2)
    targets[sites == "b"] = 0.0
    report = operating_points(scores, targets, sites, target="sensitivity", value=0.8, replicates=100)
    b = next(s for s in report.sites if s.site == "b")
    assert math.isnan(b.own.threshold.value) and "cannot be located" in b.own.note
    assert b.own.threshold.ci_low is None and b.own.threshold.replicates_defined == 0
    assert not math.isnan(b.pooled.threshold.value) and "no positive case" in b.pooled.note
    assert math.isnan(b.pooled.sensitivity.value) and b.pooled.specificity.defined
    report = operating_points(scores, targets, sites, target="recall_rate", value=0.1, replicates=100)
    b = next(s for s in report.sites if s.site == "b")
    assert b.own.recall_rate.value <= 0.1 and b.own.ppv.value == 0.0 and "sensitivity is undefined" in b.own.note
    data = report.as_dict()
    json.dumps(data, allow_nan=False)
    assert data["sites"][1]["own"]["sensitivity"]["value"] is None


def test_no_site_labels_gives_the_pooled_point_only_and_inf_is_null_in_json() -> None:
    scores = np.array([0.9, 0.8, 0.1, 0.2])
    targets = np.array([1.0, 0.0, 0.0, 1.0])
    report = operating_points(scores, targets, target="recall_rate", value=0.1, replicates=20)
    assert report.sites == []
    assert report.overall.threshold.value == math.inf and report.overall.recall_rate.value == 0.0
    assert "no case is called positive" in report.overall.note
    assert report.as_dict()["overall"]["threshold"]["value"] is None


def test_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown operating target 'npv'"):
        operating_points(np.array([0.1]), np.array([1.0]), target="npv", value=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        operating_points(np.array([0.1]), np.array([1.0]), target="recall_rate", value=5)
