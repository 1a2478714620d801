"""The OpenAPI document is generated from the code: every API route is in it, and it is valid OpenAPI 3."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from app import create_app
from app.config import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
CONVERTER = re.compile(r"<(?:[^<>:]*:)?([A-Za-z_][A-Za-z0-9_]*)>")  # <int:submission_id> -> {submission_id}


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings, enqueue=lambda _: None)


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _operations(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_api_route_is_in_the_document_and_nothing_else(app: Flask, document: dict[str, Any]) -> None:
    routes = {(CONVERTER.sub(r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    documented = {(path, method) for path, method, _ in _operations(document)}
    assert len(routes) >= 12
    assert routes == documented


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)  # raises on any violation of the OpenAPI 3 schema


def test_every_operation_has_a_unique_id_a_summary_and_its_path_parameters(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for path, _, operation in _operations(document):
        assert operation["summary"]
        in_path = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert in_path == declared, path


def _references(value: Any) -> set[str]:
    text = json.dumps(value)
    return set(re.findall(r'"#/components/schemas/([^"]+)"', text))


def test_every_model_in_the_document_is_referenced_and_every_json_answer_has_one(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    reachable: set[str] = set()
    frontier = _references(document["paths"])
    while frontier:
        name = frontier.pop()
        if name not in reachable:
            assert name in schemas, f"dangling reference to {name}"
            reachable.add(name)
            frontier |= _references(schemas[name])
    assert set(schemas) == reachable, f"unreferenced: {set(schemas) - reachable}"
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            assert content, f"{method} {path} {status} does not say what it answers"
            if "application/json" in content:
                assert "$ref" in content["application/json"]["schema"], f"{method} {path} {status}: untyped"
            if int(status) >= 400:
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_the_one_error_format(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "submission_id"}
    assert set(error["required"]) == {"error", "submission_id"}
    codes = {int(status) for _, _, operation in _operations(document) for status in operation["responses"]}
    assert {400, 401, 403, 404, 409, 413, 422, 429, 503} <= codes


def test_non_json_bodies_and_answers_and_the_token_are_described(document: dict[str, Any]) -> None:
    phase = "/api/v1/challenges/{slug}/phases/{phase_slug}"
    paths = document["paths"]
    assert set(paths[f"{phase}/cases.csv"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    assert set(paths[f"{phase}/export.zip"]["get"]["responses"]["200"]["content"]) == {"application/zip"}
    log = paths["/api/v1/submissions/{submission_id}/logs/{stream_name}"]["get"]
    assert set(log["responses"]["200"]["content"]) == {"text/plain"}
    stream = next(p for p in log["parameters"] if p["name"] == "stream_name")
    assert stream["schema"]["enum"] == ["stdout", "stderr"]
    upload = paths[f"{phase}/submissions"]["post"]["requestBody"]["content"]
    assert set(upload) == {"application/octet-stream", "multipart/form-data"}
    assert upload["multipart/form-data"]["schema"]["required"] == ["image"]
    assert set(paths[f"{phase}/readers"]["put"]["requestBody"]["content"]) == {"text/csv"}

    scheme = document["components"]["securitySchemes"]["token"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in _operations(document):
        needs_token = "401" in operation["responses"]
        assert (operation.get("security") == [{"token": []}]) == needs_token, f"{method} {path}"
    assert "security" not in paths["/api/v1/challenges"]["get"]


def test_an_invalid_query_parameter_answers_422_naming_it(app: Flask) -> None:
    client = app.test_client()
    url = "/api/v1/challenges/some-challenge/phases/some-phase/readers"
    for value, says in (("abc", "valid number"), ("nan", "finite number")):
        response = client.put(f"{url}?positive_at={value}", data="case_id,reader,score\n")
        assert response.status_code == 422
        body = response.get_json()
        assert body["submission_id"] is None
        assert "'positive_at'" in body["error"] and says in body["error"], body


def test_an_address_no_record_can_have_is_a_404_in_the_error_format(app: Flask) -> None:
    client = app.test_client()
    for url, message in (("/api/v1/challenges/Not_A_Slug", "no challenge 'Not_A_Slug'"),
                         ("/api/v1/challenges/ok-slug/phases/bad%00slug/leaderboard", "no phase 'bad\\x00slug'"),
                         ("/api/v1/submissions/99999999999", "no submission 99999999999 of yours")):
        response = client.get(url, headers={"Authorization": "Bearer pod_x"})
        assert response.status_code == 404, url
        assert response.get_json()["error"].startswith(message)
        assert response.get_json()["submission_id"] is None
