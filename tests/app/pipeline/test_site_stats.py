"""The centre's pooled scores from what sites send equal the scores of every case scored in one place."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.site_stats import ScoreCounts, SiteCase, pooled_scores, site_score_counts, statistic_kind
from evaluation.base import MetricInput
from evaluation.registry import get_metric

METRICS = [{"name": name, "prediction": "p", "target": "y"}
           for name in ("auroc", "average_precision", "brier_score", "sensitivity_at_specificity")]


def _data(seed: int = 7, n: int = 90) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    keys = [f"case-{i:03d}" for i in range(n)]
    labels = rng.integers(0, 2, n).astype(float)
    scores = np.round(np.clip(0.3 * labels + rng.normal(0.35, 0.2, n), 0, 1), 2)  # rounded: ties within and across
    sites = [("a", "b", "c")[i % 3] for i in range(n)]
    return keys, scores, labels, sites


def _site_reports(keys: list[str], scores: np.ndarray, labels: np.ndarray, sites: list[str]
                  ) -> tuple[list[SiteCase], list[dict[str, dict[str, list[list[float]]]]]]:
    """What each site sends: its cases' per-case values and its score counts (computed at the site)."""
    cases, counts = [], []
    brier = get_metric("brier_score")
    for site in ("a", "b", "c"):
        mine = [i for i, s in enumerate(sites) if s == site]
        ids = [keys[i] for i in mine]
        per_case = brier.compute(MetricInput(ids, scores[mine], labels[mine])).per_case
        assert per_case is not None
        cases += [SiteCase(k, "valid", "", True, {"brier_score": float(v)}) for k, v in zip(ids, per_case, strict=True)]
        counts.append(site_score_counts(METRICS, [(keys[i], {"p": scores[i]}) for i in mine],
                                        {keys[i]: {"y": labels[i]} for i in mine}, None))
    return cases, counts


def test_every_metric_pooled_from_the_sites_equals_the_metric_on_every_case() -> None:
    keys, scores, labels, sites = _data()
    cases, counts = _site_reports(keys, scores, labels, sites)
    pooled = pooled_scores(METRICS, cases, counts, case_order=keys, metadata={}, cluster_by=None)

    # Case-level (Brier): value and bootstrap CI exactly as central scoring computes them, in the test set's order.
    central = get_metric("brier_score").compute(MetricInput(keys, scores, labels))
    assert pooled["brier_score"].value == pytest.approx(central.value, abs=1e-12)
    assert (pooled["brier_score"].ci_low, pooled["brier_score"].ci_high) == pytest.approx(
        (central.ci_low, central.ci_high), abs=1e-12)

    # Set-level (AUROC, AP, sensitivity at specificity): the value exactly; the CI is the same bootstrap as central
    # scoring of the same cases listed by (score, label).
    order = np.lexsort((labels, scores))
    for name in ("auroc", "average_precision", "sensitivity_at_specificity"):
        central = get_metric(name).compute(MetricInput(keys, scores, labels))
        assert pooled[name].value == pytest.approx(central.value, abs=1e-12), name
        sorted_central = get_metric(name).compute(MetricInput([keys[i] for i in order], scores[order],
                                                              labels[order]))
        assert (pooled[name].ci_low, pooled[name].ci_high) == pytest.approx(
            (sorted_central.ci_low, sorted_central.ci_high), abs=1e-12), name


def test_score_counts_hold_no_case_ids_and_add_up_across_sites() -> None:
    keys, scores, labels, sites = _data(seed=3, n=30)
    _, counts = _site_reports(keys, scores, labels, sites)
    text = repr(counts)
    assert not any(key in text for key in keys)
    pooled = ScoreCounts.pooled(ScoreCounts.from_json(site["all"]["auroc"]) for site in counts)
    assert sum(n for _, _, n in pooled.rows) == len(keys)
    assert pooled == ScoreCounts.of(scores, labels)


def test_a_subset_is_pooled_from_its_own_counts_and_values() -> None:
    keys, scores, labels, sites = _data(seed=11, n=60)
    public = {k for i, k in enumerate(keys) if i % 2 == 0}
    subsets = {"public": public, "private": set(keys) - public}
    cases, _ = _site_reports(keys, scores, labels, sites)
    counts = [site_score_counts(METRICS, [(keys[i], {"p": scores[i]}) for i, s in enumerate(sites) if s == site],
                                {k: {"y": labels[i]} for i, k in enumerate(keys)}, subsets) for site in "abc"]
    pooled = pooled_scores(METRICS, cases, counts, case_order=keys, metadata={}, cluster_by=None, subset="public",
                           members=public)
    mine = [i for i, k in enumerate(keys) if k in public]
    assert pooled["auroc"].value == pytest.approx(
        get_metric("auroc").compute(MetricInput([keys[i] for i in mine], scores[mine], labels[mine])).value)
    assert pooled["brier_score"].value == pytest.approx(float(np.mean((scores[mine] - labels[mine]) ** 2)))


def test_what_a_site_can_send_for_each_kind_of_metric() -> None:
    assert statistic_kind("brier_score") == "case-values"
    assert statistic_kind("dice") == "case-values"
    assert statistic_kind("auroc") == "score-counts"
    assert statistic_kind("lesion_average_precision") is None  # detection: lesion candidates, not a score per case
