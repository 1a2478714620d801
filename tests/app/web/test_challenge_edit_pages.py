"""The organisers' edit pages: who sees them, problems shown next to their fields, nothing saved on a refusal,
open/close now, creating a challenge and adding a phase, and the manage page's links. Signed in with a password."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Challenge, Phase, Submission, SubmissionState, User
from app.models._types import utcnow
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.web.test_organiser_pages import _password_hash, signed_in, text
from tests.conftest import EXAMPLE_CHALLENGE

SLUG = "breast-cancer-wisconsin"
EDIT_PHASE = f"/challenges/{SLUG}/test/edit"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("pages") / "bcw"
    shutil.copytree(EXAMPLE_CHALLENGE, copy, ignore=shutil.ignore_patterns("baselines", "prepare.py"))
    (copy / "challenge.yaml").write_text((copy / "challenge.yaml").read_text().replace("prepare: prepare.py\n", ""))
    return copy


@pytest.fixture
def world(resources: Resources, folder: Path) -> None:
    with resources.session() as db:
        apply_challenge(db, resources.store, folder)
        for name in ("lead", "stranger", "root"):
            user, _ = create_user(db, name, email=f"{name}@example.org", is_admin=name == "root")
            user.password_hash = _password_hash()
        add_organiser(db, db.scalars(select(Challenge)).one(), "lead")


def _phase(session: Session) -> Phase:
    session.expire_all()
    return session.scalars(select(Phase).where(Phase.slug == "test")).one()


def _form_of(page: str) -> dict[str, str]:
    """The phase form's fields as the page fills them (inputs, selected options, textareas)."""
    form = page[page.index('<input type="hidden" name="action" value="save">'):]
    values = {m.group(2): m.group(3) for m in re.finditer(
        r'<input id="([^"]+)" name="([^"]+)" type="(?:text|number|datetime-local)" value="([^"]*)"', form)}
    values.update({m.group(1): m.group(2) for m in re.finditer(
        r'<input id="(metric-\d+-options)" name="[^"]+" value="([^"]*)"', form)})
    for select_match in re.finditer(r'<select id="([^"]+)" name="[^"]+"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', select_match.group(2))
        values[select_match.group(1)] = chosen.group(1) if chosen else ""
    for area in re.finditer(r'<textarea id="([^"]+)" name="[^"]+"[^>]*>(.*?)</textarea>', form, re.S):
        values[area.group(1)] = area.group(2).replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')
    values["metric_rows"] = re.search(r'name="metric_rows" value="(\d+)"', form).group(1)  # type: ignore[union-attr]
    return values


def test_who_sees_the_edit_pages(client: FlaskClient, world: None) -> None:
    assert client.get(EDIT_PHASE).status_code == 302  # anonymous: to sign in
    signed_in(client, "stranger")
    assert client.get(EDIT_PHASE).status_code == 403
    assert client.get("/challenges/new").status_code == 403
    client = client.application.test_client()  # a fresh browser
    signed_in(client, "lead")
    page = text(client.get(f"/challenges/{SLUG}/manage"))
    assert 'id="edit-challenge-link"' in page and 'id="export-link"' in page and 'id="edit-phase-test"' in page
    assert 'id="add-phase-link"' in page
    assert client.get("/challenges/new").status_code == 403  # organisers do not create challenges
    assert 'id="create-link"' not in text(client.get("/"))
    edit = text(client.get(EDIT_PHASE))
    assert "<h1>Edit the phase Hidden test set</h1>" in edit and "Schedule (UTC)" in edit
    assert 'name="memory_mb" type="number" value="512"' in edit


def test_a_refused_phase_form_shows_each_problem_next_to_its_field_and_saves_nothing(
        client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    form = _form_of(text(client.get(EDIT_PHASE)))
    assert form["metric-0-name"] == "auroc" and form["ranking_metric"] == "auroc"
    form.update({"csrf": csrf, "title": "Changed", "memory_mb": "lots", "cpus": "0", "metric-0-options": "{oops",
                 "closes_at": "2027-01-01T00:00", "opens_at": "2027-02-01T00:00", "outputs": "- slug: [",
                 "leaderboard_columns": "nope"})
    response = client.post(EDIT_PHASE, data=form)
    assert response.status_code == 400
    page = text(response)
    for field, says in (("memory_mb", "valid integer"), ("cpus", "greater than 0"),
                        ("metric-0-options", "not valid JSON"), ("outputs", "not valid YAML")):
        found = re.search(rf'id="{field}-error">([^<]*)<', page)
        assert found is not None and says.lower() in found.group(1).lower(), field
    assert 'value="Changed"' in page  # what was entered stays
    assert 'id="form-problems"' in page
    assert _phase(session).title == "Hidden test set" and _phase(session).memory_mb == 512


def test_model_checks_land_on_their_fields(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    form = _form_of(text(client.get(EDIT_PHASE)))
    form.update({"csrf": csrf, "closes_at": "2027-01-01T00:00", "opens_at": "2027-02-01T00:00"})
    page = text(client.post(EDIT_PHASE, data=form))
    found = re.search(r'id="closes_at-error">([^<]*)<', page)
    assert found is not None and "closes_at must be after opens_at" in found.group(1)
    form.update({"opens_at": "", "closes_at": "", "leaderboard_columns": "nope"})
    page = text(client.post(EDIT_PHASE, data=form))
    found = re.search(r'id="leaderboard_columns-error">([^<]*)<', page)
    assert found is not None and "not among the phase's metrics" in found.group(1)


def test_a_valid_phase_form_saves(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    form = _form_of(text(client.get(EDIT_PHASE)))
    form.update({"csrf": csrf, "title": "Edited", "memory_mb": "1024", "closes_at": "2027-03-01T12:30",
                 "metric-1-name": "", "leaderboard_columns": "auroc", "case_results_visible": "1",
                 "submissions_total": "25"})
    response = client.post(EDIT_PHASE, data=form)
    assert response.status_code == 302, text(response)[:3000]
    phase = _phase(session)
    assert (phase.title, phase.memory_mb, phase.submissions_total) == ("Edited", 1024, 25)
    assert phase.closes_at is not None and phase.closes_at.isoformat() == "2027-03-01T12:30:00+00:00"
    assert [m["name"] for m in phase.metrics] == ["auroc"] and phase.leaderboard_columns == ["auroc"]
    assert phase.case_results_visible
    assert phase.inputs[0]["slug"] == "nuclei-features"  # the interfaces as they were


def test_open_and_close_now(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    assert client.post(EDIT_PHASE, data={"csrf": csrf, "action": "close-now"}).status_code == 302
    closed = _phase(session).closes_at
    assert closed is not None and abs((utcnow() - closed).total_seconds()) < 60
    response = client.post(EDIT_PHASE, data={"csrf": csrf, "action": "open-now"})  # closes_at is past: refused
    assert response.status_code == 400
    assert "closes_at must be after opens_at" in text(response)
    assert _phase(session).opens_at is None


def test_the_challenge_form(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    path = f"/challenges/{SLUG}/edit"
    assert "<h1>Edit the challenge</h1>" in text(client.get(path))
    response = client.post(path, data={"csrf": csrf, "title": "T", "join_policy": "maybe", "max_team_size": "0"})
    assert response.status_code == 400
    page = text(response)
    assert 'id="join_policy-error"' in page and 'id="max_team_size-error"' in page
    response = client.post(path, data={"csrf": csrf, "title": "Renamed", "description": "**bold**", "terms": "",
                                       "join_policy": "review", "max_team_size": "4"})
    assert response.status_code == 302
    session.expire_all()
    challenge = session.scalars(select(Challenge)).one()
    assert (challenge.title, challenge.join_policy, challenge.max_team_size) == ("Renamed", "review", 4)
    assert "<strong>bold</strong>" in text(client.get(path))  # the description rendered as Markdown


def test_an_admin_creates_a_challenge_from_the_prefilled_form(client: FlaskClient, session: Session,
                                                              world: None) -> None:
    csrf = signed_in(client, "root")
    assert 'id="create-link"' in text(client.get("/"))
    page = text(client.get("/challenges/new"))
    assert "<h1>Create a challenge</h1>" in page and "nuclei-features" in page
    form = {m.group(1): m.group(2) for m in re.finditer(r'<input id="([^"]+)" name="[^"]+" type="text" value="([^"]*)"',
                                                        page)}
    for area in re.finditer(r'<textarea id="([^"]+)" name="[^"]+"[^>]*>(.*?)</textarea>', page, re.S):
        form[area.group(1)] = area.group(2)
    form.update({"csrf": csrf, "metric_rows": "2", "metric-0-name": "auroc",
                 "metric-0-prediction": "malignancy-likelihood", "metric-0-target": "malignant",
                 "ranking_metric": "auroc", "ranking_order": "descending"})
    refused = client.post("/challenges/new", data={**form, "slug": SLUG, "title": "X", "phase_slug": "Bad Slug"})
    assert refused.status_code == 400
    assert "exists already" in text(refused) and 'id="phase_slug-error"' in text(refused)
    created = client.post("/challenges/new", data={**form, "slug": "new-screening", "title": "New screening"})
    assert created.status_code == 302, text(created)[:2000]
    session.expire_all()
    challenge = session.scalars(select(Challenge).where(Challenge.slug == "new-screening")).one()
    root = session.scalars(select(User).where(User.username == "root")).one()
    assert root.id in challenge.organiser_ids and challenge.phases[0].current_test_set_id is None
    assert "no test set yet" in text(client.get("/challenges/new-screening/manage"))
    edit = client.get("/challenges/new-screening/test/edit")
    assert edit.status_code == 200 and "No test set yet" in text(edit)
    assert "there is no test set yet" in text(edit)  # no columns to break results down by


def test_organisers_add_a_phase(client: FlaskClient, session: Session, world: None) -> None:
    csrf = signed_in(client, "lead")
    page = text(client.get(f"/challenges/{SLUG}/phases/new"))
    assert "<h1>Add a phase to" in page
    form = {"csrf": csrf, "phase_slug": "final", "phase_title": "Final", "metric_rows": "1",
            "metric-0-name": "auroc", "metric-0-prediction": "malignancy-likelihood", "metric-0-target": "malignant",
            "ranking_metric": "auroc", "ranking_order": "descending"}
    for area in re.finditer(r'<textarea id="([^"]+)" name="[^"]+"[^>]*>(.*?)</textarea>', page, re.S):
        form.setdefault(area.group(1), area.group(2))
    refused = client.post(f"/challenges/{SLUG}/phases/new", data={**form, "phase_slug": "test"})
    assert refused.status_code == 400 and 'id="phase_slug-error"' in text(refused)
    response = client.post(f"/challenges/{SLUG}/phases/new", data=form)
    assert response.status_code == 302
    session.expire_all()
    assert [p.slug for p in session.scalars(select(Challenge)).one().phases] == ["test", "final"]


def test_interfaces_are_read_only_once_the_phase_has_submissions(client: FlaskClient, session: Session,
                                                                 world: None) -> None:
    phase = _phase(session)
    stranger = session.scalars(select(User).where(User.username == "stranger")).one()
    session.add(Submission(phase_id=phase.id, user_id=stranger.id, state=SubmissionState.SUCCEEDED,
                           upload_key="x"))
    session.commit()
    csrf = signed_in(client, "lead")
    page = text(client.get(EDIT_PHASE))
    assert 'id="interfaces-fixed"' in page and "1 submission(s)" in page
    assert re.search(r'<textarea id="outputs" name="outputs" rows="\d+"[^>]* readonly>', page)
    form = _form_of(page)
    form.update({"csrf": csrf, "outputs": "- slug: other\n  relative_path: other.json\n", "title": "Still editable"})
    assert client.post(EDIT_PHASE, data=form).status_code == 302
    phase = _phase(session)
    assert phase.title == "Still editable" and phase.outputs[0]["slug"] == "malignancy-likelihood"


def test_resampling_by_a_column_the_test_set_lacks_is_refused_on_its_field(client: FlaskClient, session: Session,
                                                                             world: None) -> None:
    csrf = signed_in(client, "lead")
    page = text(client.get(EDIT_PHASE))
    assert 'id="cluster_by"' in page  # the select, next to the breakdown columns
    form = _form_of(page)
    form.update({"csrf": csrf, "cluster_by": "patient_id"})  # the example's cases.csv has no metadata columns
    response = client.post(EDIT_PHASE, data=form)
    assert response.status_code == 400
    found = re.search(r'id="cluster_by-error">([^<]*)<', text(response))
    assert found is not None and "patient_id" in found.group(1)
    assert "cluster_by" not in (_phase(session).analysis or {}) or _phase(session).analysis["cluster_by"] is None
