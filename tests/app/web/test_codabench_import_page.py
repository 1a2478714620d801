"""The Codabench import page: a site admin uploads a bundle, a worker (real Redis, Docker) converts, builds and
applies it, and the status page shows the outcome and what could not be mapped, or why it failed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.config import Settings
from app.models import Challenge
from app.resources import Resources
from app.usecases.users import create_user
from tests.app.usecases.codabench_bundles import V15_YAML, v2_files, v15_bundle, write_zip
from tests.integration.helpers import drain_queue

ONE_PHASE_V15 = V15_YAML[:V15_YAML.index("  2:\n")] + V15_YAML[V15_YAML.index("  1:\n"):]


def _upload(client: FlaskClient, csrf: str, bundle: Path, **fields: str) -> str:
    with bundle.open("rb") as body:
        answer = client.post("/import-codabench", data={"csrf": csrf, "bundle": (body, bundle.name), **fields},
                             content_type="multipart/form-data")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert re.fullmatch(r"/import-codabench/[0-9a-f]{32}", location)
    assert "State: <strong>queued</strong>" in client.get(location).get_data(as_text=True)
    return location


@pytest.fixture
def admin_client(app: Flask, resources: Resources) -> tuple[FlaskClient, str]:
    from tests.app.test_authorization_matrix import sign_in

    with resources.session() as session:
        _, token = create_user(session, "root", is_admin=True)
    client = app.test_client()
    return client, sign_in(client, token)


def test_a_malformed_bundle_fails_with_its_reason(admin_client: tuple[FlaskClient, str], settings: Settings,
                                                  resources: Resources, tmp_path: Path) -> None:
    client, csrf = admin_client
    assert 'id="codabench-link"' in client.get("/").get_data(as_text=True)
    assert "Competition bundle (.zip)" in client.get("/import-codabench").get_data(as_text=True)
    files = v2_files()
    files.pop("pages/terms.md")
    status_page = _upload(client, csrf, write_zip(tmp_path / "broken.zip", files))
    drain_queue(settings)
    page = client.get(status_page).get_data(as_text=True)
    assert "State: <strong>failed</strong>" in page
    assert "terms: pages/terms.md is not a file in the bundle" in page
    assert str(settings.data_dir) not in page  # no server paths
    with resources.session() as session:
        assert session.scalar(select(Challenge)) is None


def test_a_bundle_is_imported_by_a_worker(admin_client: tuple[FlaskClient, str], settings: Settings,
                                          resources: Resources, tmp_path: Path, python_base_image: str) -> None:
    client, csrf = admin_client
    status_page = _upload(client, csrf, v15_bundle(tmp_path, ONE_PHASE_V15), slug="iris-web")
    drain_queue(settings)
    page = client.get(status_page).get_data(as_text=True)
    assert "State: <strong>succeeded</strong>" in page, page
    assert "challenge iris-web: created" in page
    assert "ingestion_program is not run" in page and 'id="unmapped"' in page
    with resources.session() as session:
        challenge = session.scalar(select(Challenge).where(Challenge.slug == "iris-web"))
        assert challenge is not None and challenge.phases[0].evaluator is not None
        assert len(challenge.organiser_ids) == 1  # the admin who imported it organises it
    assert [k for k in resources.store.list("codabench-imports/") if k.endswith("bundle.zip")] == []  # deleted
