"""The browser's side of uploads in parts (what app/web/static/podium-upload.js sends): begin with the page's CSRF
token, send parts, submit the form with the upload's token; and the organisers' test set page, with and without
the script."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from app.resources import Resources
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.usecases.test_parted_uploads import TEST_SET, _phase, _zip_folder
from tests.app.web.test_organiser_pages import _password_hash, signed_in
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

TEST_SET_PAGE = f"/challenges/{CHALLENGE}/{PHASE}/test-set"


def _people(resources: Resources) -> None:
    apply_example(resources)
    with resources.session() as db:
        for name in ("lead", "lab"):
            create_user(db, name, email=f"{name}@example.org")[0].password_hash = _password_hash()
        add_organiser(db, _phase(db).challenge, "lead")


def _send(client: FlaskClient, csrf: str, data: bytes, purpose: str) -> str:
    begun = client.post(f"/challenges/{CHALLENGE}/{PHASE}/uploads", headers={"X-CSRFToken": csrf},
                        json={"purpose": purpose, "filename": "x.zip", "size": len(data)})
    assert begun.status_code == 201, begun.get_json()
    token = begun.get_json()["token"]
    half = len(data) // 2
    assert client.put(f"/uploads/{token}?offset=0", data=data[:half], headers={"X-CSRFToken": csrf}).status_code == 200
    again = client.put(f"/uploads/{token}?offset=0", data=data[:half], headers={"X-CSRFToken": csrf})
    assert again.status_code == 409 and again.get_json()["received_bytes"] == half  # the script resumes there
    done = client.put(f"/uploads/{token}?offset={half}", data=data[half:], headers={"X-CSRFToken": csrf})
    assert done.get_json()["complete"]
    return token


def test_the_script_needs_the_pages_csrf_token(resources: Resources, client: FlaskClient) -> None:
    _people(resources)
    signed_in(client, "lead")
    refused = client.post(f"/challenges/{CHALLENGE}/{PHASE}/uploads", json={"purpose": "test-set", "size": 10})
    assert refused.status_code == 400  # no X-CSRFToken: a page of another site cannot begin an upload for you


def test_the_test_set_page_with_and_without_the_script(resources: Resources, client: FlaskClient,
                                                       tmp_path: Path) -> None:
    _people(resources)
    csrf = signed_in(client, "lead")
    page = client.get(TEST_SET_PAGE).get_data(as_text=True)
    assert "Version 1" in page and 'data-parted-upload="' in page

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    answer = client.post(TEST_SET_PAGE, data={"csrf": csrf, "archive": (broken.open("rb"), "broken.zip")})
    assert answer.status_code == 400
    assert re.search(r'id="test-set-problem">The test set archive is not a \.zip', answer.get_data(as_text=True))

    archive = _zip_folder(TEST_SET, tmp_path / "t.zip").read_bytes()
    token = _send(client, csrf, archive, "test-set")
    answer = client.post(TEST_SET_PAGE, data={"csrf": csrf, "upload": token}, follow_redirects=True)
    assert answer.status_code == 200
    assert "same content as version 1" in answer.get_data(as_text=True)

    signed_in(client, "lab")
    assert client.get(TEST_SET_PAGE).status_code == 403


def test_submit_form_takes_the_uploads_token(resources: Resources, client: FlaskClient,
                                             baseline_archives) -> None:  # type: ignore[no-untyped-def]
    _people(resources)
    csrf = signed_in(client, "lab")
    archive = baseline_archives["logistic-regression"].archive.read_bytes()
    token = _send(client, csrf, archive, "submission")
    answer = client.post(f"/challenges/{CHALLENGE}/{PHASE}/submit", data={"csrf": csrf, "upload": token,
                                                                          "comment": "parts"})
    assert answer.status_code == 302 and re.search(r"/submissions/\d+$", answer.headers["Location"])
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="state">queued' in page
    again = client.post(f"/challenges/{CHALLENGE}/{PHASE}/submit", data={"csrf": csrf, "upload": token})
    assert again.status_code == 200 and "no such upload of yours" in again.get_data(as_text=True)
