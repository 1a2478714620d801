"""Helpers for end-to-end tests: apply the example challenge, submit through the API, run a worker."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from app.config import Settings
from app.resources import Resources
from app.tasks.worker import queued_job_count, run_worker
from app.usecases.apply_challenge import apply_challenge, run_prepare_step
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE

CHALLENGE, PHASE = "breast-cancer-wisconsin", "test"


@functools.cache
def prepared_challenge(folder: Path) -> Path:
    """A challenge folder whose prepare step has run once in this test session: a copy whose challenge.yaml has no
    `prepare:` line. Applying it stores what applying the folder itself stores (the prepare step is not stored and
    writes the same files every time) without running the step (~2-4 s) again for every test.

    test_apply_challenge.py and the baseline fixtures still run the prepare step itself."""
    spec = (folder / "challenge.yaml").read_text()
    line = "prepare: prepare.py\n"
    assert spec.count(line) == 1, f"{folder}/challenge.yaml: expected one {line!r}"
    run_prepare_step(folder, "prepare.py")
    parent = Path(tempfile.mkdtemp(prefix="podium-prepared-"))
    atexit.register(shutil.rmtree, parent, True)
    copy = parent / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("prepare.py", "__pycache__"))
    (copy / "challenge.yaml").write_text(spec.replace(line, ""))
    return copy


def apply_example(resources: Resources) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, prepared_challenge(EXAMPLE_CHALLENGE))


def set_log_visibility(resources: Resources, visibility: str, challenge: str = CHALLENGE) -> None:
    """What participants of the challenge's phases may read of their runs (an organiser's choice)."""
    from sqlalchemy import update

    from app.models import Challenge, Phase

    with resources.session() as session:
        challenge_id = session.scalar(select(Challenge.id).where(Challenge.slug == challenge))
        session.execute(update(Phase).where(Phase.challenge_id == challenge_id).values(log_visibility=visibility))


def make_user(resources: Resources, name: str) -> str:
    with resources.session() as session:
        _, token = create_user(session, name)
    return token


def submit_archive(client: FlaskClient, token: str, archive: Path, comment: str = "", *,
                   challenge: str = CHALLENGE, phase: str = PHASE) -> tuple[int, dict[str, Any]]:
    with archive.open("rb") as body:
        response = client.post(
            f"/api/v1/challenges/{challenge}/phases/{phase}/submissions",
            query_string={"comment": comment},
            input_stream=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                     "Content-Length": str(archive.stat().st_size)},
        )
    return response.status_code, response.get_json()


def get_submission(client: FlaskClient, token: str, submission_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/submissions/{submission_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def drain_queue(settings: Settings) -> None:
    run_worker(settings, burst=True)
    assert queued_job_count(settings) == 0


def stored_predictions(resources: Resources, submission_id: int) -> dict[str, float]:
    keys = resources.store.list(f"submissions/{submission_id}/outputs/")
    return {key.split("/")[3]: float(json.loads(resources.store.get_bytes(key)))
            for key in keys if key.endswith("/malignancy-likelihood.json")}


def hidden_labels() -> dict[str, int]:
    truth = EXAMPLE_CHALLENGE / "data" / "test" / "ground_truth"
    return {case.name: int(json.loads((case / "malignant.json").read_text())) for case in truth.iterdir()}
