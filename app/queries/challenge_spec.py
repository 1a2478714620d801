"""A challenge as `challenge.yaml` says it: the mapping of the database's current state, for the edit forms (they
change it and validate the whole with app.challenge_yaml) and for the export as a bundle.

Files inside a bundle are named by convention, one per phase:
    test-sets/<phase-slug>/                 the phase's current test set (cases.csv, inputs/, ground_truth/); a phase
                                            held at sites has `sites: [...]` instead and no folder (docs/sites.md)
    evaluators/<phase-slug>.tar.gz          the organiser's evaluation image (gzip or plain tar: read by its bytes)
    readers/<phase-slug>.csv                the human readers' scores
    public/<name>                           the challenge's public files

`ChallengeSpec.model_validate(challenge_spec_of(challenge))` holds for every challenge applied from a folder. Keys
whose value is the schema's "nothing" (None, an empty options mapping) are left out, so the YAML reads like one
written by hand.
"""

from __future__ import annotations

from typing import Any

from app.models import Challenge, Phase
from app.queries.leaderboard import phase_metrics

INTERFACE_DEFAULTS: dict[str, Any] = {"json_type": None, "minimum": None, "maximum": None, "allow_nan": False,
                                      "description": "", "image": None}


def test_set_path(phase_slug: str) -> str:
    return f"test-sets/{phase_slug}"


def evaluator_path(phase_slug: str) -> str:
    return f"evaluators/{phase_slug}.tar.gz"


def readers_path(phase_slug: str) -> str:
    return f"readers/{phase_slug}.csv"


def public_path(name: str) -> str:
    return f"public/{name}"


def interface_spec(stored: dict[str, Any]) -> dict[str, Any]:
    """An interface as written in challenge.yaml: slug, kind, relative_path, then what differs from the defaults."""
    ordered: dict[str, Any] = {key: stored[key] for key in ("slug", "kind", "relative_path") if key in stored}
    ordered.update({key: value for key, value in stored.items()
                    if key not in ordered and not (key in INTERFACE_DEFAULTS and INTERFACE_DEFAULTS[key] == value)})
    if isinstance(ordered.get("image"), dict):  # an image output's rules: only those it sets
        ordered["image"] = {key: value for key, value in ordered["image"].items() if value is not None}
    return ordered


def metric_spec(stored: dict[str, Any]) -> dict[str, Any]:
    metric = {"name": stored["name"], "prediction": stored["prediction"], "target": stored["target"]}
    if stored.get("options"):
        metric["options"] = dict(stored["options"])
    return metric


def analysis_spec(phase: Phase) -> dict[str, Any]:
    """phase.analysis (AnalysisSpec's fields, plus where the readers file is stored) as challenge.yaml's `analysis`."""
    stored = dict(phase.analysis or {})
    analysis: dict[str, Any] = {}
    for key in ("ranking_scheme", "replicates"):
        if key in stored:
            analysis[key] = stored[key]
    analysis["breakdown_by"] = list(stored.get("breakdown_by") or [])
    if stored.get("cluster_by"):
        analysis["cluster_by"] = stored["cluster_by"]
    if stored.get("operating_point"):
        analysis["operating_point"] = dict(stored["operating_point"])
    if stored.get("readers"):
        analysis["readers"] = {**stored["readers"], "file": readers_path(phase.slug)}
    return analysis


def phase_spec_of(phase: Phase) -> dict[str, Any]:
    """The phase as one entry of challenge.yaml's `phases` (a PhaseSpec's fields)."""
    spec: dict[str, Any] = {
        "slug": phase.slug,
        "title": phase.title,
        "description": phase.description or "",
        "submission_kind": phase.submission_kind,
        "run_mode": phase.run_mode,
    }
    if phase.opens_at is not None:
        spec["opens_at"] = phase.opens_at.isoformat()
    if phase.closes_at is not None:
        spec["closes_at"] = phase.closes_at.isoformat()
    if phase.sites:  # held at sites (docs/sites.md): the centre has no copy of its cases to name
        spec["sites"] = list(phase.sites)
    else:
        spec["test_set"] = test_set_path(phase.slug)
    limits: dict[str, Any] = {
        "time_limit_seconds": phase.time_limit_seconds,
        "memory_mb": phase.memory_mb,
        "cpus": phase.cpus,
        "pids": phase.pids_limit,
        "tmp_mb": phase.tmp_mb,
        "output_mb": phase.output_mb,
        "log_kb": phase.log_kb,
        "max_upload_mb": phase.max_upload_mb,
        "submissions_per_day": phase.submissions_per_day,
    }
    if phase.submissions_total is not None:
        limits["submissions_total"] = phase.submissions_total
    if phase.gpus:
        limits["gpus"] = phase.gpus
    if phase.shards != 1:
        limits["shards"] = phase.shards
    if phase.cases_in_parallel != 1:
        limits["cases_in_parallel"] = phase.cases_in_parallel
    spec["limits"] = limits
    spec["inputs"] = [interface_spec(i) for i in phase.inputs]
    spec["outputs"] = [interface_spec(o) for o in phase.outputs]
    spec["ground_truth"] = [interface_spec(g) for g in phase.ground_truth]
    spec["metrics"] = [metric_spec(m) for m in phase.metrics]
    if phase.evaluator:
        spec["evaluator"] = {"archive": evaluator_path(phase.slug),
                             "aggregates": [dict(a) for a in phase.evaluator.get("aggregates", [])]}
    spec["ranking"] = {"metric": phase.ranking_metric, "order": phase.ranking_order}
    own_direction = {str(m["name"]): bool(m["higher_is_better"]) for m in phase_metrics(phase)}
    if phase.ranking_across:
        spec["ranking"]["metrics"] = [ranked_metric_spec(m, own_direction, phase.ranking_metric)
                                      for m in phase.ranking_across["metrics"]]
        spec["ranking"]["combine"] = phase.ranking_across["combine"]
    spec["analysis"] = analysis_spec(phase)
    spec["missing_cases"] = phase.missing_cases
    spec["log_visibility"] = phase.log_visibility
    if phase.split_column is not None:
        spec["split_column"] = phase.split_column
    spec["final_submissions"] = phase.final_submissions
    spec["final_rule"] = phase.final_rule
    if phase.leaderboard_columns is not None:
        spec["leaderboard_columns"] = list(phase.leaderboard_columns)
    spec["results_published"] = phase.results_published
    spec["case_results_visible"] = phase.case_results_visible
    spec["report_published"] = phase.report_published
    return spec


def ranked_metric_spec(ranked: dict[str, Any], own_direction: dict[str, bool], primary: str) -> dict[str, Any]:
    """One entry of ranking.metrics as challenge.yaml writes it: the order only where it is not the metric's own
    (the primary metric's is ranking.order)."""
    spec: dict[str, Any] = {"metric": ranked["metric"], "weight": ranked["weight"]}
    own = "descending" if own_direction.get(ranked["metric"], True) else "ascending"
    if ranked["metric"] != primary and ranked.get("order") and ranked["order"] != own:
        spec["order"] = ranked["order"]
    return spec


def challenge_spec_of(challenge: Challenge) -> dict[str, Any]:
    """The whole challenge as challenge.yaml (a ChallengeSpec's fields), phases in their order. No `prepare`: the
    data it made is in the database already."""
    spec: dict[str, Any] = {
        "version": 1,
        "slug": challenge.slug,
        "title": challenge.title,
        "description": challenge.description or "",
        "organisers": sorted(link.user.username for link in challenge.organiser_links),
        "join_policy": challenge.join_policy,
        "terms": challenge.terms or "",
    }
    if challenge.max_team_size is not None:
        spec["max_team_size"] = challenge.max_team_size
    spec["public_files"] = [public_path(f["name"]) for f in challenge.public_files or []]
    spec["phases"] = [phase_spec_of(p) for p in sorted(challenge.phases, key=lambda p: p.position)]
    return spec
