"""A phase's state (upcoming, open, closed) as the pages and the API show it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.models import Phase
from app.queries.phase_status import PhaseState, phase_status
from app.resources import Resources
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def test_the_three_states_and_what_they_say() -> None:
    phase = Phase(slug="test", title="Test", opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=30))
    upcoming = phase_status(phase, NOW)
    assert upcoming.state == PhaseState.UPCOMING
    assert upcoming.summary() == "Opens 2027-01-11 12:00 UTC; closes 2027-02-09 12:00 UTC."
    phase.opens_at, phase.split_column = NOW - timedelta(days=1), "split"
    running = phase_status(phase, NOW)
    assert running.state == PhaseState.OPEN and not running.private_published
    assert running.summary().startswith("Accepting submissions until 2027-02-09 12:00 UTC; the leaderboard shows the "
                                        "public part")
    closed = phase_status(phase, NOW + timedelta(days=30))  # closes_at itself: closed
    assert closed.state == PhaseState.CLOSED and closed.private_published
    assert "final ranking on the private part" in closed.summary()
    phase.closes_at, phase.split_column = None, None
    assert phase_status(phase, NOW + timedelta(days=3650)).summary() == "Accepting submissions (no closing date)."


def test_pages_and_the_api_show_the_state(client: FlaskClient, resources: Resources) -> None:
    apply_example(resources)
    board = client.get(f"/challenges/{CHALLENGE}/{PHASE}/leaderboard").get_data(as_text=True)
    assert 'id="phase-state"' in board and "<strong>Open</strong>" in board
    with resources.session() as session:
        session.execute(update(Phase).values(closes_at=datetime.now(UTC) - timedelta(hours=1)))
        assert session.scalars(select(Phase.id)).first() is not None
    for path in (f"/challenges/{CHALLENGE}/{PHASE}/leaderboard", f"/challenges/{CHALLENGE}/{PHASE}/analysis",
                 f"/challenges/{CHALLENGE}"):
        assert "<strong>Closed</strong>" in client.get(path).get_data(as_text=True), path
    assert client.get(f"/api/v1/challenges/{CHALLENGE}").get_json()["phases"][0]["state"] == "closed"
