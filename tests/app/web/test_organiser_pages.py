"""The organisers' page of a challenge: requests to join (accept, decline), organisers (add, remove), who may
see it, and what a refused action says. Real SQLite, signed in with a password through the sign-in form."""

from __future__ import annotations

import functools
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Challenge, Participation, ParticipationStatus, User
from app.queries.phases import get_challenge
from app.resources import Resources
from app.usecases.accounts import hash_password
from app.usecases.membership import add_organiser, list_organisers, request_to_join
from app.usecases.users import create_user
from tests.app.web.test_accounts import PASSWORD, csrf_of, sign_in_form

CHALLENGE = "lesion-screening"
MANAGE = f"/challenges/{CHALLENGE}/manage"


@functools.cache
def _password_hash() -> str:
    """One argon2 hash of PASSWORD for every user here (hashing is slow on purpose)."""
    return hash_password(PASSWORD)


@pytest.fixture
def world(resources: Resources) -> None:
    """A challenge (join policy review, with terms; no phases: not needed here) organised by `lead`; `vendor` and
    `lab` asked to join; `helper` and `stranger` have accounts and nothing else."""
    with resources.session() as db:
        db.add(Challenge(slug=CHALLENGE, title="Lesion screening", join_policy="review",
                         terms="Scores may be published."))
        users = {name: create_user(db, name, email=f"{name}@example.org")[0]
                 for name in ("lead", "vendor", "lab", "helper", "stranger")}
        for user in users.values():
            user.password_hash = _password_hash()
        challenge = get_challenge(db, CHALLENGE)
        add_organiser(db, challenge, "lead")
        for name in ("vendor", "lab"):
            request_to_join(db, challenge, users[name], accept_terms=True)


def signed_in(client: FlaskClient, username: str) -> str:
    """Sign in with the password; returns a CSRF token for the forms."""
    assert sign_in_form(client, username, PASSWORD).status_code == 302
    return csrf_of(client, "/account")


def status_of(db: Session, username: str) -> str:
    db.expire_all()
    return db.scalars(select(Participation.status).join(User, User.id == Participation.user_id)
                      .where(User.username == username)).one()


def organisers_now(db: Session) -> list[str]:
    db.expire_all()
    return list_organisers(db, get_challenge(db, CHALLENGE))


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True).replace("&#39;", "'")


def problem(page: str, section: str) -> str:
    found = re.search(rf'id="{section}-problem">([^<]*)<', page)
    assert found is not None, section
    return found.group(1)


def test_the_page_lists_requests_pending_first_and_the_organisers(client: FlaskClient, session: Session,
                                                                 world: None) -> None:
    session.execute(update(Participation).where(Participation.user_id == session.scalar(
        select(User.id).where(User.username == "vendor"))).values(status=ParticipationStatus.ACCEPTED))
    session.commit()
    signed_in(client, "lead")
    response = client.get(MANAGE)
    assert response.status_code == 200
    page = text(response)
    assert page.index('id="request-lab"') < page.index('id="request-vendor"')  # pending first, though asked later
    lab = page[page.index('id="request-lab"'):page.index('id="request-vendor"')]
    assert "pending" in lab and 'value="accept"' in lab and 'value="decline"' in lab
    vendor = page[page.index('id="request-vendor"'):page.index("</tbody>")]
    assert "accepted" in vendor and 'value="accept"' not in vendor and 'value="decline"' in vendor
    shown = re.sub(r"<[^>]+>", "", lab)
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", shown)) == 2  # requested at, terms accepted at
    assert 'id="organiser-lead"' in page and "(you)" in page
    assert 'name="username"' in page and 'name="csrf"' in page


def test_an_organiser_accepts_a_request(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/participants/vendor", data={"csrf": csrf, "decision": "accept"})
    assert response.status_code == 302 and response.headers["Location"].endswith(MANAGE)
    assert status_of(session, "vendor") == ParticipationStatus.ACCEPTED
    assert status_of(session, "lab") == ParticipationStatus.PENDING
    assert "vendor takes part in" in text(client.get(MANAGE))  # flashed


def test_an_organiser_declines_a_request(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/participants/lab", data={"csrf": csrf, "decision": "decline"})
    assert response.status_code == 302
    assert status_of(session, "lab") == ParticipationStatus.REJECTED
    page = text(client.get(MANAGE))
    assert "lab's request to join" in page and "declined" in page


@pytest.mark.parametrize(("username", "decision", "status", "says"), [
    ("vendor", "maybe", 400, "Choose accept or decline."),
    ("vendor", "", 400, "Choose accept or decline."),
    ("nobody", "accept", 404, "No user 'nobody'."),
    ("helper", "accept", 404, "'helper' has not asked to join"),
    ("no\x00body", "accept", 404, "No user"),  # never looked up
])
def test_a_bad_decision_says_why_and_changes_nothing(client: FlaskClient, session: Session, world: None,
                                                     username: str, decision: str, status: int, says: str) -> None:
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/participants/{username}",
                           data={"csrf": csrf, "decision": decision})
    assert response.status_code == status
    assert says in problem(text(response), "requests")
    assert status_of(session, "vendor") == status_of(session, "lab") == ParticipationStatus.PENDING


def test_an_organiser_adds_an_organiser_by_username(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/organisers", data={"csrf": csrf, "username": " helper "})
    assert response.status_code == 302 and response.headers["Location"].endswith(MANAGE)
    assert organisers_now(session) == ["helper", "lead"]
    assert "helper organises" in text(client.get(MANAGE))
    again = client.post(f"/challenges/{CHALLENGE}/organisers", data={"csrf": csrf, "username": "helper"})
    assert again.status_code == 302 and "helper already organises" in text(client.get(MANAGE))
    # The new organiser manages the challenge too, and sees the link on its page.
    other = client.application.test_client()
    signed_in(other, "helper")
    assert other.get(MANAGE).status_code == 200
    assert 'id="manage-link"' in text(other.get(f"/challenges/{CHALLENGE}"))


@pytest.mark.parametrize(("username", "status", "says"), [
    ("nobody", 404, "There is no user called 'nobody'"),
    ("", 400, "Fill this in."),
    ("   ", 400, "Fill this in."),
    ("x" * 81, 400, "Field cannot be longer than 80 characters."),
    ("no body\x00", 404, "There is no user called"),
])
def test_adding_a_bad_username_says_why(client: FlaskClient, session: Session, world: None, username: str,
                                        status: int, says: str) -> None:
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/organisers", data={"csrf": csrf, "username": username})
    assert response.status_code == status
    found = re.search(r'<span class="error" id="username-error">([^<]*)</span>', text(response))
    assert found is not None and says in found.group(1)
    assert organisers_now(session) == ["lead"]


def test_removing_an_organiser_and_never_the_last(client: FlaskClient, session: Session, world: None) -> None:
    add_organiser(session, get_challenge(session, CHALLENGE), "helper")
    session.commit()
    csrf = signed_in(client, "lead")
    response = client.post(f"/challenges/{CHALLENGE}/organisers/helper/remove", data={"csrf": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith(MANAGE)
    assert organisers_now(session) == ["lead"]
    assert "helper no longer organises" in text(client.get(MANAGE))

    last = client.post(f"/challenges/{CHALLENGE}/organisers/lead/remove", data={"csrf": csrf})
    assert last.status_code == 409
    assert "'lead' is the challenge's only organiser; add another first." in problem(text(last), "organisers")
    assert organisers_now(session) == ["lead"]

    not_one = client.post(f"/challenges/{CHALLENGE}/organisers/vendor/remove", data={"csrf": csrf})
    assert not_one.status_code == 404 and "does not organise" in problem(text(not_one), "organisers")


def test_an_organiser_who_removes_themselves_goes_back_to_the_challenge(client: FlaskClient, session: Session,
                                                                       world: None) -> None:
    add_organiser(session, get_challenge(session, CHALLENGE), "helper")
    session.commit()
    csrf = signed_in(client, "helper")
    response = client.post(f"/challenges/{CHALLENGE}/organisers/helper/remove", data={"csrf": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/challenges/{CHALLENGE}")
    assert organisers_now(session) == ["lead"]
    assert client.get(MANAGE).status_code == 403


def test_a_site_admin_manages_every_challenge(client: FlaskClient, session: Session, world: None) -> None:
    session.execute(update(User).where(User.username == "stranger").values(is_admin=True))
    session.commit()
    csrf = signed_in(client, "stranger")
    assert client.get(MANAGE).status_code == 200
    assert client.post(f"/challenges/{CHALLENGE}/participants/lab",
                       data={"csrf": csrf, "decision": "accept"}).status_code == 302
    assert status_of(session, "lab") == ParticipationStatus.ACCEPTED


def test_others_get_a_403_and_change_nothing(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "vendor")
    page = client.get(MANAGE)
    assert page.status_code == 403 and "Only the organisers of" in text(page)
    assert 'id="manage-link"' not in text(client.get(f"/challenges/{CHALLENGE}"))
    attempts = [
        client.post(f"/challenges/{CHALLENGE}/participants/vendor", data={"csrf": csrf, "decision": "accept"}),
        client.post(f"/challenges/{CHALLENGE}/participants/lab", data={"csrf": csrf, "decision": "decline"}),
        client.post(f"/challenges/{CHALLENGE}/organisers", data={"csrf": csrf, "username": "vendor"}),
        client.post(f"/challenges/{CHALLENGE}/organisers/lead/remove", data={"csrf": csrf}),
    ]
    assert [r.status_code for r in attempts] == [403] * 4
    assert status_of(session, "vendor") == status_of(session, "lab") == ParticipationStatus.PENDING
    assert organisers_now(session) == ["lead"]


def test_anonymous_visitors_go_to_sign_in(client: FlaskClient, session: Session, world: None) -> None:
    response = client.get(MANAGE)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]
    csrf = csrf_of(client)
    refused = client.post(f"/challenges/{CHALLENGE}/organisers", data={"csrf": csrf, "username": "stranger"})
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert organisers_now(session) == ["lead"]
    assert 'id="manage-link"' not in text(client.get(f"/challenges/{CHALLENGE}"))


def test_an_unknown_challenge_is_a_404(client: FlaskClient, world: None) -> None:
    signed_in(client, "lead")
    assert client.get("/challenges/no-such-challenge/manage").status_code == 404
    assert client.post("/challenges/no-such-challenge/organisers",
                       data={"csrf": csrf_of(client, "/account"), "username": "helper"}).status_code == 404


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, session: Session, world: None) -> None:
    signed_in(client, "lead")
    attempts = [
        client.post(f"/challenges/{CHALLENGE}/participants/vendor", data={"decision": "accept"}),
        client.post(f"/challenges/{CHALLENGE}/organisers", data={"username": "helper"}),
        client.post(f"/challenges/{CHALLENGE}/organisers/lead/remove", data={"csrf": "forged"}),
    ]
    assert [r.status_code for r in attempts] == [400] * 3
    assert all("did not come from this site" in text(r) for r in attempts)
    assert status_of(session, "vendor") == ParticipationStatus.PENDING
    assert organisers_now(session) == ["lead"]
