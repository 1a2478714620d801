"""Public and private splits: public scores while the phase runs, private ones once it has closed,
and never a private number before that."""

from __future__ import annotations

import csv
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from sqlalchemy import update

from app import create_app
from app.config import Settings
from app.models import Phase
from app.models._types import utcnow
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from tests.conftest import EXAMPLE_CHALLENGE
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    drain_queue,
    get_submission,
    hidden_labels,
    make_user,
    stored_predictions,
    submit_archive,
)


def _split_challenge(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "challenge"
    shutil.copytree(EXAMPLE_CHALLENGE, folder, ignore=shutil.ignore_patterns("baselines"))
    spec = yaml.safe_load((folder / "challenge.yaml").read_text())
    spec.pop("prepare")
    spec["phases"][0]["split_column"] = "split"
    spec["phases"][0]["closes_at"] = (utcnow() + timedelta(days=30)).isoformat()
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec))
    cases_csv = folder / "data" / "test" / "cases.csv"
    ids = [row["case_id"] for row in csv.DictReader(cases_csv.open())]
    split = {case: ("public" if i % 3 else "private") for i, case in enumerate(ids)}
    with cases_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "split"])
        writer.writerows(split.items())
    return folder, split


def test_private_scores_appear_only_after_the_phase_closes(resources: Resources, settings: Settings, tmp_path: Path,
                                                           baseline_archives) -> None:  # type: ignore[no-untyped-def]
    folder, split = _split_challenge(tmp_path)
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)
    client = create_app(settings).test_client()
    token = make_user(resources, "kaggler")
    status, body = submit_archive(client, token, baseline_archives["single-feature"].archive)
    assert status == 201, body
    drain_queue(settings)

    labels, predictions = hidden_labels(), stored_predictions(resources, body["id"])

    def auroc(part: str) -> float:
        cases = [c for c in labels if split[c] == part]
        return roc_auc_score(np.array([labels[c] for c in cases]), np.array([predictions[c] for c in cases]))

    assert abs(auroc("public") - auroc("private")) > 1e-6  # the two parts really differ
    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    assert board["subset"] == "public"
    assert board["rows"][0]["scores"]["auroc"]["value"] == pytest.approx(auroc("public"), abs=1e-12)
    mine = get_submission(client, token, body["id"])
    assert mine["scores_subset"] == "public"
    assert mine["scores"]["auroc"]["value"] == pytest.approx(auroc("public"), abs=1e-12)
    analysis = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/analysis").get_json()
    assert analysis["subset"] == "public" and analysis["cases"] == sum(v == "public" for v in split.values())

    with resources.session() as session:  # the phase closes
        session.execute(update(Phase).values(closes_at=utcnow() - timedelta(seconds=1)))
    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    assert board["subset"] == "private"
    assert board["rows"][0]["scores"]["auroc"]["value"] == pytest.approx(auroc("private"), abs=1e-12)
    # The public-part analysis is no longer shown; the worker's reconciler asks for a private one.
    assert client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/analysis").status_code == 404
    from app.tasks.reconciler import refresh_stale_analyses

    assert refresh_stale_analyses(settings) != []
    drain_queue(settings)
    analysis = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/analysis").get_json()
    assert analysis["subset"] == "private"
