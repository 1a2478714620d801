"""Schemathesis fuzzes the API running for real (waitress on a loopback port): zero server errors.

The cases come from the live /api/v1/openapi.json: valid and invalid parameters, headers and bodies for every
operation, sent with an admin's token (so the organisers' routes run past their checks). One pass generates the
addresses too (they mostly name nothing: 404); a second pins them to the example challenge's phase, so uploads,
readers files and exports reach the code behind the lookups. Uploads the fuzzer makes are refused as invalid
archives (4xx), and nothing is queued. Hypothesis is derandomised: `make test` sends the same cases every run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update
from waitress.server import create_server

from app import create_app
from app.config import Settings
from app.db_migrations import upgrade
from app.models import ApiToken
from app.resources import Resources
from app.usecases.users import create_user
from tests.conftest import podium_environment
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

EXAMPLES = 25  # per operation and pass; the whole module stays around a minute on two cores
# The fuzzer calls DELETE /api/v1/tokens/{token_id} with ids of its choosing: its own token gets an id it does not
# generate, so that it acts as an admin through every pass instead of revoking itself in the first.
FUZZER_TOKEN_ID = 987_654_321


@dataclass
class LiveAPI:
    base_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    podium_settings = Settings.from_env(podium_environment(tmp_path_factory.mktemp("fuzz")))  # SQLite, local files
    upgrade(podium_settings.database_url)
    resources = Resources(podium_settings)
    apply_example(resources)
    with resources.session() as session:
        fuzzer, token = create_user(session, "fuzzer", is_admin=True)
        session.execute(update(ApiToken).where(ApiToken.user_id == fuzzer.id).values(id=FUZZER_TOKEN_ID))
    app = create_app(podium_settings, enqueue=lambda _: None)  # nothing is queued
    app.extensions["podium"].enqueue_analysis = None  # a readers upload queues no analysis either
    server = create_server(app, host="127.0.0.1", port=0, threads=4, clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, name="fuzzed-api", daemon=True)
    thread.start()
    yield LiveAPI(f"http://127.0.0.1:{server.effective_port}", token)
    server.close()
    server.task_dispatcher.shutdown()
    for channel in list(server._map.values()):  # the trigger and any open connections: the loop then ends
        channel.close()
    thread.join(timeout=10)
    resources.close()


# Every answer to a valid request matches its documented status, media type and model. Invalid ones may reach
# Flask's routing (an id like "-1" matches no route): app/web answers those, not this API, so only their status
# and media type are checked.
CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                              response_schema_conformance],
    GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance, content_type_conformance],
}
PASSES = {"any-address": {}, "example-phase": {"slug": CHALLENGE, "phase_slug": PHASE}}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                database=None, print_blob=False)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("addresses", PASSES)
def test_no_server_errors(live_api: LiveAPI, addresses: str, mode: GenerationMode) -> None:
    # Each operation is driven with its Hypothesis strategy (schemathesis.pytest.from_fixture, the plugin's way to
    # load a schema from a fixture, fails on pytest 9.2), and every failure is reported at the end.
    schema = schemathesis.openapi.from_url(f"{live_api.base_url}/api/v1/openapi.json")
    failures: list[str] = []
    answered: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        pinned = {name: value for name, value in PASSES[addresses].items() if f"{{{name}}}" in operation.path}

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned or None))
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=live_api.base_url, headers=live_api.headers,
                                              checks=CHECKS[mode], timeout=30)
            answered.append(response.status_code)

        try:
            fuzz()
        except Unsatisfiable:  # negative mode, nothing left to make invalid (no parameter, or all pinned)
            assert mode == GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # noqa: BLE001 - collected: every operation is fuzzed, then all failures shown
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert requests.get(f"{live_api.base_url}/api/v1/tokens", headers=live_api.headers, timeout=30).status_code == 200
    assert operations >= 12 and len(answered) >= 5 * operations
    if addresses == "example-phase":  # the pinned pass gets past the lookups: some calls succeed
        assert any(200 <= status < 300 for status in answered)

