"""The whole path on real parts: apply → upload through the API → RQ worker → sandboxed container →
metric plugins → leaderboard. Run on the embedded defaults (SQLite + local directory) and on
PostgreSQL + S3 (SeaweedFS)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from app import create_app
from app.config import Settings
from app.db_migrations import upgrade
from app.resources import Resources
from app.tasks.worker import queued_job_count
from tests.conftest import podium_environment
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    drain_queue,
    get_submission,
    hidden_labels,
    make_user,
    set_log_visibility,
    stored_predictions,
    submit_archive,
)


@pytest.fixture(params=["sqlite+local", "postgres+s3"])
def backend_settings(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # type: ignore[no-untyped-def]
    overrides: dict[str, str] = {}
    if request.param == "postgres+s3":
        overrides = {"DATABASE_URL": request.getfixturevalue("postgres_url"),
                     "STORAGE_URL": request.getfixturevalue("s3_bucket_url"),
                     "S3_ENDPOINT_URL": request.getfixturevalue("seaweedfs_endpoint")}
    env = podium_environment(tmp_path, **overrides)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(env)


def test_a_container_submission_is_scored_and_ranked(backend_settings: Settings, baseline_archives) -> None:  # type: ignore[no-untyped-def]
    settings = backend_settings
    upgrade(settings.database_url)
    resources = Resources(settings)
    apply_example(resources)
    client = create_app(settings).test_client()
    strong, weak = make_user(resources, "radboud-ai-lab"), make_user(resources, "acme-vendor")

    status, first = submit_archive(client, strong, baseline_archives["logistic-regression"].archive, "lr")
    assert status == 201, first
    assert first["state"] == "queued"
    status, second = submit_archive(client, weak, baseline_archives["single-feature"].archive, "weak")
    assert status == 201, second
    assert queued_job_count(settings) == 2

    drain_queue(settings)

    for submission_id, token in ((first["id"], strong), (second["id"], weak)):
        result = get_submission(client, token, submission_id)
        assert result["state"] == "succeeded", result
        assert result["run"]["exit_code"] == 0
        assert result["run"]["cases_valid"] == 228

    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    assert [row["participant"] for row in board["rows"]] == ["radboud-ai-lab", "acme-vendor"]
    labels = hidden_labels()
    for row in board["rows"]:
        predictions = stored_predictions(resources, row["submission_id"])
        assert sorted(predictions) == sorted(labels)
        cases = sorted(labels)
        y = np.array([labels[c] for c in cases])
        p = np.array([predictions[c] for c in cases])
        auroc = row["scores"]["auroc"]
        assert auroc["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert auroc["ci_low"] < auroc["value"] < auroc["ci_high"]
        assert row["scores"]["average_precision"]["value"] == pytest.approx(average_precision_score(y, p),
                                                                            abs=1e-12)
    assert board["rows"][0]["scores"]["auroc"]["value"] > 0.95
    assert board["rows"][1]["scores"]["auroc"]["value"] < 0.85

    sorted_by_ap = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard?sort=average_precision")
    assert sorted_by_ap.get_json()["sorted_by"] == "average_precision"
    page = client.get(f"/challenges/{CHALLENGE}/{PHASE}/leaderboard")
    assert page.status_code == 200
    assert b"radboud-ai-lab" in page.data and b"acme-vendor" in page.data
    resources.close()


def test_a_crashing_container_fails_with_its_last_stderr_line(resources: Resources, settings: Settings,
                                                               crashing_archive: Path) -> None:
    apply_example(resources)
    set_log_visibility(resources, "full")  # this phase shows participants their logs
    client = create_app(settings).test_client()
    token = make_user(resources, "crasher")
    status, submission = submit_archive(client, token, crashing_archive)
    assert status == 201, submission
    drain_queue(settings)
    result = get_submission(client, token, submission["id"])
    assert result["state"] == "failed"
    assert result["failure_message"] == ("the container exited with code 3: "
                                         "FileNotFoundError: /opt/model/weights.pt")
    assert result["failure_is_infrastructure"] is False
    assert "FileNotFoundError" in result["run"]["stderr_tail"]
    log = client.get(f"/api/v1/submissions/{submission['id']}/logs/stdout",
                     headers={"Authorization": f"Bearer {token}"})
    assert log.data == b"loading model\n"
    other = make_user(resources, "someone-else")
    assert client.get(f"/api/v1/submissions/{submission['id']}",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404


@pytest.mark.parametrize(("damage", "reason"), [
    ("garbage", "not a gzip-compressed or plain tar archive"),
    ("cut in half", "the archive is truncated"),
    ("empty tar", "no manifest.json"),
])
def test_a_corrupt_archive_is_refused_at_upload_and_nothing_is_queued(
        resources: Resources, settings: Settings, tmp_path: Path, crashing_archive: Path, damage: str,
        reason: str) -> None:
    apply_example(resources)
    client = create_app(settings).test_client()
    token = make_user(resources, "uploader")
    archive = tmp_path / "broken.tar.gz"
    good = crashing_archive.read_bytes()
    archive.write_bytes({"garbage": b"this is not an image", "cut in half": good[: len(good) // 2],
                         "empty tar": gzip.compress(b"\0" * 10_240)}[damage])
    status, body = submit_archive(client, token, archive)
    assert status == 400
    assert reason in body["error"].lower(), body
    assert queued_job_count(settings) == 0
    result = get_submission(client, token, body["submission_id"])
    assert result["state"] == "failed"
    assert resources.store.list(f"submissions/{body['submission_id']}/") == []


def test_uploads_need_a_valid_token(resources: Resources, settings: Settings, tmp_path: Path) -> None:
    apply_example(resources)
    client = create_app(settings).test_client()
    archive = tmp_path / "x.tar"
    archive.write_bytes(b"x")
    status, body = submit_archive(client, "pod_not-a-token", archive)
    assert status == 401
    assert "Authorization: Bearer" in body["error"]


def test_repeatedly_refused_uploads_are_rate_limited(resources: Resources, settings: Settings, tmp_path: Path) -> None:
    from app.queries.phases import get_phase as phase_of
    from app.usecases.submission_limits import refused_upload_limit

    apply_example(resources)
    client = create_app(settings).test_client()
    token = make_user(resources, "hammer")
    archive = tmp_path / "garbage.tar.gz"
    archive.write_bytes(b"not an image at all")
    with resources.session() as session:
        limit = refused_upload_limit(phase_of(session, CHALLENGE, PHASE))
    for _ in range(limit):
        assert submit_archive(client, token, archive)[0] == 400
    status, body = submit_archive(client, token, archive)
    assert status == 429
    assert "podium check-image" in body["error"]


def test_check_image_tells_a_participant_before_they_upload(tmp_path: Path, crashing_archive: Path) -> None:
    from click.testing import CliRunner

    from app.cli import main

    ok = CliRunner().invoke(main, ["check-image", str(crashing_archive)])
    assert ok.exit_code == 0 and "linux/amd64" in ok.output
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"nope")
    refused = CliRunner().invoke(main, ["check-image", str(bad)])
    assert refused.exit_code == 1 and "not a gzip-compressed or plain tar archive" in refused.output


def test_by_default_participants_read_the_platforms_message_and_organisers_read_everything(
        resources: Resources, settings: Settings, crashing_archive: Path) -> None:
    """A container can print the hidden inputs to stderr: by default its output never reaches the participant."""
    from app.models import Challenge
    from app.usecases.membership import add_organiser

    apply_example(resources)
    client = create_app(settings).test_client()
    token, organiser = make_user(resources, "quiet-vendor"), make_user(resources, "the-organiser")
    with resources.session() as session:
        challenge = session.query(Challenge).filter_by(slug=CHALLENGE).one()
        add_organiser(session, challenge, "the-organiser")
    status, submission = submit_archive(client, token, crashing_archive)
    assert status == 201, submission
    drain_queue(settings)
    mine = get_submission(client, token, submission["id"])
    assert mine["state"] == "failed" and mine["log_visibility"] == "failure-message"
    assert mine["failure_message"] == "the container exited with code 3"
    assert mine["run"]["stderr_tail"] == "" and mine["run"]["exit_code"] == 3
    for stream in ("stdout", "stderr", "evaluator-stderr"):
        response = client.get(f"/api/v1/submissions/{submission['id']}/logs/{stream}",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404 and b"weights.pt" not in response.data
    page = client.get(f"/api/v1/submissions/{submission['id']}", headers={"Authorization": f"Bearer {token}"})
    assert b"weights.pt" not in page.data and b"loading model" not in page.data

    theirs = get_submission(client, organiser, submission["id"])
    assert theirs["log_visibility"] == "full"
    assert theirs["failure_message"] == "the container exited with code 3: FileNotFoundError: /opt/model/weights.pt"
    assert "FileNotFoundError" in theirs["run"]["stderr_tail"]
    log = client.get(f"/api/v1/submissions/{submission['id']}/logs/stdout",
                     headers={"Authorization": f"Bearer {organiser}"})
    assert log.data == b"loading model\n"

    set_log_visibility(resources, "state")
    bare = get_submission(client, token, submission["id"])
    assert bare["state"] == "failed" and bare["failure_message"] is None and bare["run"] is None
