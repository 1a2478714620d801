"""Accounts on the site: sign-up, sign-in (rate-limited), sign-out, password change and reset through the outbox,
which sessions end when, and CSRF on every form. Real SQLite; the rate limit also on PostgreSQL."""

from __future__ import annotations

import email
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import app.usecases.accounts as accounts
from app.config import Settings
from app.errors import RateLimited
from app.models import ApiToken, SignInAttempt, User
from app.models._types import utcnow
from app.resources import Resources
from app.usecases.accounts import PASSWORD_RULE, WrongCredentials, password_problem, sign_in, sign_up
from app.usecases.mail import Mailer
from app.usecases.sign_in_limits import MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES
from app.usecases.users import create_user
from tests.conftest import migrate

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found is not None, path
    return found.group(1)


def signed_up(client: FlaskClient, username: str = "ada", mail: str = "ada@example.org",
              password: str = PASSWORD) -> FlaskClient:
    response = client.post("/signup", data={"csrf": csrf_of(client, "/signup"), "username": username,
                                            "email": mail, "password": password, "confirm": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def sign_in_form(client: FlaskClient, login: str, password: str, address: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"csrf": csrf_of(client), "login": login, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def signed_in_as(client: FlaskClient) -> str | None:
    """The username base.html shows, or None for an anonymous visitor."""
    found = re.search(r'id="current-user">([^<]+)<', client.get("/").get_data(as_text=True))
    return found.group(1) if found else None


def outbox(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def reset_path(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https?://[^/\s]+(/password-reset/\S+)", body.decode())
    assert found is not None, body
    return found.group(1)


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Move the accounts' clock forward by a given time."""
    def move(by: timedelta) -> None:
        moment = utcnow() + by
        monkeypatch.setattr(accounts, "utcnow", lambda: moment)
    return move


# --- sign-up ----------------------------------------------------------------------------------------------------

def test_sign_up_creates_an_account_with_an_argon2_hash_and_signs_in(client: FlaskClient, session: Session) -> None:
    page = client.get("/signup").get_data(as_text=True)
    assert PASSWORD_RULE in page.replace("&#39;", "'")  # the form says the rule
    signed_up(client, "ada", "Ada@Example.org")
    assert signed_in_as(client) == "ada"
    user = session.scalars(select(User).where(User.username == "ada")).one()
    assert user.email == "ada@example.org"
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_sign_up_shows_each_problem_next_to_its_field(client: FlaskClient, session: Session) -> None:
    create_user(session, "taken")
    session.commit()
    response = client.post("/signup", data={"csrf": csrf_of(client, "/signup"), "username": "Taken",
                                            "email": "not-an-address", "password": "short1A",
                                            "confirm": "different"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)

    def error_of(field: str) -> str:
        found = re.search(rf'<span class="error" id="{field}-error">([^<]*)</span>', page)
        assert found is not None, field
        return found.group(1).replace("&#39;", "'")

    assert "taken" in error_of("username")
    assert "name@example.org" in error_of("email")
    assert "differ" in error_of("confirm")
    assert 'aria-invalid="true"' in page
    assert session.scalar(select(User).where(User.email == "not-an-address")) is None


@pytest.mark.parametrize(("password", "fine"), [
    ("abcdefghijkl", True),  # 12 characters
    ("abcdefghijk", False),  # 11 of one kind
    ("abcDEF12", True),  # 8 that mix three kinds
    ("abcdef1!", True),
    ("abcdefg1", False),  # 8, two kinds
    ("aB3!", False),
    ("x" * 1025, False),
])
def test_the_password_rule(password: str, fine: bool) -> None:
    assert (password_problem(password) is None) == fine
    assert password_problem("adalovelace1", username="AdaLovelace1") is not None  # not the username


def test_a_second_account_cannot_take_the_same_email(client: FlaskClient) -> None:
    signed_up(client, "ada", "ada@example.org")
    other = client.application.test_client()
    response = other.post("/signup", data={"csrf": csrf_of(other, "/signup"), "username": "bob",
                                           "email": "ADA@example.org", "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 400 and "already uses this address" in response.get_data(as_text=True)


# --- sign-in and sign-out ---------------------------------------------------------------------------------------

def test_sign_in_with_the_username_or_the_email_and_sign_out(app: Flask) -> None:
    signed_up(app.test_client(), "ada", "ada@example.org")
    for login in ("ada", "ada@example.org", "ADA@example.org"):
        client = app.test_client()
        response = sign_in_form(client, login, PASSWORD)
        assert response.status_code == 302 and response.headers["Location"] == "/"
        assert signed_in_as(client) == "ada"
    client.post("/logout", data={"csrf": csrf_of(client, "/")})
    assert signed_in_as(client) is None
    assert client.get("/account").status_code == 302


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(app: Flask) -> None:
    signed_up(app.test_client(), "ada", "ada@example.org")
    wrong = sign_in_form(app.test_client(), "ada", "not the password")
    unknown = sign_in_form(app.test_client(), "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert accounts.WRONG_CREDENTIALS in response.get_data(as_text=True)
    client = app.test_client()
    sign_in_form(client, "ada", "not the password")
    assert signed_in_as(client) is None


def test_sign_in_redirects_only_within_the_site(app: Flask) -> None:
    signed_up(app.test_client())
    client = app.test_client()
    response = client.post("/login?next=//evil.example/", data={"csrf": csrf_of(client), "login": "ada",
                                                                "password": PASSWORD})
    assert response.headers["Location"] == "/"


# --- the rate limit ---------------------------------------------------------------------------------------------

def test_five_failures_lock_the_account_for_fifteen_minutes_with_a_clear_message(app: Flask, later) -> None:  # type: ignore[no-untyped-def]
    signed_up(app.test_client(), "ada", "ada@example.org")
    client = app.test_client()
    for attempt in range(MAX_ACCOUNT_FAILURES):
        # the account counts, however it is named and from wherever
        login = "ada" if attempt % 2 else "ada@example.org"
        assert sign_in_form(client, login, "wrong", address=f"10.0.0.{attempt}").status_code == 401
    refused = sign_in_form(client, "ada", PASSWORD, address="10.9.9.9")  # the right password, too late
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    assert "Too many failed sign-ins for this account" in text and "Try again after" in text
    assert signed_in_as(client) is None
    # other accounts are not affected
    signed_up(app.test_client(), "bob", "bob@example.org")
    assert sign_in_form(app.test_client(), "bob", PASSWORD).status_code == 302

    later(timedelta(minutes=14))
    assert sign_in_form(client, "ada", PASSWORD).status_code == 429
    later(timedelta(minutes=16))
    assert sign_in_form(client, "ada", PASSWORD).status_code == 302


def test_a_success_clears_the_accounts_failures(app: Flask) -> None:
    signed_up(app.test_client(), "ada", "ada@example.org")
    client = app.test_client()
    for _ in range(MAX_ACCOUNT_FAILURES - 1):
        assert sign_in_form(client, "ada", "wrong").status_code == 401
    assert sign_in_form(client, "ada", PASSWORD).status_code == 302
    for _ in range(MAX_ACCOUNT_FAILURES - 1):
        assert sign_in_form(app.test_client(), "ada", "wrong").status_code == 401
    assert sign_in_form(app.test_client(), "ada", PASSWORD).status_code == 302


def test_unknown_names_are_limited_like_accounts(app: Flask) -> None:
    client = app.test_client()
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert sign_in_form(client, "nobody", "wrong").status_code == 401
    assert sign_in_form(client, "nobody", "wrong").status_code == 429


def test_one_address_guessing_across_accounts_is_locked_out(app: Flask) -> None:
    signed_up(app.test_client(), "ada", "ada@example.org")
    client = app.test_client()
    for i in range(MAX_ADDRESS_FAILURES):
        assert sign_in_form(client, f"victim-{i}", "wrong", address="10.6.6.6").status_code == 401
    refused = sign_in_form(client, "ada", PASSWORD, address="10.6.6.6")
    assert refused.status_code == 429 and "from your network address" in refused.get_data(as_text=True)
    assert sign_in_form(app.test_client(), "ada", PASSWORD, address="10.7.7.7").status_code == 302


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    if request.param == "sqlite":
        settings = Settings.from_env({"PODIUM_DATA_DIR": str(tmp_path / "data"), "PODIUM_SECRET_KEY": "x"})
    else:
        settings = Settings.from_env({"PODIUM_DATA_DIR": str(tmp_path / "data"), "PODIUM_SECRET_KEY": "x",
                                      "PODIUM_DATABASE_URL": request.getfixturevalue("postgres_url")})
    migrate(settings.database_url)
    resources = Resources(settings)
    yield resources
    resources.close()


def test_a_burst_of_concurrent_guesses_checks_at_most_the_limit(any_database: Resources) -> None:
    """Attempts are recorded before their password is checked: 20 guesses at once, each in its own web process's
    transaction, get at most 5 passwords checked; the others are refused."""
    with any_database.session() as db:
        sign_up(db, username="ada", email="ada@example.org", password=PASSWORD)
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def guess(i: int) -> None:
        start.wait()
        try:
            with any_database.session() as db:
                sign_in(db, "ada", f"guess {i}", address=f"10.0.{i}.1")
        except WrongCredentials:
            outcomes.append("checked")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 20
    checked = outcomes.count("checked")
    assert 0 < checked <= MAX_ACCOUNT_FAILURES
    with any_database.session() as db:
        kept = sorted(db.scalars(select(SignInAttempt.outcome)).all())
    assert kept == ["failed"] * checked + ["refused"] * (20 - checked)  # none left pending


# --- password reset ---------------------------------------------------------------------------------------------

def test_the_reset_flow_through_the_outbox(app: Flask, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.usecases.accounts")
    old_session = signed_up(app.test_client(), "ada", "ada@example.org")
    assert signed_in_as(old_session) == "ada"

    client = app.test_client()
    response = client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"),
                                                     "email": "Ada@Example.org"})
    assert response.status_code == 302
    [written] = outbox(settings)
    assert f"reset link written to {written}" in caplog.text
    assert written.stat().st_mode & 0o077 == 0  # the link is a credential: only the site's user reads it
    message = email.message_from_bytes(written.read_bytes())
    assert message["To"] == "ada@example.org" and "password" in message["Subject"].lower()
    link = reset_path(message)

    page = client.get(link)
    assert page.status_code == 200 and "ada" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    weak = client.post(link, data={"csrf": csrf_of(client, link), "password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "Too short" in weak.get_data(as_text=True)
    done = client.post(link, data={"csrf": csrf_of(client, link), "password": NEW_PASSWORD,
                                   "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/login"

    assert signed_in_as(old_session) is None  # every session of the account ended
    assert sign_in_form(app.test_client(), "ada", PASSWORD).status_code == 401
    assert sign_in_form(app.test_client(), "ada", NEW_PASSWORD).status_code == 302
    again = client.get(link)  # the link works once
    assert again.status_code == 400 and "expired or was already used" in again.get_data(as_text=True)
    assert client.post(link, data={"csrf": csrf_of(client, "/password-reset"), "password": PASSWORD,
                                   "confirm": PASSWORD}).status_code == 400
    assert sign_in_form(app.test_client(), "ada", NEW_PASSWORD).status_code == 302


def test_a_reset_for_an_unknown_address_answers_exactly_like_a_known_one(app: Flask, settings: Settings) -> None:
    signed_up(app.test_client(), "ada", "ada@example.org")
    answers = []
    for address in ("ada@example.org", "nobody@example.org"):
        client = app.test_client()
        response = client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"),
                                                         "email": address})
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        flashed = re.findall(r'<p class="flash">([^<]*)</p>', page)
        answers.append((response.status_code, response.headers["Location"], flashed))
    assert answers[0] == answers[1]
    assert answers[0][0] == 302 and answers[0][2]
    assert len(outbox(settings)) == 1  # only the account's address got a message


def test_reset_mails_are_rate_limited_and_the_answer_does_not_change(app: Flask, settings: Settings) -> None:
    from app.usecases.sign_in_limits import MAX_RESET_MAILS_PER_ACCOUNT, MAX_RESET_REQUESTS_PER_ADDRESS

    signed_up(app.test_client(), "ada", "ada@example.org")
    answers = set()
    for _ in range(MAX_RESET_MAILS_PER_ACCOUNT + 2):
        client = app.test_client()
        response = client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"),
                                                         "email": "ada@example.org"})
        answers.add((response.status_code, response.headers["Location"]))
    assert answers == {(302, "/login")}
    assert len(outbox(settings)) == MAX_RESET_MAILS_PER_ACCOUNT  # no more mails to her within the hour
    # One client address asking for many accounts is stopped too (each request counts, known or not).
    signed_up(app.test_client(), "bob", "bob@example.org")
    for n in range(MAX_RESET_REQUESTS_PER_ADDRESS):
        client = app.test_client()
        client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"),
                                             "email": f"someone-{n}@example.org"})
    client = app.test_client()
    client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"), "email": "bob@example.org"})
    assert len(outbox(settings)) == MAX_RESET_MAILS_PER_ACCOUNT  # bob's link was not sent from this address


def test_a_reset_link_expires_after_an_hour(app: Flask, settings: Settings, later) -> None:  # type: ignore[no-untyped-def]
    signed_up(app.test_client(), "ada", "ada@example.org")
    client = app.test_client()
    client.post("/password-reset", data={"csrf": csrf_of(client, "/password-reset"), "email": "ada@example.org"})
    link = reset_path(email.message_from_bytes(outbox(settings)[0].read_bytes()))
    later(timedelta(minutes=59))
    assert client.get(link).status_code == 200
    later(timedelta(minutes=61))
    assert client.get(link).status_code == 400
    assert client.get("/password-reset/forged.token").status_code == 400


def test_a_reset_is_sent_by_smtp_when_a_mail_server_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, int, str, str, Message]] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            self.host, self.port, self.login_as = host, port, ("", "")

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def ehlo(self) -> None:
            pass

        def has_extn(self, name: str) -> bool:
            return False

        def login(self, user: str, password: str) -> None:
            self.login_as = (user, password)

        def send_message(self, message: Message) -> None:
            sent.append((self.host, self.port, *self.login_as, message))

    monkeypatch.setattr("smtplib.SMTP", FakeSMTP)
    mailer = Mailer(outbox=tmp_path / "outbox", sender="Podium <podium@example.org>",
                    smtp_url="smtp://podium%40example.org:s%3Acret@mail.example.org:2525")
    assert mailer.send("ada@example.org", "Reset", "a link") is None
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    [(host, port, user, password, message)] = sent
    assert (host, port, user, password) == ("mail.example.org", 2525, "podium@example.org", "s:cret")
    assert message["To"] == "ada@example.org"
    assert not (tmp_path / "outbox").exists()


# --- sessions end -----------------------------------------------------------------------------------------------

def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app: Flask) -> None:
    here = signed_up(app.test_client(), "ada", "ada@example.org")
    elsewhere = app.test_client()
    assert sign_in_form(elsewhere, "ada", PASSWORD).status_code == 302

    wrong = here.post("/account/password", data={"csrf": csrf_of(here, "/account"), "current_password": "nope",
                                                 "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert re.search(r'id="current_password-error">That is not your current password', wrong.get_data(as_text=True))
    assert signed_in_as(elsewhere) == "ada"

    changed = here.post("/account/password", data={"csrf": csrf_of(here, "/account"), "current_password": PASSWORD,
                                                   "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert changed.status_code == 302
    assert signed_in_as(here) == "ada"
    assert signed_in_as(elsewhere) is None
    assert elsewhere.get("/account").status_code == 302
    assert sign_in_form(app.test_client(), "ada", NEW_PASSWORD).status_code == 302


def test_revoking_the_token_a_session_started_with_ends_it_and_the_api_refuses_it(app: Flask,
                                                                                  session: Session) -> None:
    _, token = create_user(session, "operator-made")
    session.commit()
    client = app.test_client()
    assert client.post("/login", data={"csrf": csrf_of(client), "token": token}).status_code == 302
    assert signed_in_as(client) == "operator-made"
    page = client.get("/account").get_data(as_text=True)
    assert "Set a password" in page and "revoked or expires" in page  # no password yet; the session's token

    tokens = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).get_json()
    revoked = client.post(f"/tokens/{tokens[0]['id']}/revoke", data={"csrf": csrf_of(client, "/tokens")})
    assert revoked.status_code == 302
    assert signed_in_as(client) is None
    assert client.get("/tokens").status_code == 302
    assert client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_session_started_with_a_token_ends_when_the_token_expires(app: Flask, session: Session) -> None:
    user, token = create_user(session, "short-lived")
    session.commit()
    client = app.test_client()
    assert client.post("/login", data={"csrf": csrf_of(client), "token": token}).status_code == 302
    assert signed_in_as(client) == "short-lived"
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id)
                    .values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert signed_in_as(client) is None
    again = client.post("/login", data={"csrf": csrf_of(client), "token": token})
    assert again.status_code == 401 and "has expired" in again.get_data(as_text=True)


def test_a_password_session_does_not_end_when_a_token_is_revoked(app: Flask) -> None:
    client = signed_up(app.test_client(), "ada", "ada@example.org")
    created = client.post("/tokens", data={"csrf": csrf_of(client, "/tokens"), "name": "laptop", "days": "30"})
    assert created.status_code == 201
    token_id = re.search(r'id="token-(\d+)"', created.get_data(as_text=True))
    assert token_id is not None
    client.post(f"/tokens/{token_id.group(1)}/revoke", data={"csrf": csrf_of(client, "/tokens")})
    assert signed_in_as(client) == "ada"


# --- the tokens page --------------------------------------------------------------------------------------------

def test_the_tokens_page_shows_a_new_secret_once(app: Flask, session: Session) -> None:
    client = signed_up(app.test_client(), "ada", "ada@example.org")
    created = client.post("/tokens", data={"csrf": csrf_of(client, "/tokens"), "name": "CI", "days": "7"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    secret = re.search(r'id="token-secret">(pod_[^<]+)<', page)
    assert secret is not None
    assert client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 200
    listed = client.get("/tokens").get_data(as_text=True)
    assert "CI" in listed and secret.group(1) not in listed
    bad = client.post("/tokens", data={"csrf": csrf_of(client, "/tokens"), "name": "", "days": "400"})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert 'id="name-error"' in text and 'id="days-error">From 1 to 365 days' in text


# --- CSRF -------------------------------------------------------------------------------------------------------

def test_every_form_refuses_a_post_without_its_csrf_token(app: Flask, session: Session) -> None:
    _, token = create_user(session, "victim")
    session.commit()
    client = app.test_client()
    assert client.post("/login", data={"csrf": csrf_of(client), "token": token}).status_code == 302
    stranger = app.test_client()
    foreign = csrf_of(stranger)  # a valid token of another session
    posts = [("/signup", {"username": "forged", "email": "f@example.org", "password": PASSWORD,
                          "confirm": PASSWORD}),
             ("/login", {"login": "victim", "password": PASSWORD}),
             ("/password-reset", {"email": "f@example.org"}),
             ("/account/password", {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
             ("/tokens", {"name": "forged", "days": "365"}),
             ("/tokens/1/revoke", {}),
             ("/logout", {})]
    for path, data in posts:
        for csrf in (None, foreign, "garbage"):
            response = client.post(path, data=data if csrf is None else {**data, "csrf": csrf})
            assert response.status_code == 400, (path, csrf)
            assert "The form expired, or did not come from this site" in response.get_data(as_text=True)
    assert signed_in_as(client) == "victim"
    assert session.scalars(select(User.username)).all() == ["victim"]
    assert session.scalar(select(User.password_hash).where(User.username == "victim")) is None
    tokens = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [t["name"] for t in tokens] == ["podium user create"]


def test_the_api_needs_no_csrf_token(client: FlaskClient, session: Session) -> None:
    _, token = create_user(session, "scripted")
    session.commit()
    response = client.post("/api/v1/tokens", json={"name": "from a script"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


def test_sign_in_pages_render_for_everyone(app: Flask) -> None:
    client = app.test_client()
    for path in ("/login", "/signup", "/password-reset"):
        assert client.get(path).status_code == 200, path
    assert client.get("/account").headers["Location"] == "/login?next=/account"
