"""Organisers' Markdown on the pages: formatted, and never a way to run script in a visitor's browser."""

from __future__ import annotations

from html.parser import HTMLParser

from flask.testing import FlaskClient
from sqlalchemy import update

from app.models import Challenge
from app.resources import Resources
from app.web.markdown import render_markdown
from tests.integration.helpers import CHALLENGE, apply_example

HOSTILE = """# Welcome

Read **the rules** and [the data](https://example.org/data) first.

<script>alert('description')</script>
<img src=x onerror="alert('img')">
[click](javascript:alert('link'))
<a href="https://example.org" onclick="alert('a')">raw html</a>

| site | cases |
| --- | ---: |
| A | 12 |
"""


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


def test_markdown_is_formatted_and_script_is_not_kept() -> None:
    html = str(render_markdown(HOSTILE))
    assert "<h1>Welcome</h1>" in html and "<strong>the rules</strong>" in html
    assert '<a href="https://example.org/data" rel="noopener noreferrer nofollow">the data</a>' in html
    assert "<table>" in html and '<td style="text-align:right">12</td>' in html
    elements = _elements(html)
    assert {tag for tag, _ in elements} <= {"h1", "p", "strong", "a", "table", "thead", "tbody", "tr", "th", "td"}
    assert not [name for _, attrs in elements for name in attrs if name.startswith("on")]
    assert [attrs["href"] for tag, attrs in elements if tag == "a"] == ["https://example.org/data"]
    assert "&lt;script&gt;" in html  # the raw HTML is shown as text, never as markup
    assert str(render_markdown(None)) == "" and str(render_markdown("")) == ""


def test_the_challenge_page_renders_the_organisers_markdown_safely(client: FlaskClient, resources: Resources) -> None:
    apply_example(resources)
    with resources.session() as session:
        session.execute(update(Challenge).where(Challenge.slug == CHALLENGE).values(description=HOSTILE,
                                                                                     terms="You **agree**."))
    page = client.get(f"/challenges/{CHALLENGE}").get_data(as_text=True)
    assert "<h1>Welcome</h1>" in page and "<strong>the rules</strong>" in page
    assert "<script>alert" not in page and not [name for _, attrs in _elements(page) for name in attrs
                                              if name.startswith("on")]
