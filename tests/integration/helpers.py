"""Helpers for end-to-end tests: apply the example challenge, submit through the API, run a worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from app.config import Settings
from app.resources import Resources
from app.tasks.worker import queued_job_count, run_worker
from app.usecases.apply_challenge import apply_challenge
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE

CHALLENGE, PHASE = "breast-cancer-wisconsin", "test"


def apply_example(resources: Resources) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, EXAMPLE_CHALLENGE)


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
