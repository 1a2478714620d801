"""Personal API tokens: several per user, named, hashed, expiring, revocable; through the API, the CLI and the
use cases; and migration 0011 that carries the old single token over (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.cli import main
from app.db import make_engine, make_session_factory, session_scope
from app.db_migrations import alembic_config, upgrade
from app.models import ApiToken, User
from app.models._types import utcnow
from app.usecases.api_tokens import MAX_ACTIVE_TOKENS, create_token, record_use
from app.usecases.users import create_user, issue_token, user_for_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_list_create_and_revoke_through_the_api(client: FlaskClient, session: Session) -> None:
    _, first = create_user(session, "ada")
    _, other = create_user(session, "bob")
    session.commit()
    listed = client.get("/api/v1/tokens", headers=bearer(first))
    assert listed.status_code == 200
    [token] = listed.get_json()
    assert token["name"] == "podium user create" and token["active"] is True
    assert "secret" not in token and "token_hash" not in token
    assert token["last_used_at"] is not None  # this very call

    made = client.post("/api/v1/tokens", json={"name": "CI", "days": 30}, headers=bearer(first))
    assert made.status_code == 201
    body = made.get_json()
    secret = body["secret"]
    assert secret.startswith("pod_") and len(secret) >= 40
    assert body["token"]["name"] == "CI"
    assert session.scalar(select(ApiToken.token_hash).where(ApiToken.id == body["token"]["id"])) == \
        hashlib.sha256(secret.encode()).hexdigest()  # stored hashed, never in clear
    assert client.get("/api/v1/tokens", headers=bearer(secret)).status_code == 200
    assert [t["name"] for t in client.get("/api/v1/tokens", headers=bearer(secret)).get_json()] == \
        ["CI", "podium user create"]

    # another user's token is not yours to revoke (nor to know of)
    assert client.delete(f"/api/v1/tokens/{body['token']['id']}", headers=bearer(other)).status_code == 404
    revoked = client.delete(f"/api/v1/tokens/{body['token']['id']}", headers=bearer(first))
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None and revoked.get_json()["active"] is False
    refused = client.get("/api/v1/tokens", headers=bearer(secret))
    assert refused.status_code == 401 and "revoked or expired" in refused.get_json()["error"]
    assert client.delete(f"/api/v1/tokens/{body['token']['id']}", headers=bearer(first)).status_code == 404
    assert [t["name"] for t in client.get("/api/v1/tokens", headers=bearer(first)).get_json()] == \
        ["podium user create"]
    # a token may revoke itself
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=bearer(first)).status_code == 200
    assert client.get("/api/v1/tokens", headers=bearer(first)).status_code == 401


def test_the_expiry_defaults_to_90_days_and_is_at_most_a_year(client: FlaskClient, session: Session) -> None:
    _, token = create_user(session, "ada")
    session.commit()
    default = client.post("/api/v1/tokens", json={"name": "laptop"}, headers=bearer(token)).get_json()["token"]
    created = default["created_at"]
    assert default["expires_at"] is not None
    days = datetime.fromisoformat(default["expires_at"]) - datetime.fromisoformat(created)
    assert timedelta(days=89, hours=23) < days <= timedelta(days=90)
    for days_asked in (0, 366, -1):
        response = client.post("/api/v1/tokens", json={"name": "x", "days": days_asked}, headers=bearer(token))
        assert response.status_code == 422
        assert "body field 'days'" in response.get_json()["error"]
    assert client.post("/api/v1/tokens", json={"name": "x", "days": 365}, headers=bearer(token)).status_code == 201


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"name": ""}, 422, "body field 'name'"),
    ({"name": "x" * 81}, 422, "body field 'name'"),
    ({"days": 5}, 422, "body field 'name'"),
    ({"name": "x", "extra": 1}, 422, "body field 'extra'"),
    ({"name": "nul\u0000byte"}, 400, "control characters"),
    ({"name": "   "}, 400, "Give the token a name"),
])
def test_a_bad_request_names_what_is_wrong(client: FlaskClient, session: Session, body: dict[str, object],
                                           status: int, says: str) -> None:
    _, token = create_user(session, "ada")
    session.commit()
    response = client.post("/api/v1/tokens", json=body, headers=bearer(token))
    assert response.status_code == status
    assert says in response.get_json()["error"] and response.get_json()["submission_id"] is None


def test_a_form_body_is_refused_and_no_token_means_401(client: FlaskClient, session: Session) -> None:
    _, token = create_user(session, "ada")
    session.commit()
    form = client.post("/api/v1/tokens", data={"name": "x"}, headers=bearer(token))
    assert form.status_code == 422 and "as JSON" in form.get_json()["error"]
    assert client.post("/api/v1/tokens", json={"name": "x"}).status_code == 401
    assert client.get("/api/v1/tokens").status_code == 401
    assert client.delete("/api/v1/tokens/1").status_code == 401
    assert client.delete("/api/v1/tokens/99999999999", headers=bearer(token)).status_code == 404


def test_an_expired_token_answers_401(client: FlaskClient, session: Session) -> None:
    user, token = create_user(session, "ada")
    session.commit()
    assert client.get("/api/v1/tokens", headers=bearer(token)).status_code == 200
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id)
                    .values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert client.get("/api/v1/tokens", headers=bearer(token)).status_code == 401
    assert user_for_token(session, token) is None


def test_last_use_is_written_at_most_once_a_minute(client: FlaskClient, session: Session) -> None:
    user, token = create_user(session, "ada")
    session.commit()

    def last_used():  # type: ignore[no-untyped-def]
        session.expire_all()
        return session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user.id))

    assert last_used() is None
    client.get("/api/v1/tokens", headers=bearer(token))
    first = last_used()
    assert first is not None
    client.get("/api/v1/tokens", headers=bearer(token))
    assert last_used() == first
    record_use(session, session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id)),
               now=first + timedelta(seconds=59))
    session.commit()
    assert last_used() == first
    session.execute(update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
    session.commit()
    client.get("/api/v1/tokens", headers=bearer(token))
    assert last_used() > first - timedelta(minutes=2)


def test_issue_token_adds_a_token_and_the_old_ones_keep_working(session: Session) -> None:
    user, first = create_user(session, "ada")
    second = issue_token(session, "ada")
    third = issue_token(session, "ada", name="laptop", days=7)
    assert len({first, second, third}) == 3
    for token in (first, second, third):
        found = user_for_token(session, token)
        assert found is not None and found.id == user.id
    laptop = session.scalars(select(ApiToken).where(ApiToken.name == "laptop")).one()
    assert laptop.expires_at is not None and laptop.expires_at - laptop.created_at == timedelta(days=7)
    assert user_for_token(session, "pod_not-a-token") is None
    assert user_for_token(session, None) is None


def test_a_user_has_at_most_fifty_active_tokens(session: Session) -> None:
    from app.errors import Conflict

    user, _ = create_user(session, "ada")
    for i in range(MAX_ACTIVE_TOKENS - 1):
        create_token(session, user, f"t{i}")
    with pytest.raises(Conflict, match="revoke one"):
        create_token(session, user, "one too many")


def test_the_cli_creates_users_and_tokens(settings, resources) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    made = runner.invoke(main, ["user", "create", "root", "--admin", "--email", "Root@Example.org"])
    assert made.exit_code == 0, made.output
    first = made.output.strip().splitlines()[-1]
    more = runner.invoke(main, ["user", "token", "root", "--name", "deploy", "--days", "30"])
    assert more.exit_code == 0, more.output
    second = more.output.strip().splitlines()[-1]
    with resources.session() as session:
        for token in (first, second):
            user = user_for_token(session, token)
            assert user is not None and user.username == "root" and user.is_admin
            assert user.email == "root@example.org"
        names = sorted(session.scalars(select(ApiToken.name)).all())
    assert names == ["deploy", "podium user create"]
    assert runner.invoke(main, ["user", "token", "root", "--days", "400"]).exit_code != 0
    assert runner.invoke(main, ["user", "token", "nobody"]).exit_code != 0
    assert runner.invoke(main, ["user", "create", "ROOT"]).exit_code != 0  # the same name in other letters


# --- migration 0011 ---------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'podium.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_migration_0011_carries_each_old_token_over_and_back(database_url: str) -> None:
    old = "pod_" + "o" * 43
    upgrade(database_url, "0010")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO users (id, username, display_name, api_token_hash, is_admin, created_at) VALUES "
                "(1, 'ada', 'Ada', :h, false, CURRENT_TIMESTAMP), (2, 'bob', 'Bob', NULL, false, CURRENT_TIMESTAMP)"),
                {"h": hashlib.sha256(old.encode()).hexdigest()})
        upgrade(database_url, "0011")
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            user = user_for_token(session, old)
            assert user is not None and user.username == "ada"
            migrated = session.scalars(select(ApiToken)).one()
            assert (migrated.name, migrated.expires_at, migrated.user_id) == ("migrated", None, 1)
            assert user.session_version == 1 and user.email is None and user.password_hash is None
            bob = session.scalars(select(User).where(User.username == "bob")).one()
            _, bobs = create_token(session, bob, "new")
        command.downgrade(alembic_config(database_url), "0010")
        with engine.connect() as connection:
            kept = dict(connection.execute(text("SELECT username, api_token_hash FROM users")).all())
        assert kept == {"ada": hashlib.sha256(old.encode()).hexdigest(),
                        "bob": hashlib.sha256(bobs.encode()).hexdigest()}
        upgrade(database_url, "0011")
        with session_scope(factory) as session:
            assert user_for_token(session, old) is not None and user_for_token(session, bobs) is not None
    finally:
        engine.dispose()
