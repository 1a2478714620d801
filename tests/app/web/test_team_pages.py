"""The team page: create a team, invite, accept, decline, withdraw, leave, with clear messages when a rule
refuses. Real SQLite, signed in with a password through the sign-in form."""

from __future__ import annotations

import functools
import html

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Team, TeamInvitation
from app.resources import Resources
from app.usecases.accounts import hash_password
from app.usecases.users import create_user
from tests.app.web.test_accounts import PASSWORD, csrf_of, sign_in_form
from tests.integration.helpers import CHALLENGE, apply_example

TEAM_PAGE = f"/challenges/{CHALLENGE}/team"


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def world(resources: Resources) -> None:
    apply_example(resources)
    with resources.session() as db:
        for name in ("ada", "bob", "cy"):
            create_user(db, name, email=f"{name}@example.org")[0].password_hash = _password_hash()


def _signed_in(app_client: FlaskClient, username: str) -> str:
    assert sign_in_form(app_client, username, PASSWORD).status_code == 302
    return csrf_of(app_client, "/account")


def _team(db: Session, name: str) -> Team:
    db.expire_all()
    return db.scalars(select(Team).where(Team.name == name)).one()


def test_create_invite_accept_and_leave(app, world, session: Session) -> None:  # type: ignore[no-untyped-def]
    ada, bob = app.test_client(), app.test_client()
    ada_csrf, bob_csrf = _signed_in(ada, "ada"), _signed_in(bob, "bob")
    page = ada.get(TEAM_PAGE).get_data(as_text=True)
    assert "You compete on your own" in page and "Create a team" in page
    answer = ada.post(TEAM_PAGE, data={"csrf": ada_csrf, "name": "Lab A"})
    assert answer.status_code == 302
    page = ada.get(TEAM_PAGE).get_data(as_text=True)
    assert "You created the team" in page and "Invite by username" in page
    team_id = _team(session, "Lab A").id
    assert ada.post(f"/teams/{team_id}/invite", data={"csrf": ada_csrf, "username": "bob"}).status_code == 302
    page = bob.get(TEAM_PAGE).get_data(as_text=True)
    assert "Lab A" in page and "invited by ada" in page
    invitation_id = session.scalars(select(TeamInvitation.id)).one()
    # cy cannot answer bob's invitation: it does not exist for her.
    cy = app.test_client()
    cy_csrf = _signed_in(cy, "cy")
    assert cy.post(f"/invitations/{invitation_id}/accept", data={"csrf": cy_csrf}).status_code == 404
    assert bob.post(f"/invitations/{invitation_id}/accept", data={"csrf": bob_csrf}).status_code == 302
    assert [m.user.username for m in _team(session, "Lab A").members] == ["ada", "bob"]
    assert "You joined the team" in bob.get(TEAM_PAGE).get_data(as_text=True)
    assert bob.post(f"/teams/{team_id}/leave", data={"csrf": bob_csrf}).status_code == 302
    assert [m.user.username for m in _team(session, "Lab A").members] == ["ada"]


def test_refusals_are_shown_on_the_page(app, world, session: Session) -> None:  # type: ignore[no-untyped-def]
    ada = app.test_client()
    csrf = _signed_in(ada, "ada")
    answer = ada.post(TEAM_PAGE, data={"csrf": csrf, "name": "x"})
    assert answer.status_code == 400 and "a team name is 3-64" in answer.get_data(as_text=True)
    answer = ada.post(TEAM_PAGE, data={"csrf": csrf, "name": "bob"})
    assert answer.status_code == 409 and "is a participant's username" in html.unescape(answer.get_data(as_text=True))
    ada.post(TEAM_PAGE, data={"csrf": csrf, "name": "Lab A"})
    team_id = _team(session, "Lab A").id
    answer = ada.post(f"/teams/{team_id}/invite", data={"csrf": csrf, "username": "nobody"})
    assert answer.status_code == 404 and "no user 'nobody'" in html.unescape(answer.get_data(as_text=True))
    assert 'value="nobody"' in answer.get_data(as_text=True)  # what was typed is kept
    # Without the form token, nothing happens.
    assert ada.post(f"/teams/{team_id}/invite", data={"username": "bob"}).status_code == 400
    assert session.scalars(select(TeamInvitation)).all() == []


def test_decline_and_withdraw(app, world, session: Session) -> None:  # type: ignore[no-untyped-def]
    ada, bob = app.test_client(), app.test_client()
    ada_csrf, bob_csrf = _signed_in(ada, "ada"), _signed_in(bob, "bob")
    ada.post(TEAM_PAGE, data={"csrf": ada_csrf, "name": "Lab A"})
    team_id = _team(session, "Lab A").id
    for name in ("bob", "cy"):
        ada.post(f"/teams/{team_id}/invite", data={"csrf": ada_csrf, "username": name})
    to_bob, to_cy = session.scalars(select(TeamInvitation.id).order_by(TeamInvitation.id)).all()
    assert bob.post(f"/invitations/{to_bob}/decline", data={"csrf": bob_csrf}).status_code == 302
    assert ada.post(f"/invitations/{to_cy}/decline", data={"csrf": ada_csrf, "withdraw": "1"}).status_code == 302
    session.expire_all()
    assert session.scalars(select(TeamInvitation)).all() == []
    assert "The invitation was withdrawn." in ada.get(TEAM_PAGE).get_data(as_text=True)
