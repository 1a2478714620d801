"""Organisers hide a submission from the leaderboard with a reason; its participant reads it; it can come back."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidFields, NotFound
from app.queries.leaderboard import build_leaderboard
from app.usecases.membership import add_organiser
from app.usecases.moderation import set_hidden
from app.usecases.users import create_user, issue_token
from tests.app.usecases.test_final_selection import _phase, _scored


def test_hide_and_show(session: Session, client: FlaskClient) -> None:
    phase = _phase(session, split=False)
    lab, _ = create_user(session, "lab")
    other, _ = create_user(session, "other")
    lead, _ = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    cheat = _scored(session, phase, lab, 0.99, 0.99)
    honest = _scored(session, phase, other, 0.70, 0.70)
    session.commit()
    # No score on the "all" part in this fixture: rank the public part while the phase runs.
    assert [r.participant for r in build_leaderboard(session, phase, subset="public").rows] == ["lab", "other"]

    with pytest.raises(Forbidden):
        set_hidden(session, cheat.id, lab, hidden=False)  # its own participant may not
    with pytest.raises(NotFound):
        set_hidden(session, cheat.id, other, hidden=True, reason="x")  # nor anyone else (who cannot see it)
    with pytest.raises(InvalidFields):
        set_hidden(session, cheat.id, lead, hidden=True, reason="   ")  # a reason is needed
    set_hidden(session, cheat.id, lead, hidden=True, reason="two accounts for one team")
    session.commit()
    assert [r.submission_id for r in build_leaderboard(session, phase, subset="public").rows] == [honest.id]

    token = issue_token(session, "lab")
    session.commit()
    seen = client.get(f"/api/v1/submissions/{cheat.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert seen["hidden"] and seen["hidden_reason"] == "two accounts for one team"
    lead_token = issue_token(session, "lead")
    session.commit()
    answer = client.post(f"/api/v1/submissions/{cheat.id}/visibility", json={"hidden": False},
                         headers={"Authorization": f"Bearer {lead_token}"})
    assert answer.status_code == 200 and not answer.get_json()["hidden"]
    session.expire_all()
    assert len(build_leaderboard(session, phase, subset="public").rows) == 2
