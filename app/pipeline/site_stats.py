"""What a site sends back for its cases, and how the centre pools the sites into one result (docs/sites.md).

A site scores its own cases with the phase's metrics (app/pipeline/scoring.py) and sends, per case, only the
platform's words and numbers: the case's status, the safe wording of its problem, and its per-case metric values.
For the two kinds of metric a site phase may use (app/challenge_yaml.py refuses the others) that is enough for the
centre to compute exactly what it would have computed with every case in one place:

- a case-level metric (Dice, Brier score, absolute error, ...) is a function of the mean of its per-case values
  (evaluation/recorded.py): the pooled value and its bootstrap CI are the recorded twin's on every site's values, in
  the test set's case order, as central scoring computes them;
- a set-level metric of a score against a binary reference (AUROC, average precision, sensitivity at a threshold,
  ...) depends only on the multiset of (score, label) pairs: the site sends that multiset as counts per distinct
  score and class, without case ids (`ScoreCounts`). The pooled value is exact; the pooled CI is the metric's
  bootstrap on the pairs sorted by (score, label) (the same distribution as with case ids; the same number as
  central scoring of the same cases listed in that order).

No input, no ground-truth value and no output file crosses: a label is only ever counted, next to a score, among
every case of the site that has that score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.base import Metric, MetricInput, MetricResult
from evaluation.recorded import recorded_case_means
from evaluation.registry import get_metric, gives_per_case_values

ALL = "all"


@dataclass(frozen=True)
class ScoreCounts:
    """A site's (score, label) pairs for one metric as counts: [[score, label, count], ...] sorted."""

    rows: list[tuple[float, int, int]]

    @staticmethod
    def of(scores: Iterable[float], labels: Iterable[float]) -> ScoreCounts:
        counted = Counter((float(s), int(round(float(y)))) for s, y in zip(scores, labels, strict=True))
        return ScoreCounts(sorted((s, y, n) for (s, y), n in counted.items()))

    @staticmethod
    def pooled(parts: Iterable[ScoreCounts]) -> ScoreCounts:
        counted: Counter[tuple[float, int]] = Counter()
        for part in parts:
            for score, label, count in part.rows:
                counted[(score, label)] += count
        return ScoreCounts(sorted((s, y, n) for (s, y), n in counted.items()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs, expanded and sorted by (score, label)."""
        scores = np.array([s for s, _, n in self.rows for _ in range(n)], dtype=np.float64)
        labels = np.array([y for _, y, n in self.rows for _ in range(n)], dtype=np.float64)
        return scores, labels

    def as_json(self) -> list[list[float]]:
        return [[s, y, n] for s, y, n in self.rows]

    @staticmethod
    def from_json(rows: Iterable[Iterable[Any]]) -> ScoreCounts:
        parsed = []
        for row in rows:
            score, label, count = list(row)
            parsed.append((float(score), int(label), int(count)))
        return ScoreCounts(sorted(parsed))


@dataclass
class SiteCase:
    """One case as the site reports it: never its inputs, reference or outputs."""

    case_key: str
    status: str  # a CaseStatus
    message: str  # the platform's words only (the safe wording): it names the case, the output and the rule
    scored: bool  # whether the missing-case policy counted it (valid, or given the worst value)
    values: dict[str, float | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case_key, "status": self.status, "message": self.message, "scored": self.scored,
                "values": self.values}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> SiteCase:
        return SiteCase(str(data["case"]), str(data["status"]), str(data.get("message", "")),
                        bool(data.get("scored")), {str(k): (None if v is None else float(v))
                                                   for k, v in dict(data.get("values") or {}).items()})


def statistic_kind(metric_name: str) -> str | None:
    """"case-values" or "score-counts": what a site sends for this metric; None: a site phase cannot use it."""
    plugin = get_metric(metric_name)
    if gives_per_case_values(plugin):
        return "case-values"
    if getattr(plugin, "input_kind", "scalar") == "scalar":
        return "score-counts"
    return None


def site_score_counts(metrics: list[dict[str, Any]], cases: list[tuple[str, dict[str, Any]]],
                      truths: Mapping[str, Mapping[str, Any]], subsets: Mapping[str, set[str]] | None
                      ) -> dict[str, dict[str, list[list[float]]]]:
    """The site's score counts per subset ("all", and "public"/"private" when the phase splits its cases) and per
    set-level metric. cases: the scored cases' keys and predictions (output slug -> value)."""
    result: dict[str, dict[str, list[list[float]]]] = {}
    for subset, members in [(ALL, None), *((subsets or {}).items())]:
        part = [(key, prediction) for key, prediction in cases if members is None or key in members]
        counts = {}
        for spec in metrics:
            if statistic_kind(spec["name"]) != "score-counts":
                continue
            counts[spec["name"]] = ScoreCounts.of([float(p[spec["prediction"]]) for _, p in part],
                                                  [float(truths[k][spec["target"]]) for k, _ in part]).as_json()
        result[subset] = counts
    return result


def pooled_scores(metrics: list[dict[str, Any]], cases: list[SiteCase], counts: Sequence[Mapping[str, Any]], *,
                  case_order: list[str], metadata: Mapping[str, Mapping[str, str]], cluster_by: str | None,
                  subset: str = ALL, members: set[str] | None = None) -> dict[str, MetricResult]:
    """Every metric on the pooled sites: case-level metrics from the per-case values in the test set's case order,
    set-level ones from the pooled score counts. counts: each site's `site_score_counts` result."""
    by_key = {case.case_key: case for case in cases}
    scored = [key for key in case_order if key in by_key and by_key[key].scored
              and (members is None or key in members)]
    columns = sorted({column for key in scored for column in metadata.get(key, {})})
    groups = {key: metadata.get(key, {}).get(cluster_by) or None for key in scored} if cluster_by else None
    scores: dict[str, MetricResult] = {}
    for spec in metrics:
        plugin: Metric = get_metric(spec["name"])
        options = dict(spec.get("options") or {})
        if statistic_kind(spec["name"]) == "case-values":
            twin = recorded_case_means(plugin)
            assert twin is not None
            values = [by_key[key].values.get(plugin.name) for key in scored]
            if any(value is None for value in values):  # not finite at the site (e.g. HD95 of an empty mask)
                scores[plugin.name] = MetricResult(value=float("inf"), detail="a case's value was not finite")
                continue
            data = MetricInput(case_ids=scored, predictions=np.array(values, dtype=np.float64),
                               targets=np.zeros(len(scored)),
                               metadata={c: [metadata.get(k, {}).get(c, "") for k in scored] for c in columns},
                               options=options, groups=groups)
            scores[plugin.name] = twin.compute(data)
        else:
            pooled = ScoreCounts.pooled(ScoreCounts.from_json(site.get(subset, {}).get(plugin.name, []))
                                        for site in counts)
            predictions, targets = pooled.arrays()
            data = MetricInput(case_ids=[f"pair-{i}" for i in range(len(predictions))], predictions=predictions,
                               targets=targets, options=options)
            scores[plugin.name] = plugin.compute(data)
    return scores
