"""Every error answer of the API is JSON in one shape, {"error": str, "submission_id": int | null}."""

from __future__ import annotations

import pytest
from flask import Flask

import app.api as api_module
from app import create_app
from app.config import Settings
from app.resources import Resources
from app.usecases.users import create_user
from tests.integration.helpers import CHALLENGE, PHASE, apply_example


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings, enqueue=lambda _: None)


def test_a_crash_in_a_route_is_a_500_in_the_error_format(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(api_module, "db_session", broken)
    response = app.test_client().get("/api/v1/challenges")
    assert response.status_code == 500
    body = response.get_json()
    assert body["submission_id"] is None and "internal error" in body["error"]
    assert "fell over" not in body["error"]  # no internals leak


def test_an_answer_that_does_not_match_its_model_is_a_500_not_a_wrong_answer(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_module, "openapi_document", lambda: {"not": "an OpenAPI document"})
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 500
    assert set(response.get_json()) == {"error", "submission_id"}


def test_a_readers_file_the_csv_reader_cannot_read_is_a_400(resources: Resources, settings: Settings) -> None:
    apply_example(resources)
    with resources.session() as session:
        _, admin = create_user(session, "organiser", is_admin=True)
    client = create_app(settings, enqueue=lambda _: None).test_client()
    huge_field = "case_id,reader,score\n" + "x" * 200_000 + ",r,1\n"  # over the csv module's field limit
    response = client.put(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/readers", data=huge_field,
                          headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/csv"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "the readers file was not accepted: not a readable CSV file (field "
                                            "larger than field limit (131072))", "submission_id": None}
