"""Organiser evaluation containers: untrusted scoring code, run in the same sandbox as participants.

The container gets
    /input/cases.json                  [{"case_id": ..., "metadata": {"site": ...}}, ...]
    /input/predictions/<case_id>/...   the participant's validated outputs
    /input/ground_truth/<case_id>/...  the hidden reference
and writes /output/metrics.json: {"cases": [{"case_id": ..., "<name>": <number>}, ...],
                                  "aggregates": {"<name>": <number>, ...}}.
Its code never runs inside the worker or web process. Its logs are kept for the organisers only:
they could echo the ground truth, so participants see just that the evaluation failed.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeGuard

from app.storage import ArtifactStore
from runners.docker_runner import DockerRunner, ImageLoadError, RunnerError
from runners.outputs import collect_outputs, read_output_bytes
from runners.sandbox import SandboxPolicy

MAX_METRICS_BYTES = 16 * 1024 * 1024
PARTICIPANT_MESSAGE = ("the challenge's evaluation program failed, so this submission could not be scored; "
                       "this is not your fault and does not count against your limit. The organisers can see why.")


class EvaluatorFailed(RuntimeError):
    """The organiser's evaluation container failed or lied; the message is for the organisers."""


@dataclass
class EvaluatorResult:
    aggregates: dict[str, float]
    per_case: dict[str, dict[str, float]]
    stdout: bytes
    stderr: bytes


def run_evaluator(store: ArtifactStore, runner: DockerRunner, *, evaluator: dict[str, Any], submission_id: int,
                  cases: list[tuple[str, dict[str, str]]], prediction_files: dict[str, Path], truth_dir: Path,
                  work_dir: Path, policy: SandboxPolicy) -> EvaluatorResult:
    input_dir = work_dir / "evaluator-input"
    output_dir = work_dir / "evaluator-output"
    output_dir.mkdir(parents=True)
    (input_dir / "predictions").mkdir(parents=True)
    (input_dir / "cases.json").write_text(json.dumps([{"case_id": c, "metadata": m} for c, m in cases]))
    for relative, path in prediction_files.items():
        target = input_dir / "predictions" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copytree(truth_dir, input_dir / "ground_truth", ignore=shutil.ignore_patterns(".podium-*"))

    archive = work_dir / "evaluator.tar"
    store.download_to(evaluator["archive_key"], archive)
    label = f"evaluator-{submission_id}"
    try:
        image_id = runner.load_image(archive, label=label)
    except ImageLoadError as exc:
        raise EvaluatorFailed(f"the evaluation image could not be loaded: {exc}") from exc
    try:
        # The phase's GPUs are for the participant's algorithm; scoring runs on CPUs.
        result = runner.run(image_id, input_dir=input_dir, output_dir=output_dir, policy=replace(policy, gpus=0),
                            labels={"podium.submission": str(submission_id), "podium.kind": "evaluator"})
    finally:
        runner.release_image(label)
    if result.is_infrastructure_fault:  # stopped from outside: retried, nobody's fault
        raise RunnerError(result.failure_message() or "the evaluation container was stopped from outside")
    if not result.succeeded:
        raise EvaluatorFailed(f"the evaluation container failed: {result.failure_message()}")
    listing = collect_outputs(output_dir, MAX_METRICS_BYTES)
    metrics_path = listing.files.get("metrics.json")
    if metrics_path is None:
        raise EvaluatorFailed("the evaluation container wrote no regular file /output/metrics.json")
    try:
        document = json.loads(read_output_bytes(metrics_path, MAX_METRICS_BYTES))
    except ValueError as exc:
        raise EvaluatorFailed(f"/output/metrics.json is not valid JSON or too large: {exc}") from exc
    aggregates, per_case = parse_metrics(document, [c for c, _ in cases],
                                         [a["name"] for a in evaluator["aggregates"]])
    return EvaluatorResult(aggregates, per_case, result.stdout, result.stderr)


def parse_metrics(document: Any, case_ids: list[str], declared: list[str]) -> tuple[dict[str, float],
                                                                                     dict[str, dict[str, float]]]:
    """Validate metrics.json: every declared aggregate a finite number; per-case rows for known cases."""
    if not isinstance(document, dict):
        raise EvaluatorFailed("metrics.json must be a JSON object with 'cases' and 'aggregates'")
    raw_aggregates = document.get("aggregates")
    if not isinstance(raw_aggregates, dict):
        raise EvaluatorFailed("metrics.json: 'aggregates' must be an object of name -> number")
    aggregates: dict[str, float] = {}
    for name in declared:
        value = raw_aggregates.get(name)
        if not _is_number(value):
            raise EvaluatorFailed(f"metrics.json: aggregate {name!r} is missing or not a finite number")
        aggregates[name] = float(value)
    rows = document.get("cases", [])
    if not isinstance(rows, list):
        raise EvaluatorFailed("metrics.json: 'cases' must be a list")
    known = set(case_ids)
    per_case: dict[str, dict[str, float]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("case_id") not in known:
            raise EvaluatorFailed(f"metrics.json: cases[{index}] has no known case_id")
        values = {k: float(v) for k, v in row.items() if k != "case_id" and _is_number(v)}
        per_case[row["case_id"]] = values
    return aggregates, per_case


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
