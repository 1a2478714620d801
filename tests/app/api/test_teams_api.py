"""Teams through the REST API: the whole flow, the answers for strangers, and what a team shares."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from app.models import Phase, Submission, SubmissionState
from app.resources import Resources
from tests.integration.helpers import CHALLENGE, PHASE, apply_example, make_user


def _call(client: FlaskClient, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
    return response.status_code, response.get_json()


def test_create_invite_accept_leave(client: FlaskClient, resources: Resources) -> None:
    apply_example(resources)
    ada, bob, cy = (make_user(resources, name) for name in ("ada", "bob", "cy"))
    status, team = _call(client, "POST", f"/challenges/{CHALLENGE}/teams", ada, json={"name": "Lab A"})
    assert status == 201 and team["members"] == ["ada"] and team["invited"] == []
    status, invitation = _call(client, "POST", f"/teams/{team['id']}/invitations", ada, json={"username": "bob"})
    assert status == 201 and invitation["username"] == "bob" and invitation["invited_by"] == "ada"
    assert _call(client, "GET", f"/challenges/{CHALLENGE}/team", ada)[1]["invited"] == ["bob"]
    status, mine = _call(client, "GET", "/invitations", bob)
    assert status == 200 and [i["team"] for i in mine] == ["Lab A"]
    assert _call(client, "GET", "/invitations", cy) == (200, [])
    # Someone else's invitation, a team one is not in, and ids past any database's integers: 404.
    assert _call(client, "POST", f"/invitations/{invitation['id']}/accept", cy)[0] == 404
    assert _call(client, "POST", f"/teams/{team['id']}/invitations", cy, json={"username": "cy"})[0] == 404
    assert _call(client, "POST", "/teams/99999999999/leave", ada)[0] == 404
    assert _call(client, "GET", f"/challenges/{CHALLENGE}/team", cy)[0] == 404
    status, joined = _call(client, "POST", f"/invitations/{invitation['id']}/accept", bob)
    assert status == 200 and joined["members"] == ["ada", "bob"]
    status, public = _call(client, "GET", f"/challenges/{CHALLENGE}/teams")
    assert status == 200 and [(t["name"], t["members"]) for t in public] == [("Lab A", ["ada", "bob"])]
    assert public[0].get("invited") is None  # who is invited is the team's business
    status, limits = _call(client, "GET", f"/challenges/{CHALLENGE}/phases/{PHASE}/limits", bob)
    assert status == 200 and limits["counted_for"] == "your team 'Lab A'"
    status, left = _call(client, "POST", f"/teams/{team['id']}/leave", bob)
    assert status == 200 and left["members"] == ["ada"]
    assert _call(client, "GET", f"/challenges/{CHALLENGE}/team", bob)[0] == 404


def test_bad_requests_say_what_is_wrong(client: FlaskClient, resources: Resources) -> None:
    apply_example(resources)
    ada = make_user(resources, "ada")
    for body, status in (({"name": ""}, 422), ({"title": "x"}, 422), ({"name": "<b>"}, 400)):
        answer = _call(client, "POST", f"/challenges/{CHALLENGE}/teams", ada, json=body)
        assert answer[0] == status and answer[1]["error"], answer
    assert _call(client, "POST", f"/challenges/{CHALLENGE}/teams", None, json={"name": "Lab"})[0] == 401
    assert _call(client, "POST", "/challenges/no-such/teams", ada, json={"name": "Lab"})[0] == 404
    _, team = _call(client, "POST", f"/challenges/{CHALLENGE}/teams", ada, json={"name": "Lab A"})
    status, answer = _call(client, "POST", f"/teams/{team['id']}/invitations", ada, json={"username": "nobody"})
    assert status == 404 and "nobody" in answer["error"]
    status, answer = _call(client, "POST", f"/challenges/{CHALLENGE}/teams", ada, json={"name": "Lab B"})
    assert status == 409 and "already in a team" in answer["error"]


def test_team_mates_read_each_others_submissions_and_others_do_not(client: FlaskClient,
                                                                   resources: Resources) -> None:
    apply_example(resources)
    ada, bob, cy = (make_user(resources, name) for name in ("ada", "bob", "cy"))
    _, team = _call(client, "POST", f"/challenges/{CHALLENGE}/teams", ada, json={"name": "Lab A"})
    _, invitation = _call(client, "POST", f"/teams/{team['id']}/invitations", ada, json={"username": "bob"})
    _call(client, "POST", f"/invitations/{invitation['id']}/accept", bob)
    with resources.session() as session:
        phase = session.scalars(select(Phase).where(Phase.slug == PHASE)).first()
        assert phase is not None
        from app.models import User

        owner = session.scalars(select(User).where(User.username == "ada")).one()
        made = Submission(phase_id=phase.id, user_id=owner.id, team_id=team["id"], state=SubmissionState.QUEUED,
                          upload_key="k")
        session.add(made)
        session.flush()
        submission_id = made.id
    status, seen = _call(client, "GET", f"/submissions/{submission_id}", bob)
    assert status == 200 and seen["participant"] == "ada" and seen["team"] == "Lab A"
    assert _call(client, "GET", f"/submissions/{submission_id}", cy)[0] == 404
    assert [s["id"] for s in _call(client, "GET", f"/challenges/{CHALLENGE}/phases/{PHASE}/submissions", bob)[1]
            ] == [submission_id]
    status, cancelled = _call(client, "POST", f"/submissions/{submission_id}/cancel", bob)
    assert status == 200 and cancelled["state"] == "cancelled"
    # The team has submitted: its members are fixed.
    status, answer = _call(client, "POST", f"/teams/{team['id']}/leave", bob)
    assert status == 409 and "has submitted" in answer["error"]
