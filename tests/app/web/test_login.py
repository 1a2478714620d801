"""Sign-in by API token: no open redirect, and CSRF-protected forms."""

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.usecases.users import create_user


@pytest.mark.parametrize(("next_url", "expected"), [
    ("/challenges/x", "/challenges/x"),
    ("//evil.example/phish", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_login_redirects_only_within_the_site(client: FlaskClient, session: Session, next_url: str,
                                              expected: str) -> None:
    _, token = create_user(session, "ada")
    session.commit()
    page = client.get("/login").data.decode()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    response = client.post(f"/login?next={next_url}", data={"token": token, "csrf": found.group(1)})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    assert client.post("/login", data={"token": "x"}).status_code == 400


def test_the_stylesheet_is_served(client: FlaskClient) -> None:
    found = re.search(r'<link rel="stylesheet" href="([^"]+)"', client.get("/").data.decode())
    assert found is not None
    response = client.get(found.group(1))
    assert response.status_code == 200 and b"font-family" in response.data


def test_an_unknown_page_is_a_page_that_says_so(client: FlaskClient) -> None:
    response = client.get("/challenges/no-such-challenge/test/leaderboard")
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert "<title>Not found" in text and "No phase" in text
    assert client.get("/no/such/address").status_code == 404
    api = client.get("/api/v1/no/such/address")
    assert api.status_code == 404 and "error" in api.get_json()
