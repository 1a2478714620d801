"""The results pages: the manage page's publish switch, the leaderboard's notes, the columns."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import Phase
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.test_authorization_matrix import sign_in
from tests.app.usecases.test_results import _scored, _two_metrics

LEADERBOARD = "/challenges/finals/test/leaderboard"


def test_an_organiser_hides_and_publishes_from_the_manage_page(session: Session, client: FlaskClient) -> None:
    phase = _two_metrics(session)
    lab, lab_token = create_user(session, "lab")
    _, lead_token = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    _scored(session, phase, lab, 0.7123, 0.8456)
    session.commit()

    lead = client.application.test_client()
    csrf = sign_in(lead, lead_token)
    manage = lead.get("/challenges/finals/manage").get_data(as_text=True)
    assert 'id="results-toggle-test"' in manage and "Hide results" in manage
    answer = lead.post("/challenges/finals/test/results", data={"csrf": csrf, "published": "0"})
    assert answer.status_code == 302 and "/challenges/finals/manage" in answer.headers["Location"]
    session.expire_all()
    assert session.get(Phase, phase.id).results_published is False  # type: ignore[union-attr]
    assert "Publish results" in lead.get("/challenges/finals/manage").get_data(as_text=True)
    refused = lead.post("/challenges/finals/test/results", data={"csrf": csrf, "published": "yes"})
    assert refused.status_code == 400 and "published=1" in refused.get_data(as_text=True)

    page = client.get(LEADERBOARD).get_data(as_text=True)
    assert "The organisers have not published this phase's results yet." in page
    assert "0.712" not in page and 'id="results-state"' in page
    participant = client.application.test_client()
    sign_in(participant, lab_token)
    assert "0.712" not in participant.get(LEADERBOARD).get_data(as_text=True)
    assert "0.712" not in participant.get("/challenges/finals/test/submit").get_data(as_text=True)
    theirs = lead.get(LEADERBOARD).get_data(as_text=True)
    assert "0.712" in theirs and 'id="results-hidden"' in theirs and "hidden from participants" in theirs
    analysis = client.get("/challenges/finals/test/analysis").get_data(as_text=True)
    assert "have not published" in analysis

    lead.post("/challenges/finals/test/results", data={"csrf": csrf, "published": "1"})
    assert "0.712" in client.get(LEADERBOARD).get_data(as_text=True)


def test_the_leaderboard_page_shows_the_phase_s_columns(session: Session, client: FlaskClient) -> None:
    phase = _two_metrics(session)
    lab, _ = create_user(session, "lab")
    _scored(session, phase, lab, 0.7123, 0.8456)
    phase.leaderboard_columns = ["average_precision"]
    session.commit()
    page = client.get(LEADERBOARD).get_data(as_text=True)
    assert 'data-metric="average_precision"' in page and 'data-metric="auroc"' not in page
    assert "0.846" in page and "0.712" not in page


def test_the_per_case_page_is_linked_for_organisers_and_refused_to_participants(session: Session,
                                                                                client: FlaskClient) -> None:
    phase = _two_metrics(session)
    lab, lab_token = create_user(session, "lab")
    _, lead_token = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    mine = _scored(session, phase, lab, 0.7, 0.8)
    session.commit()
    lead = client.application.test_client()
    sign_in(lead, lead_token)
    assert 'id="case-results-link"' in lead.get(f"/submissions/{mine.id}").get_data(as_text=True)
    page = lead.get(f"/submissions/{mine.id}/cases")
    assert page.status_code == 200 and 'id="case-results"' in page.get_data(as_text=True)
    participant = client.application.test_client()
    sign_in(participant, lab_token)
    assert 'id="case-results-link"' not in participant.get(f"/submissions/{mine.id}").get_data(as_text=True)
    refused = participant.get(f"/submissions/{mine.id}/cases")
    assert refused.status_code == 404
    assert "does not show participants per-case results" in refused.get_data(as_text=True)
