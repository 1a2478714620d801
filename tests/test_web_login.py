"""Sign-in by API token: no open redirect, and CSRF-protected forms."""

import re

import pytest

from app import create_app
from app.usecases.users import create_user


@pytest.mark.parametrize(("next_url", "expected"), [
    ("/challenges/x", "/challenges/x"),
    ("//evil.example/phish", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_login_redirects_only_within_the_site(resources, settings, next_url: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        _, token = create_user(session, "ada")
    client = create_app(settings).test_client()
    page = client.get("/login").data.decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    response = client.post(f"/login?next={next_url}", data={"token": token, "csrf": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_form_without_its_csrf_token_is_refused(resources, settings) -> None:  # type: ignore[no-untyped-def]
    client = create_app(settings).test_client()
    assert client.post("/login", data={"token": "x"}).status_code == 400


def test_the_stylesheet_is_served(resources, settings) -> None:  # type: ignore[no-untyped-def]
    client = create_app(settings).test_client()
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', client.get("/").data.decode()).group(1)
    response = client.get(href)
    assert response.status_code == 200 and b"font-family" in response.data
