"""A real submission through the worker records its container's CPU seconds and peak memory; the leaderboard
shows its time and cost per case at the operator's prices."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import Settings
from app.resources import Resources
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    drain_queue,
    get_submission,
    make_user,
    submit_archive,
)

pytestmark = pytest.mark.docker


def test_a_scored_run_has_its_resources_and_a_cost_per_case(resources: Resources, settings: Settings,
                                                            baseline_archives) -> None:  # type: ignore[no-untyped-def]
    client = create_app(settings.with_overrides(price_cpu_hour=0.05, price_gb_hour=0.01,
                                                price_currency="EUR")).test_client()
    apply_example(resources)
    lab = make_user(resources, "lab")
    status, created = submit_archive(client, lab, baseline_archives["logistic-regression"].archive, "lr")
    assert status == 201, created
    drain_queue(settings)

    run = get_submission(client, lab, created["id"])["run"]
    assert run["cases_valid"] == 228
    # Python, numpy and a logistic regression over 228 cases: some CPU, never more than the wall time at 1 CPU.
    assert 0.05 < run["cpu_seconds"] <= run["container_seconds"] + 0.2, run
    assert 10 < run["peak_memory_mb"] < 1024, run
    assert run["seconds_per_case"] == pytest.approx(run["container_seconds"] / 228)

    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard").get_json()
    row = board["rows"][0]
    hand = (run["cpu_seconds"] / 3600 * 0.05
            + run["peak_memory_mb"] / 1024 * run["container_seconds"] / 3600 * 0.01) / 228
    assert row["cost_per_case"] == pytest.approx(hand) and row["seconds_per_case"] == pytest.approx(
        run["seconds_per_case"])
