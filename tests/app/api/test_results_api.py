"""The results API: publish or hide a phase's results; the leaderboard and analysis answer accordingly; per-case
results for the submission's own team when the phase shows them."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.usecases.test_results import _scored, _two_metrics

BOARD = "/api/v1/challenges/finals/phases/test/leaderboard"
RESULTS = "/api/v1/challenges/finals/phases/test/results"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_publish_and_hide_through_the_api(session: Session, client: FlaskClient) -> None:
    phase = _two_metrics(session)
    lab, lab_token = create_user(session, "lab")
    _, lead_token = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    mine = _scored(session, phase, lab, 0.7, 0.8)
    session.commit()
    assert len(client.get(BOARD).get_json()["rows"]) == 1

    assert client.put(RESULTS, json={"published": False}, headers=_auth(lab_token)).status_code == 403
    assert client.put(RESULTS, json={"published": False}).status_code == 401
    assert client.put(RESULTS, json={"published": "maybe"}, headers=_auth(lead_token)).status_code == 422
    answer = client.put(RESULTS, json={"published": False}, headers=_auth(lead_token))
    assert answer.status_code == 200 and answer.get_json() == {"challenge": "finals", "phase": "test",
                                                               "published": False}

    anonymous = client.get(BOARD).get_json()
    assert anonymous["published"] is False and anonymous["rows"] == []
    assert client.get(BOARD, headers=_auth(lab_token)).get_json()["rows"] == []
    organisers = client.get(BOARD, headers=_auth(lead_token)).get_json()
    assert organisers["published"] is False and len(organisers["rows"]) == 1
    analysis = client.get("/api/v1/challenges/finals/phases/test/analysis")
    assert analysis.status_code == 404 and "not published" in analysis.get_json()["error"]
    own = client.get(f"/api/v1/submissions/{mine.id}", headers=_auth(lab_token)).get_json()
    assert own["state"] == "succeeded" and own["scores"] == {} and own["results_published"] is False

    assert client.put(RESULTS, json={"published": True}, headers=_auth(lead_token)).get_json()["published"]
    assert len(client.get(BOARD).get_json()["rows"]) == 1


def test_per_case_results_for_the_team_public_cases_only_while_the_phase_runs(session: Session,
                                                                            client: FlaskClient) -> None:
    from app.models import Case, CaseOutcome, EvaluationRun, Phase
    from tests.app.usecases.test_final_selection import _phase
    from tests.app.usecases.test_final_selection import _scored as _split_scored

    phase: Phase = _phase(session)  # split on "split", open
    lab, lab_token = create_user(session, "lab")
    _, lead_token = create_user(session, "lead")
    _, other_token = create_user(session, "other")
    add_organiser(session, phase.challenge, "lead")
    mine = _split_scored(session, phase, lab, 0.7, 0.9)
    run = session.query(EvaluationRun).filter_by(submission_id=mine.id).one()
    for key, part, status in (("c-pub", "public", "valid"), ("c-priv", "private", "valid"),
                              ("c-bad", "public", "invalid"), ("c-old", "public", "missing")):
        case = Case(test_set_id=phase.current_test_set_id, case_key=key, meta={"split": part, "site": "A"},
                    inputs={"secret": "HIDDEN-INPUT"})
        session.add(case)
        session.flush()
        session.add(CaseOutcome(run_id=run.id, case_id=case.id, status=status,
                                message="value 'LEAKED' out of range" if status == "invalid" else "",
                                # The platform's words (what scoring stores since migration 0020); an outcome
                                # stored before has none, and participants read a generic line instead.
                                participant_message="the value is above the maximum 1" if status == "invalid"
                                else None,
                                prediction={"p": 0.5}, values={"brier": 0.25}))
    session.commit()
    url = f"/api/v1/submissions/{mine.id}/cases"

    refused = client.get(url, headers=_auth(lab_token))  # the phase does not show them yet
    assert refused.status_code == 404 and "per-case" in refused.get_json()["error"]
    phase.case_results_visible = True
    session.commit()
    seen = client.get(url, headers=_auth(lab_token)).get_json()
    assert seen["part"] == "public" and [c["case_id"] for c in seen["cases"]] == ["c-bad", "c-old", "c-pub"]
    assert seen["cases"][2]["values"] == {"brier": 0.25}
    assert [c["message"] for c in seen["cases"]] == ["the value is above the maximum 1", "no output for this case", ""]
    text = str(seen)
    assert "c-priv" not in text and "LEAKED" not in text and "HIDDEN-INPUT" not in text and "site" not in text
    assert client.get(url, headers=_auth(other_token)).status_code == 404
    everything = client.get(url, headers=_auth(lead_token)).get_json()
    assert everything["part"] == "all" and len(everything["cases"]) == 4 and "LEAKED" in str(everything)

    phase.results_published = False
    session.commit()
    hidden = client.get(url, headers=_auth(lab_token))
    assert hidden.status_code == 404 and "not published" in hidden.get_json()["error"]
