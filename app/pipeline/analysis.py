"""Leaderboard statistics for a phase: paired-bootstrap CIs, rank uncertainty, per-site breakdowns,
per-site operating points, reader comparisons and pictures.

With ``analysis.cluster_by`` (a metadata column, e.g. patient_id) the rankings' CIs, rank uncertainty and
bootstrap tests and the breakdowns resample groups of cases sharing a value of that column (the clustered
bootstrap, docs/statistics.md); a case with an empty value is a group of its own.

Runs in a worker (it needs the hidden ground truth, which the web process never reads) after every
scored submission, and stores one document per phase that the leaderboard pages show.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.challenge_yaml import Interface
from app.image_files import image_suffix
from app.models import CaseOutcome, EvaluationRun, Phase, PhaseAnalysis, TestSet
from app.models._types import utcnow
from app.pipeline.figures import forest_plot, rank_plot, roc_plot
from app.pipeline.scoring import truth_file
from app.pipeline.site_analysis import SiteCounts, aligned_by_site, pooled_inputs, site_counts
from app.pipeline.sites import SITE_TEST_SET_PREFIX
from app.pipeline.staging import stage_ground_truth
from app.queries.analysis_document import AnalysisDocument, document_of
from app.queries.leaderboard import build_leaderboard, visible_subset
from app.resources import Resources
from app.storage import keys as storage_keys
from app.storage.keys import version_output, version_prefix
from evaluation.base import Metric, MetricInput
from evaluation.breakdown import breakdown
from evaluation.operating_points import operating_points
from evaluation.ranking import rank_entries
from evaluation.ranking_across import rank_across_metrics
from evaluation.readers import compare_readers
from evaluation.recorded import recorded_case_means
from evaluation.registry import get_metric

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    label: str
    submission_id: int
    predictions: dict[str, dict[str, Any]]  # case key -> output slug -> value
    # case key -> metric -> the per-case value recorded when it was scored (None: not finite)
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    outputs_prefix: str = ""  # where its run's outputs are stored (a re-evaluation's: under the version's folder)


def analyse_phase(resources: Resources, phase_id: int, *, test_set_id: int | None = None) -> PhaseAnalysis | None:
    """Compute and store the phase's statistics on a version of its test set (None: the one it ranks on); None when
    nothing is scored on it yet or nothing changed."""
    with resources.session() as session:
        phase = session.get(Phase, phase_id)
        if phase is None:
            return None
        test_set = phase.current_test_set if test_set_id is None else session.get(TestSet, test_set_id)
        if test_set is None or test_set.phase_id != phase.id:
            return None
        entries = _entries(session, phase, test_set)
        if not entries:
            return None
        latest = session.scalar(select(PhaseAnalysis).where(PhaseAnalysis.phase_id == phase_id,
                                                            PhaseAnalysis.test_set_id == test_set.id)
                                .order_by(PhaseAnalysis.id.desc()).limit(1))
        covered = sorted(e.submission_id for e in entries)
        if (latest is not None and latest.test_set_id == test_set.id and latest.submission_ids == covered
                and document_of(latest).subset == visible_subset(phase)
                and document_of(latest).settings == (phase.analysis or {})
                and _ranked_in_order(document_of(latest), phase.ranking_metric, phase.ranking_order)
                and document_of(latest).ranking_across == phase.ranking_across
                and _every_metric_broken_down(document_of(latest))):
            return None
        # A split test set is analysed on the part viewers see now: public while open, private after.
        subset = visible_subset(phase)
        cases = [(c.case_key, dict(c.meta)) for c in test_set.cases
                 if subset == "all" or c.meta.get(phase.split_column or "") == subset]
        settings = dict(phase.analysis or {})
        metric_specs = list(phase.metrics)
        ranking_metric, truths = phase.ranking_metric, list(phase.ground_truth)
        outputs = [Interface.model_validate(o) for o in phase.outputs]
        ranking_order = phase.ranking_order  # the leaderboard's order of the ranking metric
        ranking_across = phase.ranking_across
        storage_prefix, content_hash, test_set_id = test_set.storage_prefix, test_set.content_hash, test_set.id
        slug = f"{phase.challenge.slug}/{phase.slug}"
        # A test set held at sites: no reference here, the sites' score counts instead (app/pipeline/site_analysis.py)
        counts = (site_counts(session, test_set_id, {e.label: e.submission_id for e in entries}, subset)
                  if storage_prefix == SITE_TEST_SET_PREFIX else None)

    if counts is not None:
        document = _document(entries, cases, {}, metric_specs, ranking_metric, settings, resources,
                             ranking_order=ranking_order, ranking_across=ranking_across, site_counts=counts)
        return _store(resources, phase_id, test_set_id, covered, document, subset, settings, ranking_metric, slug,
                      len(entries))

    truth_dir = stage_ground_truth(resources.store, storage_prefix=storage_prefix, content_hash=content_hash,
                                   case_ids=[key for key, _ in cases],
                                   truth_paths=[t["relative_path"] for t in truths],
                                   cache_root=resources.settings.worker_cache_dir,
                                   image_folders=[t["relative_path"] for t in truths if t.get("kind") == "image"],
                                   max_bytes=resources.settings.stage_cache_bytes)
    reference = {key: {t["slug"]: json.loads((truth_dir / key / t["relative_path"]).read_text())
                       for t in truths if t.get("kind", "json") == "json"} for key, _ in cases}
    with tempfile.TemporaryDirectory(prefix="podium-analysis-") as scratch:
        files = _set_level_image_inputs(resources, entries, [key for key, _ in cases], metric_specs, outputs,
                                        [Interface.model_validate(t) for t in truths], truth_dir, Path(scratch))
        document = _document(entries, cases, reference, metric_specs, ranking_metric, settings, resources,
                             ranking_order=ranking_order, ranking_across=ranking_across, image_files=files)
    return _store(resources, phase_id, test_set_id, covered, document, subset, settings, ranking_metric, slug,
                  len(entries))


def _store(resources: Resources, phase_id: int, test_set_id: int, covered: list[int], document: dict[str, Any],
           subset: str, settings: dict[str, Any], ranking_metric: str, slug: str, entries: int) -> PhaseAnalysis:
    document["subset"] = subset
    document["settings"] = settings  # a change of settings (e.g. new reader scores) means a new analysis
    document = AnalysisDocument.model_validate(document).model_dump(mode="json")  # the shape readers rely on
    figures = _figures(resources, phase_id, document, ranking_metric)
    with resources.session() as session:
        analysis = PhaseAnalysis(phase_id=phase_id, test_set_id=test_set_id, submission_ids=covered,
                                 document=document, figures=figures, created_at=utcnow())
        session.add(analysis)
        session.flush()
    log.info("analysed %s: %s entries", slug, entries)
    return analysis


def _ranked_in_order(document: AnalysisDocument, ranking_metric: str, order: str) -> bool:
    """False when the document ranked the ranking metric in another direction (ranking.order changed since)."""
    ranked = document.rankings.get(ranking_metric)
    return ranked is None or ranked.get("higher_is_better") is (order == "descending")


def _every_metric_broken_down(document: AnalysisDocument) -> bool:
    """False for a document stored when only the ranking metric was broken down (analysed again once)."""
    return not document.breakdowns or bool(document.metric_breakdowns)


def _entries(session: Session, phase: Phase, test_set: TestSet) -> list[_Entry]:
    """The leaderboard's entries on that version of the test set, with their predictions."""
    board = build_leaderboard(session, phase, scheme_ranks=False, test_set_id=test_set.id)
    keys = {c.id: c.case_key for c in test_set.cases}
    entries = []
    for row in board.rows:
        run = session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == row.submission_id,
                                                         EvaluationRun.test_set_id == test_set.id))
        if run is None:  # removed since the leaderboard was read (a concurrent change): nothing to analyse
            continue
        outcomes = session.execute(select(CaseOutcome).where(CaseOutcome.run_id == run.id)).scalars().all()
        # Valid cases, and under the "worst" policy the substituted ones (they carry a prediction; at sites, where
        # predictions stay at the site, their per-case values).
        scored = [o for o in outcomes if o.prediction or o.values]
        reevaluated = (run.stdout_key or "").startswith(version_prefix(row.submission_id, test_set.id) + "/")
        entries.append(_Entry(row.participant, row.submission_id,
                              {keys[o.case_id]: dict(o.prediction) for o in scored},
                              {keys[o.case_id]: dict(o.values) for o in scored},
                              version_output(row.submission_id, test_set.id, "") if reevaluated else ""))
    return entries


def _document(entries: list[_Entry], cases: list[tuple[str, dict[str, str]]], reference: dict[str, dict[str, Any]],
              metric_specs: list[dict[str, str]], ranking_metric: str, settings: dict[str, Any],
              resources: Resources, *, ranking_order: str,
              ranking_across: dict[str, Any] | None = None,
              image_files: dict[str, _ImageFiles] | None = None,
              site_counts: SiteCounts | None = None) -> dict[str, Any]:
    """``ranking_order`` ("descending": higher first) is the direction the ranking metric is ranked in, as on the
    leaderboard (app/queries/leaderboard.py). ``ranking_across`` (Phase.ranking_across): the metrics ranked with
    the phase's scheme, each in its configured order, and combined; every other metric is ranked in its own
    direction, aggregate-then-rank. ``site_counts``: the test set is held at sites; a set-level metric is computed
    from the sites' score counts (app/pipeline/site_analysis.py), a case-level one from its recorded values."""
    # A paired bootstrap needs the same cases for everyone: under the "exclude" policy, the cases every
    # entry has a value for.
    cases = [(key, meta) for key, meta in cases if all(key in e.predictions for e in entries)]
    keys = [key for key, _ in cases]
    columns = sorted({column for _, meta in cases for column in meta})
    metadata = {column: [meta.get(column, "") for _, meta in cases] for column in columns}
    replicates = int(settings.get("replicates", 1000))
    scheme = settings.get("ranking_scheme", "aggregate-then-rank")
    groups = clusters(cases, settings.get("cluster_by"))
    document: dict[str, Any] = {"entries": [e.label for e in entries], "cases": len(keys), "replicates": replicates,
                                "ranking_scheme": scheme, "rankings": {}, "breakdowns": {}, "operating_points": {},
                                "readers": {}, "curves": {}, "ranking_across": ranking_across}
    ranked_orders = {m["metric"]: m["order"] for m in (ranking_across or {}).get("metrics", [])}
    ranked_orders = ranked_orders or {ranking_metric: ranking_order}
    inputs_by_metric: dict[str, dict[str, MetricInput]] = {}
    # What each metric is recomputed as: itself on the scalar predictions, or (a case-level image metric) its
    # twin on the per-case values recorded at scoring (evaluation/recorded.py); set-level image metrics are not.
    metrics: dict[str, Metric] = {}
    rebuilt: dict[str, dict[str, MetricInput]] = {}  # at sites: a set-level metric's pairs rebuilt from the counts
    for spec in metric_specs:
        plugin = get_metric(spec["name"])
        if site_counts is not None:
            twin = recorded_case_means(plugin)
            if twin is not None and _recorded_for_all(entries, keys, plugin.name):
                metrics[plugin.name] = twin
            elif twin is None and (pairs := pooled_inputs(site_counts, plugin.name, spec.get("options"))) \
                    and all(len(data.case_ids) == len(keys) for data in pairs.values()):
                metrics[plugin.name], rebuilt[plugin.name] = plugin, pairs
            continue
        if getattr(plugin, "input_kind", "scalar") == "scalar":
            metrics[plugin.name] = plugin
        elif (twin := recorded_case_means(plugin)) is not None and _recorded_for_all(entries, keys, plugin.name):
            metrics[plugin.name] = twin
        elif plugin.name in (image_files or {}):  # a set-level image metric: on the stored outputs' files again
            metrics[plugin.name] = plugin
    # Across metrics: every ranked metric must be one the analysis recomputes (challenge.yaml refuses anything
    # else for a scheme other than aggregate-then-rank; under that one the leaderboard ranks by the scores alone).
    across = [m for m in (ranking_across or {}).get("metrics", [])]
    across = across if all(m["metric"] in metrics for m in across) else []
    for spec in metric_specs:
        if spec["name"] not in metrics:
            continue
        metric = metrics[spec["name"]]
        if metric.name in rebuilt:
            inputs = rebuilt[metric.name]
        elif site_counts is not None:  # a case-level metric's recorded values
            inputs = {e.label: MetricInput(keys, np.array([float(e.values[k][metric.name] or 0.0) for k in keys]),
                                           np.zeros(len(keys)), metadata) for e in entries}
        elif metric.name in (image_files or {}):
            found = (image_files or {})[metric.name]
            inputs = {e.label: MetricInput(keys, [found.predictions[e.label][k] for k in keys],
                                           [found.targets[k] for k in keys], metadata) for e in entries}
        elif getattr(metric, "input_kind", "scalar") == "scalar":
            targets = np.array([float(reference[k][spec["target"]]) for k in keys])
            inputs = {e.label: MetricInput(keys, np.array([float(e.predictions[k][spec["prediction"]])
                                                           for k in keys]), targets, metadata) for e in entries}
        else:
            inputs = {e.label: MetricInput(keys, np.array([float(e.values[k][metric.name] or 0.0) for k in keys]),
                                           np.zeros(len(keys)), metadata) for e in entries}
        inputs_by_metric[metric.name] = inputs
        if metric.name in ranked_orders and across:
            continue  # ranked below, with the other ranked metrics on the same replicates
        metric_groups = None if metric.name in rebuilt else groups  # rebuilt pairs have no case ids to group
        if metric.name in ranked_orders:
            ranking = rank_entries(inputs, metric, scheme, replicates=replicates,
                                   higher_is_better=ranked_orders[metric.name] == "descending", groups=metric_groups)
        else:
            ranking = rank_entries(inputs, metric, "aggregate-then-rank", replicates=replicates, groups=metric_groups)
        document["rankings"][metric.name] = ranking.as_dict()
    if across and ranking_across:
        ranked = {m["metric"]: inputs_by_metric[m["metric"]] for m in across}
        if any(name in rebuilt for name in ranked):  # at sites: every ranked metric laid out as the rebuilt pairs
            ranked = {name: data if name in rebuilt else aligned_by_site(data) for name, data in ranked.items()}
        combined, per_metric = rank_across_metrics(
            ranked,
            [(metrics[m["metric"]], float(m["weight"]), m["order"] == "descending") for m in across],
            scheme, ranking_across["combine"], replicates=replicates,
            groups=None if any(m["metric"] in rebuilt for m in across) else groups)
        document["combined_ranking"] = combined.as_dict()
        document["rankings"].update({name: ranking.as_dict() for name, ranking in per_metric.items()})

    # Every metric by every breakdown column (value and CI per group); `breakdowns` keeps the ranking metric's.
    document["metric_breakdowns"] = {}
    for name, inputs in inputs_by_metric.items():
        metric = metrics[name]
        per_column = {column: {label: [g.as_dict() for g in breakdown(data, metric, column, replicates=replicates,
                                                                      groups=None if name in rebuilt else groups)]
                               for label, data in inputs.items()}
                      for column in settings.get("breakdown_by", [])
                      if all(column in data.metadata for data in inputs.values())}  # at sites: rebuilt pairs by site
        if per_column and site_counts is not None and name not in rebuilt:  # recorded values: no labels here
            for groups_of in per_column.values():
                for group in (g for entry in groups_of.values() for g in entry):
                    group["n_positives"] = None
        if per_column:
            document["metric_breakdowns"][name] = per_column
    document["breakdowns"] = document["metric_breakdowns"].get(ranking_metric, {})

    primary = inputs_by_metric.get(ranking_metric)
    if primary is None or getattr(metrics[ranking_metric], "input_kind", "scalar") != "scalar":
        return document  # operating points, readers and ROC curves are of a score against a binary reference
    binary = all(float(t) in (0.0, 1.0) for t in next(iter(primary.values())).targets)
    site_column = (settings.get("breakdown_by") or [None])[0]
    point = settings.get("operating_point")
    if point and binary:
        for label, data in primary.items():
            sites = data.metadata.get(site_column) if site_column else None
            document["operating_points"][label] = operating_points(
                data.predictions, data.targets, sites, target=point["target"], value=point["value"],
                replicates=replicates).as_dict()
    readers_key = settings.get("readers_key")
    if readers_key and binary:
        readers = _reader_calls(resources, readers_key, keys)
        positive_at = settings.get("readers", {}).get("positive_at", 1.0)
        for label, data in primary.items():
            document["readers"][label] = compare_readers(data.predictions, data.targets, readers,
                                                         positive_at=positive_at, replicates=replicates).as_dict()
        document["reader_points"] = _reader_points(readers, next(iter(primary.values())).targets, positive_at)
        scalar_inputs = {name: inputs for name, inputs in inputs_by_metric.items()
                         if getattr(metrics[name], "input_kind", "scalar") == "scalar"}
        document["reader_rows"] = _reader_rows(readers, positive_at, scalar_inputs, replicates, groups)
    if binary:
        document["curves"] = {label: _roc_points(data.predictions, data.targets) for label, data in primary.items()}
        if site_column and site_column in next(iter(primary.values())).metadata:
            first = next(iter(primary.values()))
            document["site_curves"] = _site_curves(primary, np.array(first.metadata[site_column]))
    return document


@dataclass
class _ImageFiles:
    """A set-level image metric's inputs, on this worker's disk: each entry's output file per case, the references."""

    predictions: dict[str, dict[str, Path]]  # entry label -> case key -> file
    targets: dict[str, Path]  # case key -> reference file


def _set_level_image_inputs(resources: Resources, entries: list[_Entry], keys: list[str],
                            metric_specs: list[dict[str, Any]], outputs: list[Interface],
                            truths: list[Interface], truth_dir: Path, scratch: Path) -> dict[str, _ImageFiles]:
    """The files a set-level image metric (lesion AP, PI-CAI score, FROC, ...) needs to be computed again: every
    entry's stored output image per case, downloaded into `scratch`, and the staged references. A metric some entry
    lacks a file for (a case it was not scored on) is left out: the analysis then has no ranking for it."""
    needed = [spec for spec in metric_specs
              if getattr(get_metric(spec["name"]), "input_kind", "scalar") != "scalar"
              and recorded_case_means(get_metric(spec["name"])) is None]
    if not needed or not entries:
        return {}
    by_output, by_truth = {o.slug: o for o in outputs}, {t.slug: t for t in truths}
    prefixes = {e.label: e.outputs_prefix or storage_keys.submission_output(e.submission_id, "") for e in entries}
    stored = {e.label: set(resources.store.list(prefixes[e.label])) for e in entries}
    found: dict[str, _ImageFiles] = {}
    for spec in needed:
        output, truth = by_output.get(spec["prediction"]), by_truth.get(spec["target"])
        if output is None or truth is None or output.kind != "image":
            continue
        predictions: dict[str, dict[str, Path]] = {}
        for entry in entries:
            predictions[entry.label] = {}
            for key in keys:
                folder = f"{prefixes[entry.label]}{key}/{output.relative_path}/"
                names = {k[len(folder):]: k for k in stored[entry.label] if k.startswith(folder) and "/" not in
                         k[len(folder):]}
                image = next((name for name in sorted(names) if image_suffix(name)), None)
                if image is None:
                    break
                local = scratch / str(entry.submission_id) / key / output.relative_path
                for name, storage_key in names.items():  # an MHD's data file comes with its header
                    resources.store.download_to(storage_key, local / name)
                predictions[entry.label][key] = local / image
        if all(len(files) == len(keys) for files in predictions.values()):
            found[spec["name"]] = _ImageFiles(predictions, {key: truth_file(truth_dir, key, truth) for key in keys})
    return found


def _recorded_for_all(entries: list[_Entry], keys: list[str], metric: str) -> bool:
    """Whether every entry recorded a finite value of the metric for every case the analysis covers."""
    return all(e.values.get(k, {}).get(metric) is not None for e in entries for k in keys)


def clusters(cases: list[tuple[str, dict[str, str]]], column: str | None) -> dict[str, str | None] | None:
    """Case key -> its value of ``column`` (the clustered bootstrap's groups); None (the case is a group of its
    own) where the value is empty or missing. None without a column: cases are resampled independently."""
    if not column:
        return None
    return {key: (str(meta.get(column) or "").strip() or None) for key, meta in cases}


def _site_curves(primary: dict[str, MetricInput], sites: np.ndarray) -> dict[str, dict[str, Any]]:
    """ROC points per site, for sites that hold both classes."""
    targets = np.asarray(next(iter(primary.values())).targets)
    curves: dict[str, dict[str, Any]] = {}
    for site in sorted(set(sites.tolist())):
        mask = sites == site
        if 0 < targets[mask].sum() < mask.sum():
            curves[site] = {label: _roc_points(data.predictions[mask], data.targets[mask])
                            for label, data in primary.items()}
    return curves


def _reader_calls(resources: Resources, key: str, case_keys: list[str]) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(io.StringIO(resources.store.get_bytes(key).decode())))
    position = {k: i for i, k in enumerate(case_keys)}
    readers: dict[str, np.ndarray] = {}
    for row in rows:
        calls = readers.setdefault(row["reader"], np.full(len(case_keys), np.nan))
        if row["case_id"] in position:
            calls[position[row["case_id"]]] = float(row["score"])
    return {name: calls for name, calls in readers.items() if not np.isnan(calls).any()}


def _reader_rows(readers: dict[str, np.ndarray], positive_at: float,
                 inputs_by_metric: dict[str, dict[str, MetricInput]], replicates: int,
                 groups: dict[str, str | None] | None) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each reader as a leaderboard baseline row: every scalar metric of the phase on the reader's decisions (1 where
    the call is >= positive_at, else 0), with its paired-bootstrap CI. A metric undefined on binary decisions (or
    failing on them) is left out of the reader's row."""
    rows: dict[str, dict[str, dict[str, float | None]]] = {name: {} for name in readers}
    for name, inputs in inputs_by_metric.items():
        template = next(iter(inputs.values()))
        decisions = {reader: MetricInput(template.case_ids, (calls >= positive_at).astype(np.float64),
                                         template.targets, template.metadata)
                     for reader, calls in readers.items()}
        try:
            ranking = rank_entries(decisions, get_metric(name), replicates=replicates, groups=groups)
        except ValueError:  # e.g. a metric undefined on 0/1 decisions (MetricInputError is one)
            continue
        for entry in ranking.entries:
            if np.isfinite(entry.value):
                rows[entry.entry][name] = {"value": entry.value, "ci_low": entry.ci_low, "ci_high": entry.ci_high}
    return rows


def _reader_points(readers: dict[str, np.ndarray], targets: np.ndarray, positive_at: float) -> dict[str, Any]:
    positive = targets == 1
    return {name: {"sensitivity": float((calls[positive] >= positive_at).mean()),
                   "specificity": float((calls[~positive] < positive_at).mean())}
            for name, calls in readers.items()}


def _roc_points(scores: np.ndarray, targets: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(targets, scores)
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def _figures(resources: Resources, phase_id: int, document: dict[str, Any], ranking_metric: str) -> dict[str, str]:
    report = AnalysisDocument.model_validate(document)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    figures: dict[str, bytes] = {}
    if report.curves:
        figures["roc.svg"] = roc_plot(report.curves, "ROC, all cases", report.reader_points)
    for site, curves in (report.site_curves or {}).items():
        figures[f"roc-{site}.svg"] = roc_plot(curves, f"ROC, {site}", None)
    for column, per_entry in report.breakdowns.items():
        figures[f"forest-{column}.svg"] = forest_plot(per_entry, column)
    ranking = report.combined_ranking or report.rankings.get(ranking_metric)
    if ranking:
        figures["ranks.svg"] = rank_plot(ranking)
    stored = {}
    for name, svg in figures.items():
        key = storage_keys.analysis_figure(phase_id, stamp, name)
        resources.store.put_bytes(key, svg)
        stored[name] = key
    return stored
