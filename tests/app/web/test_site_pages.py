"""A phase held at sites on the site and the API (docs/sites.md, "What participants and organisers see"): the
submission page and its live part name each site's part and say which site is awaited; the API answers the documented
model; the organisers' test set page lists the sites, their cases and the parts waiting for them, and refuses a .zip."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.api import schemas
from app.models import SitePartState
from app.storage import ArtifactStore
from tests.app.test_authorization_matrix import sign_in
from tests.fixtures.site_parts import (
    FULL_MESSAGE,
    PARTICIPANT_MESSAGE,
    SITE_A_CASES,
    SITE_B_CASES,
    mixed_parts,
    site_phase,
    submission_with_parts,
)

WAITING = "waiting for site-b's worker"
OFFLINE = "(the site may be offline; its part runs when it returns)"


def _text(page: str) -> str:
    """The page's text without its tags, whitespace folded (what a reader sees, roughly)."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", page)).split())


def _signed_in(client: FlaskClient, token: str) -> FlaskClient:
    other = client.application.test_client()
    sign_in(other, token)
    return other


def test_the_submission_page_says_which_site_is_awaited(session: Session, store: ArtifactStore, tmp_path: Path,
                                                        client: FlaskClient) -> None:
    world = site_phase(session, store, tmp_path)
    submission = submission_with_parts(session, world, mixed_parts())
    lab = _signed_in(client, world.tokens["lab"])
    for url in (f"/submissions/{submission.id}", f"/submissions/{submission.id}/live"):
        page = lab.get(url)
        assert page.status_code == 200, url
        text = _text(page.get_data(as_text=True))
        assert 'id="site-parts"' in page.get_data(as_text=True)
        assert f"{WAITING} {OFFLINE}" in text, url
        assert "The submission stays running until site-b has run its part" in text
        assert "site-a done 1 2026-12-03 10:07 UTC" in text
        assert "0.812" not in text  # the site's scores are for organisers
    lead = _signed_in(client, world.tokens["lead"])
    theirs = _text(lead.get(f"/submissions/{submission.id}").get_data(as_text=True))
    assert "auroc 0.812" in theirs and WAITING in theirs


def test_a_failed_part_s_message_on_the_page(session: Session, store: ArtifactStore, tmp_path: Path,
                                             client: FlaskClient) -> None:
    world = site_phase(session, store, tmp_path)
    submission = submission_with_parts(session, world, {
        "site-a": {"state": SitePartState.FAILED, "attempts": 1, "message": FULL_MESSAGE,
                   "participant_message": PARTICIPANT_MESSAGE},
        "site-b": {"state": SitePartState.RUNNING, "attempts": 2}})
    lab = _signed_in(client, world.tokens["lab"])
    page = lab.get(f"/submissions/{submission.id}").get_data(as_text=True)
    text = _text(page)
    assert PARTICIPANT_MESSAGE in text and "SECRET-PRINTED-BY-CONTAINER" not in text
    assert "site-b running at the site 2" in text and 'id="sites-waiting"' not in page
    lead = _signed_in(client, world.tokens["lead"])
    assert FULL_MESSAGE in _text(lead.get(f"/submissions/{submission.id}").get_data(as_text=True))


def test_the_api_answers_the_documented_model(session: Session, store: ArtifactStore, tmp_path: Path,
                                              client: FlaskClient) -> None:
    world = site_phase(session, store, tmp_path)
    submission = submission_with_parts(session, world, mixed_parts())
    for who, scores in (("lab", set()), ("lead", {"auroc", "brier_score"})):
        answer = client.get(f"/api/v1/submissions/{submission.id}",
                            headers={"Authorization": f"Bearer {world.tokens[who]}"})
        assert answer.status_code == 200
        model = schemas.Submission.model_validate(answer.get_json())
        assert [(p.site, p.state) for p in model.sites] == [("site-a", "done"), ("site-b", "pending")]
        assert set(model.sites[0].scores) == scores
        assert "result" not in answer.get_json()["sites"][0]


def test_the_test_set_page_lists_the_sites_and_refuses_a_zip(session: Session, store: ArtifactStore, tmp_path: Path,
                                                             client: FlaskClient) -> None:
    world = site_phase(session, store, tmp_path)
    submission_with_parts(session, world, mixed_parts())
    lead = client.application.test_client()
    csrf = sign_in(lead, world.tokens["lead"])
    page = lead.get("/challenges/sites-demo/test/test-set").get_data(as_text=True)
    assert 'id="phase-sites"' in page and 'id="test-set-form"' not in page
    text = _text(page)
    assert "podium site load-cases sites-demo/test FOLDER" in text
    assert f"site-a Hospital site-a {len(SITE_A_CASES)} " in text
    assert f"site-b Hospital site-b {len(SITE_B_CASES)} " in text
    assert 'id="phase-site-site-b"' in page and 'id="sites-waiting"' in page
    row_b = page[page.index('id="phase-site-site-b"'):].split("</tr>")[0]
    assert '<td class="pending">1</td>' in row_b
    manage = _text(lead.get("/challenges/sites-demo/manage").get_data(as_text=True))
    assert "held at sites site-a, site-b" in manage

    refused = lead.post("/challenges/sites-demo/test/test-set", data={
        "csrf": csrf, "archive": (io.BytesIO(b"PK\x05\x06" + b"\0" * 18), "cases.zip")},
        content_type="multipart/form-data")
    assert refused.status_code == 400, _text(refused.get_data(as_text=True))[-1500:]
    assert "This phase's cases are held at its sites: each site loads its own with `podium site load-cases`" in \
        _text(refused.get_data(as_text=True))

    lab = _signed_in(client, world.tokens["lab"])
    assert lab.get("/challenges/sites-demo/test/test-set").status_code == 403
