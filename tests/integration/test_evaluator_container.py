"""Organiser evaluation containers: untrusted scoring code in the sandbox, never in the worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import numpy as np
import pytest
import yaml
from sqlalchemy import select, update

from app import create_app
from app.config import Settings
from app.models import CaseOutcome, EvaluationRun, User
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from runners.images import save_image
from tests.conftest import EXAMPLE_CHALLENGE
from tests.fixtures.docker_engine import build_image
from tests.integration.helpers import (
    drain_queue,
    get_submission,
    hidden_labels,
    make_user,
    stored_predictions,
    submit_archive,
)

BRIER_EVALUATOR = """\
import json, os
cases = json.load(open("/input/cases.json"))
rows, total = [], 0.0
for case in cases:
    cid = case["case_id"]
    p = json.load(open(f"/input/predictions/{cid}/malignancy-likelihood.json"))
    y = json.load(open(f"/input/ground_truth/{cid}/malignant.json"))
    rows.append({"case_id": cid, "brier": (p - y) ** 2})
    total += (p - y) ** 2
json.dump({"cases": rows, "aggregates": {"brier_mean": total / len(rows)}}, open("/output/metrics.json", "w"))
"""
LYING_EVALUATOR = """\
import sys
print("ground truth of case-0001 is ...", file=sys.stderr)
open("/output/metrics.json", "w").write('{"aggregates": {"brier_mean": "excellent"}}')
"""


def _evaluator_archive(client: docker.DockerClient, base: str, script: str, folder: Path, name: str) -> Path:
    tag = f"podium-test/{name}:latest"
    build_image(client, f'FROM {base}\nCOPY evaluate.py /evaluate.py\nCMD ["python3", "/evaluate.py"]\n',
                {"evaluate.py": script}, tag)
    archive = folder / f"{name}.tar.gz"
    save_image(client, tag, archive)
    client.images.remove(tag, force=True)
    return archive


def _challenge_with_evaluator(tmp_path: Path, archive: Path) -> Path:
    folder = tmp_path / "challenge"
    shutil.copytree(EXAMPLE_CHALLENGE, folder, ignore=shutil.ignore_patterns("baselines"))
    spec = yaml.safe_load((folder / "challenge.yaml").read_text())
    spec.pop("prepare")
    phase = spec["phases"][0]
    shutil.copy(archive, folder / "evaluator.tar.gz")
    phase["evaluator"] = {"archive": "evaluator.tar.gz",
                          "aggregates": [{"name": "brier_mean", "title": "Brier score", "higher_is_better": False}]}
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec))
    return folder


@pytest.mark.parametrize("kind", ["honest", "lying"])
def test_an_organiser_evaluator_scores_in_the_sandbox(kind: str, resources: Resources, settings: Settings,
                                                      tmp_path: Path, docker_client, python_base_image,  # type: ignore[no-untyped-def]
                                                      baseline_archives) -> None:
    script = BRIER_EVALUATOR if kind == "honest" else LYING_EVALUATOR
    archive = _evaluator_archive(docker_client, python_base_image, script, tmp_path, f"evaluator-{kind}")
    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge_with_evaluator(tmp_path, archive))
    client = create_app(settings).test_client()
    token = make_user(resources, "lab")
    status, body = submit_archive(client, token, baseline_archives["logistic-regression"].archive)
    assert status == 201, body
    drain_queue(settings)
    result = get_submission(client, token, body["id"])
    if kind == "lying":
        assert result["state"] == "failed"
        assert result["failure_is_infrastructure"] is True
        assert result["failure_message"].startswith("the challenge's evaluation program failed")
        assert "ground truth" not in result["failure_message"]
        organiser_log = resources.store.get_bytes(f"submissions/{body['id']}/logs/evaluator-error.txt").decode()
        assert "'brier_mean' is missing or not a finite number" in organiser_log
        # The organisers read it through the API; the participant never does.
        admin = make_user(resources, "site-admin")
        with resources.session() as session:
            session.execute(update(User).where(User.username == "site-admin").values(is_admin=True))
        url = f"/api/v1/submissions/{body['id']}/logs/evaluator-error"
        through_api = client.get(url, headers={"Authorization": f"Bearer {admin}"})
        assert through_api.status_code == 200 and through_api.data.decode() == organiser_log
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 404
        return
    assert result["state"] == "succeeded", result
    labels = hidden_labels()
    predictions = stored_predictions(resources, body["id"])
    expected = np.mean([(predictions[c] - labels[c]) ** 2 for c in labels])
    assert result["scores"]["brier_mean"]["value"] == pytest.approx(expected, abs=1e-12)
    assert "auroc" in result["scores"]  # built-in metrics still run beside the evaluator
    with resources.session() as session:
        run = session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == body["id"]))
        outcomes = session.scalars(select(CaseOutcome).where(CaseOutcome.run_id == run.id)).all()
        assert len(outcomes) == 228 and all("brier" in o.values for o in outcomes)
    board = client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/leaderboard?sort=brier_mean")
    assert board.get_json()["rows"][0]["scores"]["brier_mean"]["value"] == pytest.approx(expected)
