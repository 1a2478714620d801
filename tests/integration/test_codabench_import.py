"""Codabench bundles imported end to end: converted, their scoring programs built into evaluation images, applied,
submitted to by a participant's container, run by a worker, and scored as the scoring program scores them."""

from __future__ import annotations

from pathlib import Path

import docker
import numpy as np
import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main as cli_main
from app.config import Settings
from app.resources import Resources
from app.tasks.codabench_import import import_codabench
from runners.docker_runner import DockerRunner
from runners.images import save_image
from tests.app.usecases.codabench_bundles import V2_DATA, V15_DATA, labels, v2_bundle, v15_bundle
from tests.fixtures.docker_engine import build_image, new_runner_scope, remove_image
from tests.integration.helpers import drain_queue, get_submission, make_user, submit_archive

V2_PARTICIPANT = """\
import json, os, zipfile
for case in json.load(open("/input/cases.json")):
    cid = case["case_id"]
    os.makedirs(f"/output/{cid}")
    with zipfile.ZipFile(f"/input/{cid}/input_data.zip") as data, \\
            zipfile.ZipFile(f"/output/{cid}/predictions.zip", "w") as out:
        for name in data.namelist():
            values = [float(v) for v in data.read(name).decode().split()]
            out.writestr(name.replace("_input_test.csv", ".predict"), "".join(f"{int(v > 0.4)}\\n" for v in values))
"""
V15_PARTICIPANT = """\
import glob, json, os, zipfile
for case in json.load(open("/input/cases.json")):
    cid = case["case_id"]
    os.makedirs(f"/output/{cid}")
    with zipfile.ZipFile(f"/output/{cid}/predictions.zip", "w") as out:
        for path in glob.glob(f"/input/{cid}/*.data"):
            values = [float(v) for v in open(path).read().split()]
            name = os.path.basename(path).replace(".data", ".predict")
            out.writestr(name, "".join(f"{int(v > 0.45)}\\n" for v in values))
"""


def _participant(client: docker.DockerClient, base: str, script: str, folder: Path, name: str) -> Path:
    tag = f"podium-test/codabench-{name}:latest"
    build_image(client, f'FROM {base}\nCOPY predict.py /predict.py\nCMD ["python3", "/predict.py"]\n',
                {"predict.py": script}, tag)
    archive = folder / f"{name}.tar.gz"
    save_image(client, tag, archive)
    remove_image(client, tag)
    return archive


def _accuracy(values: list[float], threshold: float) -> float:
    return float(np.mean([int(v > threshold) == y for v, y in zip(values, labels(values), strict=True)]))


def _submit_and_score(settings: Settings, resources: Resources, slug: str, phase: str,
                      archive: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The leaderboard row's scores and the submission's own (hidden columns included)."""
    client = create_app(settings).test_client()
    token = make_user(resources, "participant")
    joined = client.post(f"/api/v1/challenges/{slug}/join", json={"accept_terms": True},
                         headers={"Authorization": f"Bearer {token}"})
    assert joined.status_code in (200, 201), joined.get_json()
    status, body = submit_archive(client, token, archive, challenge=slug, phase=phase)
    assert status == 201, body
    drain_queue(settings)
    result = get_submission(client, token, body["id"])
    assert result["state"] == "succeeded", result
    board = client.get(f"/api/v1/challenges/{slug}/phases/{phase}/leaderboard").get_json()
    assert len(board["rows"]) == 1
    shown = {name: score["value"] for name, score in board["rows"][0]["scores"].items()}
    return shown, {name: score["value"] for name, score in result["scores"].items()}


def test_a_v2_bundle_with_two_tasks_per_phase_is_imported_and_scores(
        resources: Resources, settings: Settings, tmp_path: Path, docker_client: docker.DockerClient,
        python_base_image: str) -> None:
    runner = DockerRunner(docker_client, scope=new_runner_scope())
    with resources.session() as session:
        result = import_codabench(session, resources.store, runner, v2_bundle(tmp_path), work_dir=tmp_path)
    assert result.applied is not None and result.applied.created
    assert [p.slug for p in result.applied.phases] == ["feedback", "final"]
    assert any("ingestion_program is not run" in line for line in result.conversion.unmapped)
    archive = _participant(docker_client, python_base_image, V2_PARTICIPANT, tmp_path, "v2")
    scores, own = _submit_and_score(settings, resources, result.conversion.slug, "feedback", archive)
    data = V2_DATA["feedback"]
    first, second = _accuracy(data["dataset1"], 0.4), _accuracy(data["dataset2"], 0.4)
    assert 0 < first < 1 and 0 < second < 1  # the threshold of 0.4 makes some mistakes
    assert scores["dataset1"] == pytest.approx(first, abs=1e-9)
    assert scores["dataset2"] == pytest.approx(second, abs=1e-9)
    assert scores["avg_accuracy"] == pytest.approx((first + second) / 2, abs=1e-9)  # the computed column
    assert "error_rate" not in scores  # a hidden column: scored, not on the leaderboard
    assert own["error_rate"] == pytest.approx(1 - (first + second) / 2, abs=1e-9)  # written by both tasks: mean


def test_a_v15_bundle_is_imported_with_the_cli_and_scores(
        resources: Resources, settings: Settings, tmp_path: Path, docker_client: docker.DockerClient,
        python_base_image: str) -> None:
    out = tmp_path / "iris-challenge"
    outcome = CliRunner().invoke(cli_main, ["challenge", "import-codabench", str(v15_bundle(tmp_path)),
                                            "--out", str(out), "--apply", "--slug", "iris"])
    assert outcome.exit_code == 0, outcome.output
    assert "challenge iris: created" in outcome.output
    assert "ingestion_program is not run" in outcome.output
    assert (out / "phases" / "development" / "evaluator.tar.gz").is_file()
    archive = _participant(docker_client, python_base_image, V15_PARTICIPANT, tmp_path, "v15")
    scores, _ = _submit_and_score(settings, resources, "iris", "development", archive)
    expected = _accuracy(V15_DATA["iris_valid"], 0.45)
    assert 0 < expected < 1
    assert scores["set1_score"] == pytest.approx(expected, abs=1e-6)  # scores.txt keeps 6 decimals
    assert scores["duration"] == 0.0  # the prediction step's time is not passed on (docs/codabench.md)
