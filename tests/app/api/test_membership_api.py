"""Joining a challenge and managing its organisers through the REST API."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Challenge
from app.queries.phases import get_challenge
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.integration.helpers import CHALLENGE, PHASE, apply_example


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_join_with_terms_reviewed_by_an_organiser_then_submit(client: FlaskClient, session: Session,
                                                               resources) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    _, lead = create_user(session, "lead")
    _, vendor = create_user(session, "vendor")
    add_organiser(session, get_challenge(session, CHALLENGE), "lead")
    session.execute(update(Challenge).values(join_policy="review", terms="Scores may be published."))
    session.commit()

    shown = client.get(f"/api/v1/challenges/{CHALLENGE}").get_json()
    assert shown["organisers"] == ["lead"] and shown["join_policy"] == "review" and shown["terms"]
    submit = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions"
    refused = client.post(submit, data=b"", headers=_bearer(vendor), content_type="application/octet-stream")
    assert refused.status_code == 403 and "join" in refused.get_json()["error"]
    no_terms = client.post(f"/api/v1/challenges/{CHALLENGE}/join", json={}, headers=_bearer(vendor))
    assert no_terms.status_code == 409 and "accept the terms" in no_terms.get_json()["error"]
    pending = client.post(f"/api/v1/challenges/{CHALLENGE}/join", json={"accept_terms": True},
                          headers=_bearer(vendor))
    assert pending.status_code == 200 and pending.get_json()["status"] == "pending"
    waiting = client.post(submit, data=b"", headers=_bearer(vendor), content_type="application/octet-stream")
    assert waiting.status_code == 403 and "waits for the organisers" in waiting.get_json()["error"]

    assert client.get(f"/api/v1/challenges/{CHALLENGE}/participants", headers=_bearer(vendor)).status_code == 403
    listed = client.get(f"/api/v1/challenges/{CHALLENGE}/participants", headers=_bearer(lead)).get_json()
    assert [(p["username"], p["status"]) for p in listed] == [("vendor", "pending")]
    accepted = client.post(f"/api/v1/challenges/{CHALLENGE}/participants/vendor", json={"accept": True},
                           headers=_bearer(lead))
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    # Now the upload itself is judged (an empty body is not an image).
    judged = client.post(submit, data=b"", headers=_bearer(vendor), content_type="application/octet-stream")
    assert judged.status_code == 400 and "not a usable container image" in judged.get_json()["error"]


def test_organisers_add_and_remove_organisers(client: FlaskClient, session: Session, resources) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    _, lead = create_user(session, "lead")
    _, helper = create_user(session, "helper")
    add_organiser(session, get_challenge(session, CHALLENGE), "lead")
    session.commit()
    url = f"/api/v1/challenges/{CHALLENGE}/organisers"
    assert client.put(f"{url}/helper", headers=_bearer(helper)).status_code == 403
    added = client.put(f"{url}/helper", headers=_bearer(lead))
    assert added.status_code == 200 and added.get_json()["organisers"] == ["helper", "lead"]
    removed = client.delete(f"{url}/lead", headers=_bearer(helper))
    assert removed.status_code == 200 and removed.get_json()["organisers"] == ["helper"]
    last = client.delete(f"{url}/helper", headers=_bearer(helper))
    assert last.status_code == 409 and "only organiser" in last.get_json()["error"]
    assert client.get(url).get_json() == {"organisers": ["helper"]}
