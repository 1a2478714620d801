"""Organisers' text (a challenge's description and terms, a phase's description) as safe HTML.

Markdown is rendered by markdown-it-py (CommonMark, raw HTML off, tables on), then cleaned by nh3 (an allow-list
HTML sanitiser): only formatting tags survive, links may only be http(s) or mailto, and they get
rel="noopener noreferrer nofollow". Organiser text is untrusted like any other: it must not run script in a
participant's session.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_RENDERER = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote", "ul",
         "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"style"}, "td": {"style"},
               "ol": {"start"}}


def render_markdown(text: str | None) -> Markup:
    """Sanitised HTML for `text` (Markdown); empty for None."""
    if not text:
        return Markup("")
    html = _RENDERER.render(text)
    cleaned = nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                        link_rel="noopener noreferrer nofollow", filter_style_properties={"text-align"})
    return Markup(cleaned)  # noqa: S704 - nh3's output: only the allow-listed tags and attributes
