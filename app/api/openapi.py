"""The REST API's OpenAPI document, built from the code by spectree.

Each route is declared with `@operation(...)`: spectree reads its typed request parameters and answer models
(app/api/schemas.py), validates the query parameters before the handler runs and every JSON answer before it
leaves, and lists the route in the document. What spectree cannot express (raw request bodies, CSV, ZIP and
text answers, the path parameters' patterns) is given to `operation` too and merged in by `openapi_document`.
Request validation errors come back in the one error format (422), like every other error of the API.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pydantic
from flask import current_app
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from app.api import schemas
from app.challenge_yaml import SLUG_PATTERN
from app.errors import ServiceError

MAX_ID = 2**31 - 1  # ids are 32-bit integers in every database; a larger one cannot exist
TOKEN = "token"  # the security scheme's name
EXTRA = "podium_openapi"  # what `operation` keeps on a route for `openapi_document`

DESCRIPTION = """\
The REST API of a Podium site: challenges, leaderboards, analyses, and submissions of algorithm containers.

**Authentication.** Calls that act for a user send `Authorization: Bearer <token>`: a personal API token,
made on the site's Tokens page or with `POST /api/v1/tokens` (an operator's `podium user create NAME` prints
a first one). Tokens expire (90 days unless chosen otherwise, at most a year) and can be revoked. Without a
valid token such a call answers 401.

**Errors.** Every error answer (4xx and 5xx) is JSON of one shape, `{"error": "...", "submission_id": null}`:
the message says what was wrong and what to do; `submission_id` is set only when a refused upload was kept as
a failed submission. Invalid query parameters answer 422 and name the parameter.
"""

STATUS_MEANINGS = {
    400: "the request cannot be carried out; the message says why",
    401: "no valid API token",
    403: "not allowed (not an organiser, or the phase is not open)",
    404: "no such challenge, phase, submission, team, invitation or token (of yours)",
    409: "the current state does not allow it (the message says why)",
    413: "larger than allowed",
    422: "an invalid query parameter or body field; the message names it",
    429: "a daily limit was reached; try again later",
    503: "the platform's storage is unavailable; not your fault, try again in a few minutes",
}

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "slug": {"description": "the challenge's slug", "schema": {"type": "string", "pattern": SLUG_PATTERN}},
    "phase_slug": {"description": "the phase's slug", "schema": {"type": "string", "pattern": SLUG_PATTERN}},
    "submission_id": {"description": "the submission's id",
                      "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}},
    "team_id": {"description": "the team's id",
                "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}},
    "invitation_id": {"description": "the invitation's id",
                      "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}},
    "token_id": {"description": "the token's id",
                 "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}},
    "reevaluation_id": {"description": "the re-evaluation's id",
                        "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}},
    "upload_token": {"description": "the upload's token (from the answer that began it)",
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"}},
    "stream_name": {"description": "which of the container's output streams",
                    "schema": {"type": "string", "enum": ["stdout", "stderr"]}},
}


class InvalidRequest(ServiceError):
    """A query parameter or a field of the JSON body does not match the route's model."""

    status_code = 422


class AnswerDoesNotMatchItsModel(RuntimeError):
    """A handler built an answer its documented model refuses: a bug in the server, answered as a 500."""


_BODY_MODELS: set[str] = set()  # the names of the models of JSON bodies (`operation(json=...)`)


def _refuse_invalid_request(request: Any, _response: Any, error: Exception | None, _instance: Any,
                            _adapter: Any) -> None:
    """Before the handler: answer invalid parameters in the one error format, naming the parameter."""
    if error is None:
        return
    where = "body field" if getattr(error, "title", None) in _BODY_MODELS else "query parameter"
    problems = []
    details = error.errors(include_url=False) if isinstance(error, pydantic.ValidationError) else [
        {"loc": ("request",), "msg": str(error)}]
    for problem in details:
        name = ".".join(str(part) for part in problem["loc"])
        given = problem.get("input")
        shown = f" (got {given!r:.80})" if isinstance(given, str) else ""
        problems.append(f"{where} {name!r}: {problem['msg']}{shown}")
    raise InvalidRequest("; ".join(problems))


def _refuse_invalid_answer(request: Any, _response: Any, error: Exception | None, _instance: Any,
                           _adapter: Any) -> None:
    if error is not None:
        raise AnswerDoesNotMatchItsModel(f"{request.method} {request.path}: {error}")


spec = SpecTree(
    "flask",
    mode="strict",  # only the routes declared with `operation`: the API's, never the web pages
    title="Podium API",
    version="1",
    description=DESCRIPTION,
    openapi_version="3.1.0",
    security_schemes=[SecurityScheme(name=TOKEN, data=SecuritySchemeData(
        type=SecureType.HTTP, scheme="bearer",
        description="an API token: `Authorization: Bearer <token>` (`podium user create NAME` makes one)"))],
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    validation_error_status=InvalidRequest.status_code,
    validation_error_model=schemas.Error,
    before=_refuse_invalid_request,
    after=_refuse_invalid_answer,
)


def errors(*codes: int) -> dict[str, Any]:
    """Error answers for `Response(...)`: each in the one error format."""
    return {f"HTTP_{code}": (schemas.Error, STATUS_MEANINGS[code]) for code in codes}


def operation(resp: Response, *, query: type | None = None, json: type[pydantic.BaseModel] | None = None,
              token: bool = False, tags: Iterable[str] = (), body: Mapping[str, Any] | None = None,
              raw: Mapping[int, Mapping[str, Any]] | None = None,
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route for spectree (validation and the document) and what it cannot describe itself.

    query: the model of the query parameters (the handler then takes it as its `query` argument).
    json: the model of a small JSON body that spectree reads and validates (the handler takes it as `json`;
        spectree passes None for a body sent as a form, which the handler refuses).
    token: the route needs `Authorization: Bearer <token>`.
    body: the OpenAPI requestBody (the API reads raw bodies itself: spectree never parses them, so every
        check still runs before a byte of an upload is read).
    raw: for answers that are not JSON, status code -> OpenAPI response content by media type.
    """

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        validated: Callable[..., Any] = spec.validate(
            query=query, json=json, resp=resp, tags=tuple(tags), operation_id=handler.__name__,
            security={TOKEN: []} if token else None)(handler)
        if json is not None:
            _BODY_MODELS.add(json.__name__)
        setattr(validated, EXTRA, {"body": body, "raw": raw or {}, "query": query, "json": json})
        return validated

    return decorate


_document: dict[str, Any] | None = None


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the current app's API routes (built once per process)."""
    global _document
    if _document is None:
        _document = _complete(copy.deepcopy(spec.spec))
    return _document


def _complete(document: dict[str, Any]) -> dict[str, Any]:
    for rule in current_app.url_map.iter_rules():
        handler = current_app.view_functions[rule.endpoint]
        extra = getattr(handler, EXTRA, None)
        if extra is None:
            continue
        path, _ = spec.backend.parse_path(rule, None)
        for method in rule.methods or ():
            found = document["paths"].get(path, {}).get(method.lower())
            if found is not None:
                _complete_operation(found, extra)
    if not document.get("tags"):
        document.pop("tags")
    _drop_unreferenced_schemas(document)
    return document


def _complete_operation(operation: dict[str, Any], extra: dict[str, Any]) -> None:
    for parameter in operation["parameters"]:
        if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
            parameter.update(copy.deepcopy(PATH_PARAMETERS[parameter["name"]]))
        if not parameter.get("description"):
            parameter.pop("description", None)
    if extra["query"] is None and extra["json"] is None:  # spectree lists its validation answer everywhere
        operation["responses"].pop(str(InvalidRequest.status_code), None)
    if extra["body"] is not None:
        operation["requestBody"] = copy.deepcopy(dict(extra["body"]))
    for status, content in extra["raw"].items():
        operation["responses"][str(status)]["content"] = copy.deepcopy(dict(content))
    for key in ("tags", "description"):
        if not operation.get(key):
            operation.pop(key, None)


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """Query models become parameters; their own schemas are referenced by nothing and are left out."""
    schemas_ = document["components"]["schemas"]
    while True:
        text = json.dumps({key: value for key, value in document.items() if key != "components"})
        text += json.dumps(schemas_)
        unused = [name for name in schemas_ if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas_[name]
