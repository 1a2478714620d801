"""The organisers' list of every submission in a phase: who, which team, state, score; cancel what runs."""

from __future__ import annotations

import functools

from flask import Flask
from sqlalchemy import select

from app.models import EvaluationRun, Phase, Score, Submission, SubmissionState, Team, TeamMember
from app.queries.phases import get_challenge
from app.resources import Resources
from app.usecases.accounts import hash_password
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.web.test_accounts import PASSWORD, csrf_of, sign_in_form
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

PAGE = f"/challenges/{CHALLENGE}/{PHASE}/submissions"


@functools.cache
def _hash() -> str:
    return hash_password(PASSWORD)


def test_organisers_see_every_submission_and_others_do_not(app: Flask, resources: Resources) -> None:
    apply_example(resources)
    with resources.session() as db:
        users = {n: create_user(db, n, email=f"{n}@example.org")[0] for n in ("lead", "ada", "bob")}
        for user in users.values():
            user.password_hash = _hash()
        challenge = get_challenge(db, CHALLENGE)
        add_organiser(db, challenge, "lead")
        phase = db.scalars(select(Phase).where(Phase.challenge_id == challenge.id)).one()
        team = Team(challenge_id=challenge.id, name="Lab A")
        team.members.append(TeamMember(user_id=users["ada"].id, challenge_id=challenge.id))
        db.add(team)
        db.flush()
        scored = Submission(phase_id=phase.id, user_id=users["ada"].id, team_id=team.id, upload_key="k",
                            state=SubmissionState.SUCCEEDED, comment="first try")
        running = Submission(phase_id=phase.id, user_id=users["bob"].id, upload_key="k",
                             state=SubmissionState.QUEUED)
        db.add_all([scored, running])
        db.flush()
        run = EvaluationRun(submission_id=scored.id, test_set_id=phase.current_test_set_id)
        db.add(run)
        db.flush()
        db.add(Score(run_id=run.id, metric=phase.ranking_metric, subset="all", value=0.8771))
        ids = scored.id, running.id
    lead = app.test_client()
    assert sign_in_form(lead, "lead", PASSWORD).status_code == 302
    page = lead.get(PAGE).get_data(as_text=True)
    assert f'id="submission-{ids[0]}"' in page and f'id="submission-{ids[1]}"' in page
    assert "Lab A" in page and "0.877" in page
    assert page.index(f"submission-{ids[1]}") < page.index(f"submission-{ids[0]}")  # newest first
    assert page.count(">Cancel</button>") == 1  # only the unfinished one
    answer = lead.post(f"/submissions/{ids[1]}/cancel", data={"csrf": csrf_of(lead, "/account")})
    assert answer.status_code == 302
    assert "cancelled" in lead.get(PAGE).get_data(as_text=True)
    csrf = csrf_of(lead, "/account")
    assert "Lab A" in client_board(app)  # ranked, until hidden
    assert lead.post(f"/submissions/{ids[0]}/visibility", data={"csrf": csrf, "hidden": "1"}).status_code == 400
    hidden = lead.post(f"/submissions/{ids[0]}/visibility",
                       data={"csrf": csrf, "hidden": "1", "reason": "shared weights with another team"})
    assert hidden.status_code == 302 and hidden.headers["Location"] == PAGE
    page = lead.get(PAGE).get_data(as_text=True)
    assert "is hidden from the leaderboard" in page and "Show again" in page
    assert "Lab A" not in client_board(app)
    # A participant, even one with submissions in the phase, is refused.
    ada = app.test_client()
    assert sign_in_form(ada, "ada", PASSWORD).status_code == 302
    refused = ada.get(PAGE)
    assert refused.status_code == 403 and "0.877" not in refused.get_data(as_text=True)
    own = ada.get(f"/submissions/{ids[0]}").get_data(as_text=True)
    assert 'id="hidden-note"' in own and "shared weights with another team" in own


def client_board(app: Flask) -> str:
    return app.test_client().get(f"/challenges/{CHALLENGE}/{PHASE}/leaderboard").get_data(as_text=True)
