"""A phase's statistics when its test set is held at sites (docs/sites.md, "Statistics"; docs/statistics.md).

The centre never has a site's reference values, so the analysis (app/pipeline/analysis.py) works from what the sites
sent (app/pipeline/site_stats.py):
- a case-level metric from its recorded per-case values, by case: exactly as for a central test set (paired
  bootstrap, breakdowns by every metadata column, clusters);
- a set-level metric of a score against a binary label from each site's score counts: every entry's pairs rebuilt
  without case ids, site by site (each site's pairs in (score, label) order). Values, per-site values, operating
  points per site and ROC curves are exact; each entry's CIs are the same bootstrap as with case ids. The pairing
  across entries is lost (no case id crosses a site's boundary), so the rank uncertainty of such a metric comes from
  an unpaired bootstrap, wider than the paired one a central test set gives; breakdowns of such a metric are by site
  only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Site, SubmissionSitePart
from app.pipeline.site_stats import ScoreCounts
from evaluation.base import MetricInput

SITE_COLUMN = "site"

# entry label -> site name -> metric name -> the site's score counts
SiteCounts = dict[str, dict[str, dict[str, ScoreCounts]]]


def site_counts(session: Session, test_set_id: int, entries: Mapping[str, int], subset: str) -> SiteCounts:
    """Each entry's (label -> submission id) score counts per site, for the subset the analysis covers."""
    found: SiteCounts = {}
    for label, submission_id in entries.items():
        rows = session.execute(select(SubmissionSitePart.result, Site.name)
                               .join(Site, Site.id == SubmissionSitePart.site_id)
                               .where(SubmissionSitePart.submission_id == submission_id,
                                      SubmissionSitePart.test_set_id == test_set_id)).all()
        per_site: dict[str, dict[str, ScoreCounts]] = {}
        for result, site in rows:
            counts = dict((result or {}).get("score_counts") or {}).get(subset) or {}
            per_site[site] = {metric: ScoreCounts.from_json(rows) for metric, rows in dict(counts).items()}
        found[label] = per_site
    return found


def pooled_inputs(counts: SiteCounts, metric: str, options: object = None) -> dict[str, MetricInput] | None:
    """Every entry's pairs for a set-level metric, rebuilt site by site in site-name order, with each pair's site as
    metadata; None when an entry lacks a site's counts or the entries hold different numbers of cases (under the
    "exclude" policy): the rebuilt inputs must be of the same length for the ranking's bootstrap."""
    inputs: dict[str, MetricInput] = {}
    for label, per_site in counts.items():
        scores, labels, sites = [], [], []
        for site in sorted(per_site):
            if metric not in per_site[site]:
                return None
            site_scores, site_labels = per_site[site][metric].arrays()
            scores.append(site_scores)
            labels.append(site_labels)
            sites += [site] * len(site_scores)
        if not scores:
            return None
        predictions = np.concatenate(scores)
        inputs[label] = MetricInput(case_ids=[f"pair-{i}" for i in range(len(predictions))],
                                    predictions=predictions, targets=np.concatenate(labels),
                                    metadata={SITE_COLUMN: sites},
                                    options=dict(options) if isinstance(options, Mapping) else {})
    if len({len(data.case_ids) for data in inputs.values()}) > 1:
        return None
    return inputs


def aligned_by_site(inputs: dict[str, MetricInput]) -> dict[str, MetricInput]:
    """A case-level metric's inputs laid out as rebuilt pairs are (`pooled_inputs`): site by site in site-name order,
    ids pair-0, pair-1, ..., so that it can be ranked across metrics with set-level ones on the same replicates. Each
    replicate then draws the same number of cases from each site for every metric, but not the same cases: the
    combined ranking's uncertainty is unpaired within a site (the point ranking is exact)."""
    aligned: dict[str, MetricInput] = {}
    for label, data in inputs.items():
        sites = list(data.metadata[SITE_COLUMN])
        order = sorted(range(len(data.case_ids)), key=lambda i: (sites[i], data.case_ids[i]))
        aligned[label] = MetricInput(case_ids=[f"pair-{i}" for i in range(len(order))],
                                     predictions=np.asarray(data.predictions)[order],
                                     targets=np.asarray(data.targets)[order],
                                     metadata={SITE_COLUMN: [sites[i] for i in order]}, options=data.options)
    return aligned
