"""Who may do what: every route of the site and the API, for every role, in one table.

Roles: anonymous, a signed-in stranger, a participant in another team of the challenge, the participant who made
the submission, their team-mate, an organiser of another challenge, an organiser of this challenge, a site admin.
Another's resource is a 404, never a 403: its existence is not confirmed. Organiser-only actions on a public
challenge are a 403. Beyond the status codes, no answer to anyone but this challenge's organisers and the
admins contains the container's logs, the private part's scores while the phase runs, or the per-case export.

A route added without a row here fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.models import (
    Challenge,
    EvaluationRun,
    Score,
    Submission,
    SubmissionState,
    Team,
    TeamInvitation,
    TeamMember,
    User,
)
from app.models._types import utcnow
from app.resources import Resources
from app.storage import keys
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.conftest import MULTISITE_CHALLENGE
from tests.fixtures.example_sites import register_example_sites
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

ROLES = ("anonymous", "stranger", "other_team", "participant", "teammate", "other_organiser", "organiser", "admin")
TEAM, OTHER_TEAM = ("participant", "teammate"), ("other_team",)
LOG_MARKER = "SECRET-LOG-MARKER-7c1e"
PRIVATE_SCORE = 0.4242424242
PUBLIC_SCORE = 0.1717171717


@dataclass
class World:
    app: Flask
    tokens: dict[str, str | None]
    submission_id: int
    public_file: str
    team_id: int
    invitation_id: int  # from the other team to the participant, who is in a team already

    def api(self, role: str, method: str, path: str, **kwargs: object) -> tuple[int, bytes]:
        token = self.tokens[role]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.app.test_client().open(path, method=method, headers=headers, **kwargs)  # type: ignore[arg-type]
        return response.status_code, response.data

    def page(self, role: str, method: str, path: str, data: dict[str, str] | None = None) -> tuple[int, bytes]:
        client = self.app.test_client()
        csrf = ""
        if self.tokens[role]:
            csrf = sign_in(client, str(self.tokens[role]))
        if method == "POST":
            csrf = csrf or _csrf(client)
            response = client.post(path, data={"csrf": csrf, **(data or {})})
        elif method != "GET":  # the upload script's PUTs: the CSRF token in its header
            response = client.open(path, method=method, headers={"X-CSRFToken": csrf or _csrf(client)}, data=b"x")
        else:
            response = client.get(path)
        return response.status_code, response.data


def _csrf(client: FlaskClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign in on the site with an API token; returns the form token for later posts."""
    csrf = _csrf(client)
    response = client.post("/login", data={"token": token, "csrf": csrf})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return _csrf(client)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from app.db_migrations import upgrade
    from tests.conftest import podium_environment

    settings = Settings.from_env(podium_environment(tmp_path_factory.mktemp("matrix")))
    upgrade(settings.database_url)
    resources = Resources(settings)
    apply_example(resources)
    from app.usecases.apply_challenge import apply_challenge

    with resources.session() as session:
        register_example_sites(session)  # its phase at-sites is held at three sites
        apply_challenge(session, resources.store, MULTISITE_CHALLENGE)
    tokens: dict[str, str | None] = {"anonymous": None}
    with resources.session() as session:
        for role in ROLES[1:]:
            _, tokens[role] = create_user(session, role.replace("_", "-"), is_admin=role == "admin")
        mine = session.scalars(select(Challenge).where(Challenge.slug == CHALLENGE)).one()
        add_organiser(session, mine, "organiser")
        theirs = session.scalars(select(Challenge).where(Challenge.slug != CHALLENGE)).one()
        add_organiser(session, theirs, "other-organiser")
        members = {u.username: u for u in session.scalars(select(User)).all()}
        ours = Team(challenge_id=mine.id, name="Team T")
        ours.members.extend(TeamMember(user_id=members[name].id, challenge_id=mine.id)
                            for name in ("participant", "teammate"))
        others = Team(challenge_id=mine.id, name="Team O")
        others.members.append(TeamMember(user_id=members["other-team"].id, challenge_id=mine.id))
        session.add_all([ours, others])
        session.flush()
        invitation = TeamInvitation(team_id=others.id, user_id=members["participant"].id)
        session.add(invitation)
        session.flush()
        team_id, invitation_id = ours.id, invitation.id
        phase = mine.phases[0]
        # A split test set, still open: private scores exist but must not be shown yet.
        phase.split_column = "site"
        phase.closes_at = utcnow() + timedelta(days=1)
        owner = session.scalars(select(User).where(User.username == "participant")).one()
        submission = Submission(phase_id=phase.id, user_id=owner.id, team_id=team_id, state=SubmissionState.SUCCEEDED,
                                upload_key="submissions/x/upload.tar", comment="mine")
        session.add(submission)
        session.flush()
        run = EvaluationRun(submission_id=submission.id, test_set_id=phase.current_test_set_id, exit_code=0,
                            stderr_tail=LOG_MARKER, stdout_key="x", stderr_key="y")
        session.add(run)
        session.flush()
        for subset, value in (("public", PUBLIC_SCORE), ("private", PRIVATE_SCORE), ("all", PRIVATE_SCORE)):
            session.add(Score(run_id=run.id, metric="auroc", subset=subset, value=value))
        submission_id = submission.id
        public_file = mine.public_files[0]["name"]
    for stream in ("stdout", "stderr", "evaluator-stderr"):
        resources.store.put_bytes(keys.submission_log(submission_id, stream), f"{LOG_MARKER} {stream}".encode())
    resources.close()
    return World(create_app(settings, enqueue=lambda _: None), tokens, submission_id, public_file, team_id,
                 invitation_id)




def roles(default: int, **status: int) -> dict[str, int]:
    """Every role's expected status: `default`, except those named (TEAM=... for both members of the team)."""
    expected = dict.fromkeys(ROLES, default)
    for name, code in status.items():
        for role in (TEAM if name == "TEAM" else (name,)):
            expected[role] = code
    return expected


ALL_OK = roles(200)
SIGNED_IN = roles(200, anonymous=401)
ORGANISERS = roles(403, anonymous=401, organiser=200, admin=200)
# The team's own (its members) or the organisers'; anyone else: 404.
TEAM_OR_ORGANISERS = roles(404, anonymous=401, TEAM=200, organiser=200, admin=200)
LOGS = roles(404, anonymous=401, organiser=200, admin=200)  # the phase shows participants the failure message only
TEAM_ONLY = roles(404, anonymous=401, TEAM=200)  # only the team's members select its final submissions
CANCEL = roles(404, anonymous=401, TEAM=409, organiser=409, admin=409)  # finished: nothing to cancel, and they are told
MEMBERS = roles(404, anonymous=401, TEAM=200)

PAGES_PUBLIC = roles(200)
PAGE_SIGNED_IN = roles(200, anonymous=302)  # anonymous: to the sign-in page
PAGE_TEAM_OR_ORGANISERS = roles(404, anonymous=302, TEAM=200, organiser=200, admin=200)
PAGE_ORGANISERS = roles(403, anonymous=302, organiser=200, admin=200)

P = f"/challenges/{CHALLENGE}/phases/{PHASE}"
S = "/submissions/{id}"
T = "/teams/{team}"
INVITATION = "/invitations/{invitation}"
NO_UPLOAD = "made-up-upload-token-0123456789"
# (method, Flask rule, concrete path, expected status per role, request options)
Row = tuple[str, str, str, dict[str, int], dict[str, object]]
API: list[Row] = [
    ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", ALL_OK, {}),
    ("GET", "/api/v1/challenges", "/api/v1/challenges", ALL_OK, {}),
    ("GET", "/api/v1/challenges/<slug>", f"/api/v1/challenges/{CHALLENGE}", ALL_OK, {}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/leaderboard", f"/api/v1{P}/leaderboard", ALL_OK, {}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/analysis", f"/api/v1{P}/analysis",
     {role: 404 for role in ROLES}, {}),  # none computed yet, for anyone
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/cases.csv", f"/api/v1{P}/cases.csv", ORGANISERS, {}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/export.zip", f"/api/v1{P}/export.zip", ORGANISERS, {}),
    ("PUT", "/api/v1/challenges/<slug>/phases/<phase_slug>/readers", f"/api/v1{P}/readers",
     {**ORGANISERS, "organiser": 400, "admin": 400}, {"data": b"not,a,readers,file\n"}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/limits", f"/api/v1{P}/limits", SIGNED_IN, {}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/submissions", f"/api/v1{P}/submissions", SIGNED_IN, {}),
    ("POST", "/api/v1/challenges/<slug>/phases/<phase_slug>/submissions", f"/api/v1{P}/submissions",
     {"anonymous": 401, **{role: 400 for role in ROLES[1:]}},  # a refused (empty) upload, for everyone
     {"data": b"", "content_type": "application/octet-stream"}),
    ("GET", "/api/v1/submissions/<int:submission_id>", "/api/v1" + S, TEAM_OR_ORGANISERS, {}),
    ("POST", "/api/v1/submissions/<int:submission_id>/cancel", "/api/v1" + S + "/cancel", CANCEL, {}),
    ("POST", "/api/v1/submissions/<int:submission_id>/final", "/api/v1" + S + "/final", TEAM_ONLY, {}),
    ("DELETE", "/api/v1/submissions/<int:submission_id>/final", "/api/v1" + S + "/final", TEAM_ONLY, {}),
    ("POST", "/api/v1/submissions/<int:submission_id>/visibility", "/api/v1" + S + "/visibility",
     roles(404, anonymous=401, TEAM=403, organiser=200, admin=200), {"json": {"hidden": False}}),  # shown: as it was
    ("GET", "/api/v1/submissions/<int:submission_id>/logs/<stream_name>", "/api/v1" + S + "/logs/stderr", LOGS, {}),
    # personal API tokens: each user's own (another user's token is a 404: tests/app/api/test_tokens.py)
    ("POST", "/api/v1/challenges/<slug>/join", f"/api/v1/challenges/{CHALLENGE}/join", SIGNED_IN,
     {"json": {"accept_terms": True}}),
    ("GET", "/api/v1/challenges/<slug>/participants", f"/api/v1/challenges/{CHALLENGE}/participants", ORGANISERS, {}),
    ("POST", "/api/v1/challenges/<slug>/participants/<username>",
     f"/api/v1/challenges/{CHALLENGE}/participants/stranger", ORGANISERS, {"json": {"accept": True}}),
    ("GET", "/api/v1/challenges/<slug>/organisers", f"/api/v1/challenges/{CHALLENGE}/organisers", ALL_OK, {}),
    ("PUT", "/api/v1/challenges/<slug>/organisers/<username>", f"/api/v1/challenges/{CHALLENGE}/organisers/admin",
     ORGANISERS, {}),
    ("DELETE", "/api/v1/challenges/<slug>/organisers/<username>",
     f"/api/v1/challenges/{CHALLENGE}/organisers/stranger",  # not an organiser: nothing to remove
     {**ORGANISERS, "organiser": 404, "admin": 404}, {}),
    # teams: the list is public; a team's own page, invitations and leaving are its members'
    ("GET", "/api/v1/challenges/<slug>/teams", f"/api/v1/challenges/{CHALLENGE}/teams", ALL_OK, {}),
    ("POST", "/api/v1/challenges/<slug>/teams", f"/api/v1/challenges/{CHALLENGE}/teams",
     roles(400, anonymous=401), {"json": {"name": "x"}}),  # a name too short, for everyone
    ("GET", "/api/v1/challenges/<slug>/team", f"/api/v1/challenges/{CHALLENGE}/team",
     roles(404, anonymous=401, TEAM=200, other_team=200), {}),  # each their own team
    ("POST", "/api/v1/teams/<int:team_id>/invitations", "/api/v1" + T + "/invitations",
     roles(404, anonymous=401, TEAM=201), {"json": {"username": "admin"}}),
    ("POST", "/api/v1/teams/<int:team_id>/leave", "/api/v1" + T + "/leave",
     roles(404, anonymous=401, TEAM=409), {}),  # the team has submitted: its members are fixed
    ("GET", "/api/v1/invitations", "/api/v1/invitations", SIGNED_IN, {}),
    ("POST", "/api/v1/invitations/<int:invitation_id>/accept", "/api/v1" + INVITATION + "/accept",
     roles(404, anonymous=401, participant=409), {}),  # the invitee, but already in a team
    ("DELETE", "/api/v1/invitations/<int:invitation_id>", "/api/v1/invitations/999999",
     roles(404, anonymous=401), {}),
    ("GET", "/api/v1/tokens", "/api/v1/tokens", SIGNED_IN, {}),
    ("POST", "/api/v1/tokens", "/api/v1/tokens", {"anonymous": 401, **{role: 201 for role in ROLES[1:]}},
     {"json": {"name": "matrix", "days": 1}}),
    ("DELETE", "/api/v1/tokens/<int:token_id>", "/api/v1/tokens/999999",
     {"anonymous": 401, **{role: 404 for role in ROLES[1:]}}, {}),
    # uploads in parts: organisers begin a test set upload; an upload is its owner's alone (a made-up one: 404)
    ("POST", "/api/v1/challenges/<slug>/phases/<phase_slug>/uploads", f"/api/v1{P}/uploads",
     roles(403, anonymous=401, organiser=201, admin=201), {"json": {"purpose": "test-set", "size": 10}}),
    ("GET", "/api/v1/uploads/<upload_token>", f"/api/v1/uploads/{NO_UPLOAD}", roles(404, anonymous=401), {}),
    ("PUT", "/api/v1/uploads/<upload_token>", f"/api/v1/uploads/{NO_UPLOAD}?offset=0", roles(404, anonymous=401),
     {"data": b"x", "content_type": "application/octet-stream"}),
    ("DELETE", "/api/v1/uploads/<upload_token>", f"/api/v1/uploads/{NO_UPLOAD}", roles(404, anonymous=401), {}),
    ("POST", "/api/v1/uploads/<upload_token>/submission", f"/api/v1/uploads/{NO_UPLOAD}/submission",
     roles(404, anonymous=401), {"json": {}}),
    ("POST", "/api/v1/uploads/<upload_token>/test-set", f"/api/v1/uploads/{NO_UPLOAD}/test-set",
     roles(404, anonymous=401), {}),
    # results: re-run, publish, per-case results (the world's archive is not stored: organisers are told so)
    ("POST", "/api/v1/submissions/<int:submission_id>/rerun", "/api/v1" + S + "/rerun",
     roles(404, anonymous=401, TEAM=403, organiser=409, admin=409), {}),
    # edit forms and export: the challenge as a bundle (it holds the hidden test set)
    ("GET", "/api/v1/challenges/<slug>/bundle.zip", f"/api/v1/challenges/{CHALLENGE}/bundle.zip", ORGANISERS, {}),
    # results: publish or hide a phase's results (published: as it was), per-case results (not shown to
    # participants in this phase: case_results_visible is false)
    ("PUT", "/api/v1/challenges/<slug>/phases/<phase_slug>/results", f"/api/v1{P}/results", ORGANISERS,
     {"json": {"published": True}}),
    # results: a submission's per-case results (this phase does not show them to participants)
    ("GET", "/api/v1/submissions/<int:submission_id>/cases", "/api/v1" + S + "/cases", LOGS, {}),
    # test-set versions: organisers list them, choose the ranked one and re-evaluate (the one submission is scored
    # on v1 already: 409); everyone compares two versions of a published phase
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/test-set/versions", f"/api/v1{P}/test-set/versions",
     ORGANISERS, {}),
    ("PUT", "/api/v1/challenges/<slug>/phases/<phase_slug>/test-set/current", f"/api/v1{P}/test-set/current",
     ORGANISERS, {"json": {"version": 1}}),
    ("POST", "/api/v1/challenges/<slug>/phases/<phase_slug>/reevaluations", f"/api/v1{P}/reevaluations",
     roles(403, anonymous=401, organiser=409, admin=409), {"json": {"version": 1, "budget": 1, "selection": "final"}}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/reevaluations/<int:reevaluation_id>",
     f"/api/v1{P}/reevaluations/999", roles(403, anonymous=401, organiser=404, admin=404), {}),
    ("GET", "/api/v1/challenges/<slug>/phases/<phase_slug>/compare", f"/api/v1{P}/compare?a=1&b=1", ALL_OK, {}),
]
PAGES: list[Row] = [
    ("GET", "/", "/", PAGES_PUBLIC, {}),
    # Prometheus metrics: counts only (no names, scores or cases); open unless PODIUM_METRICS_TOKEN is set
    ("GET", "/metrics", "/metrics", PAGES_PUBLIC, {}),
    ("GET", "/ping", "/ping", PAGES_PUBLIC, {}),
    ("GET", "/challenges/<slug>", f"/challenges/{CHALLENGE}", PAGES_PUBLIC, {}),
    ("POST", "/challenges/<slug>/join", f"/challenges/{CHALLENGE}/join",  # anonymous: to the sign-in page
     {role: 302 for role in ROLES}, {}),
    ("GET", "/challenges/<slug>/files/<name>", f"/challenges/{CHALLENGE}/files/{{file}}", PAGES_PUBLIC, {}),
    ("GET", "/challenges/<slug>/<phase_slug>/leaderboard", f"/challenges/{CHALLENGE}/{PHASE}/leaderboard",
     PAGES_PUBLIC, {}),
    ("GET", "/challenges/<slug>/<phase_slug>/analysis", f"/challenges/{CHALLENGE}/{PHASE}/analysis", PAGES_PUBLIC,
     {}),
    ("GET", "/challenges/<slug>/<phase_slug>/figures/<name>", f"/challenges/{CHALLENGE}/{PHASE}/figures/roc.svg",
     {role: 404 for role in ROLES}, {}),  # no analysis yet
    ("GET", "/challenges/<slug>/<phase_slug>/submit", f"/challenges/{CHALLENGE}/{PHASE}/submit", PAGE_SIGNED_IN, {}),
    ("GET", "/submissions/<int:submission_id>", S, PAGE_TEAM_OR_ORGANISERS, {}),
    ("GET", "/submissions/<int:submission_id>/live", S + "/live", PAGE_TEAM_OR_ORGANISERS, {}),
    ("POST", "/submissions/<int:submission_id>/visibility", S + "/visibility",
     roles(404, anonymous=302, TEAM=403, organiser=302, admin=302), {"data": {"hidden": "0"}}),
    ("POST", "/submissions/<int:submission_id>/cancel", S + "/cancel",
     roles(404, anonymous=302, TEAM=409, organiser=409, admin=409), {}),
    ("POST", "/submissions/<int:submission_id>/final", S + "/final",
     roles(404, anonymous=302, TEAM=302), {"data": {"final": "1"}}),  # the team: selected, back to the page
    ("GET", "/challenges/<slug>/team", f"/challenges/{CHALLENGE}/team", PAGE_SIGNED_IN, {}),
    ("POST", "/challenges/<slug>/team", f"/challenges/{CHALLENGE}/team", roles(400, anonymous=302),
     {"data": {"name": "x"}}),
    ("POST", "/teams/<int:team_id>/invite", T + "/invite", roles(404, anonymous=302, TEAM=302),
     {"data": {"username": "admin"}}),
    ("POST", "/teams/<int:team_id>/leave", T + "/leave", roles(404, anonymous=302, TEAM=409), {}),
    ("POST", "/invitations/<int:invitation_id>/accept", INVITATION + "/accept",
     roles(404, anonymous=302, participant=409), {}),
    ("POST", "/invitations/<int:invitation_id>/decline", "/invitations/999999/decline", roles(404, anonymous=302),
     {}),
    # the organisers' page: anonymous to the sign-in page; the challenge is public, so the others get a 403
    ("GET", "/challenges/<slug>/manage", f"/challenges/{CHALLENGE}/manage", PAGE_ORGANISERS, {}),
    # a bundle: anyone signed in sees the form; the import itself decides (admins create, organisers update)
    ("GET", "/import-challenge", "/import-challenge", PAGE_SIGNED_IN, {}),
    ("POST", "/import-challenge", "/import-challenge", roles(400, anonymous=302), {}),  # no file: nothing to import
    # a Codabench bundle: site admins only (it creates a challenge and builds images on the workers)
    ("GET", "/import-codabench", "/import-codabench", roles(403, anonymous=302, admin=200), {}),
    ("POST", "/import-codabench", "/import-codabench", roles(403, anonymous=302, admin=400), {}),  # no file
    ("GET", "/import-codabench/<token>", "/import-codabench/" + "0" * 32, roles(403, anonymous=302, admin=404), {}),
    ("GET", "/challenges/<slug>/<phase_slug>/submissions", f"/challenges/{CHALLENGE}/{PHASE}/submissions",
     PAGE_ORGANISERS, {}),
    ("POST", "/challenges/<slug>/participants/<username>", f"/challenges/{CHALLENGE}/participants/nobody",
     roles(403, anonymous=302, organiser=404, admin=404),  # no such user: nothing to decide
     {"data": {"decision": "accept"}}),
    ("POST", "/challenges/<slug>/organisers", f"/challenges/{CHALLENGE}/organisers",
     roles(403, anonymous=302, organiser=302, admin=302),  # added (admin): back to the page
     {"data": {"username": "admin"}}),
    ("POST", "/challenges/<slug>/organisers/<username>/remove", f"/challenges/{CHALLENGE}/organisers/stranger/remove",
     roles(403, anonymous=302, organiser=404, admin=404),  # not an organiser: nothing to remove
     {}),
    # accounts: the forms anyone may use answer alike; the account and its tokens need a session
    ("GET", "/signup", "/signup", PAGES_PUBLIC, {}),
    ("POST", "/signup", "/signup", {role: 400 for role in ROLES}, {"data": {"username": "", "email": ""}}),
    ("GET", "/password-reset", "/password-reset", PAGES_PUBLIC, {}),
    ("POST", "/password-reset", "/password-reset", {role: 302 for role in ROLES},
     {"data": {"email": "nobody@example.org"}}),  # the same answer whether or not an account has the address
    ("GET", "/password-reset/<token>", "/password-reset/not-a-link", {role: 400 for role in ROLES}, {}),
    ("POST", "/password-reset/<token>", "/password-reset/not-a-link", {role: 400 for role in ROLES},
     {"data": {"password": "x"}}),
    ("GET", "/account", "/account", PAGE_SIGNED_IN, {}),
    ("POST", "/account/password", "/account/password", {"anonymous": 302, **{role: 400 for role in ROLES[1:]}},
     {"data": {"new_password": "short"}}),
    ("GET", "/tokens", "/tokens", PAGE_SIGNED_IN, {}),
    ("POST", "/tokens", "/tokens", {"anonymous": 302, **{role: 201 for role in ROLES[1:]}},
     {"data": {"name": "matrix", "days": "1"}}),
    ("POST", "/tokens/<int:token_id>/revoke", "/tokens/999999/revoke",
     {"anonymous": 302, **{role: 404 for role in ROLES[1:]}}, {}),
    # results: re-run, publish, per-case results (the world's archive is not stored: organisers are told so)
    ("POST", "/submissions/<int:submission_id>/rerun", S + "/rerun",
     roles(404, anonymous=302, TEAM=403, organiser=409, admin=409), {}),
    # the organisers' downloads in the browser (the API's cases.csv and export.zip, with the session)
    ("GET", "/challenges/<slug>/<phase_slug>/cases.csv", f"/challenges/{CHALLENGE}/{PHASE}/cases.csv",
     PAGE_ORGANISERS, {}),
    ("GET", "/challenges/<slug>/<phase_slug>/export.zip", f"/challenges/{CHALLENGE}/{PHASE}/export.zip",
     PAGE_ORGANISERS, {}),
    # uploads in parts from the browser (JSON answers: anonymous 401) and the organisers' test set page
    ("POST", "/challenges/<slug>/<phase_slug>/uploads", f"/challenges/{CHALLENGE}/{PHASE}/uploads",
     roles(400, anonymous=401), {}),  # a form, not the script's JSON: refused for everyone signed in
    ("GET", "/uploads/<upload_token>", f"/uploads/{NO_UPLOAD}", roles(404, anonymous=401), {}),
    ("PUT", "/uploads/<upload_token>", f"/uploads/{NO_UPLOAD}?offset=0", roles(404, anonymous=401), {}),
    ("GET", "/challenges/<slug>/<phase_slug>/test-set", f"/challenges/{CHALLENGE}/{PHASE}/test-set",
     PAGE_ORGANISERS, {}),
    ("POST", "/challenges/<slug>/<phase_slug>/test-set", f"/challenges/{CHALLENGE}/{PHASE}/test-set",
     roles(403, anonymous=302, organiser=400, admin=400), {}),  # no file: nothing to check
    # results: publish or hide a phase's results (published: as it was, back to the manage page), per-case results
    ("POST", "/challenges/<slug>/<phase_slug>/results", f"/challenges/{CHALLENGE}/{PHASE}/results",
     roles(403, anonymous=302, organiser=302, admin=302), {"data": {"published": "1"}}),
    # the decision report (docs/report.md): not published in this phase, so organisers only (a 403 with the reason
    # for the others); the PDF needs an analysis, which this phase has not (organisers: a 404 saying so)
    ("GET", "/challenges/<slug>/<phase_slug>/report", f"/challenges/{CHALLENGE}/{PHASE}/report", PAGE_ORGANISERS, {}),
    ("GET", "/challenges/<slug>/<phase_slug>/report.pdf", f"/challenges/{CHALLENGE}/{PHASE}/report.pdf",
     roles(403, anonymous=302, organiser=404, admin=404), {}),
    ("POST", "/challenges/<slug>/<phase_slug>/report-published", f"/challenges/{CHALLENGE}/{PHASE}/report-published",
     roles(403, anonymous=302, organiser=302, admin=302), {"data": {"published": "0"}}),
    # results: a submission's per-case results (this phase does not show them to participants)
    ("GET", "/submissions/<int:submission_id>/cases", S + "/cases",
     roles(404, anonymous=302, organiser=200, admin=200), {}),
    # edit forms and export: organisers (and admins) edit and export; only admins create a challenge
    ("GET", "/challenges/<slug>/export.zip", f"/challenges/{CHALLENGE}/export.zip", PAGE_ORGANISERS, {}),
    ("GET", "/challenges/<slug>/edit", f"/challenges/{CHALLENGE}/edit", PAGE_ORGANISERS, {}),
    ("POST", "/challenges/<slug>/edit", f"/challenges/{CHALLENGE}/edit",
     roles(403, anonymous=302, organiser=400, admin=400), {"data": {"join_policy": "maybe"}}),  # refused: unchanged
    ("GET", "/challenges/<slug>/<phase_slug>/edit", f"/challenges/{CHALLENGE}/{PHASE}/edit", PAGE_ORGANISERS, {}),
    ("POST", "/challenges/<slug>/<phase_slug>/edit", f"/challenges/{CHALLENGE}/{PHASE}/edit",
     roles(403, anonymous=302, organiser=400, admin=400), {"data": {"memory_mb": "lots"}}),
    ("GET", "/challenges/<slug>/phases/new", f"/challenges/{CHALLENGE}/phases/new", PAGE_ORGANISERS, {}),
    ("POST", "/challenges/<slug>/phases/new", f"/challenges/{CHALLENGE}/phases/new",
     roles(403, anonymous=302, organiser=400, admin=400), {"data": {"phase_slug": ""}}),
    ("GET", "/challenges/new", "/challenges/new", roles(403, anonymous=302, admin=200), {}),
    # test-set versions: organisers choose the ranked version and re-evaluate (the one submission is scored on v1
    # already: 409); everyone compares two versions of a published phase
    ("POST", "/challenges/<slug>/<phase_slug>/test-set/current", f"/challenges/{CHALLENGE}/{PHASE}/test-set/current",
     roles(403, anonymous=302, organiser=302, admin=302), {"data": {"version": "1"}}),
    ("POST", "/challenges/<slug>/<phase_slug>/reevaluations", f"/challenges/{CHALLENGE}/{PHASE}/reevaluations",
     roles(403, anonymous=302, organiser=409, admin=409), {"data": {"version": "1", "budget": "1",
                                                                    "selection": "final"}}),
    ("GET", "/challenges/<slug>/<phase_slug>/compare", f"/challenges/{CHALLENGE}/{PHASE}/compare", PAGES_PUBLIC, {}),
    ("POST", "/challenges/new", "/challenges/new", roles(403, anonymous=302, admin=400), {"data": {"slug": ""}}),
]
# Served the same to everyone, or not a permission question: the sign-in form itself, sign-out, static
# files, the readiness probe.
NOT_IN_THE_MATRIX = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/assets/<path:filename>"),
                     ("GET", "/static/<path:filename>"), ("GET", "/ready"),
                     ("POST", "/challenges/<slug>/<phase_slug>/submit")}


def _concrete(path: str, world: World) -> str:
    return (path.replace("{id}", str(world.submission_id)).replace("{file}", world.public_file)
            .replace("{team}", str(world.team_id)).replace("{invitation}", str(world.invitation_id)))


def test_every_route_is_in_the_matrix(world: World) -> None:
    routes = {(method, rule.rule) for rule in world.app.url_map.iter_rules()
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    covered = {(method, rule) for method, rule, *_ in API + PAGES} | NOT_IN_THE_MATRIX
    assert routes - covered == set(), "a route without a row in the authorization matrix"
    assert covered - routes == set(), "a row for a route that no longer exists"


def _leaks(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    found = [marker for marker in (LOG_MARKER, f"{PRIVATE_SCORE:.6f}"[:8]) if marker in text]
    if "case_id" in text and "auroc" in text and "," in text:
        found.append("the per-case table")
    return found


@pytest.mark.parametrize("row", API, ids=lambda row: f"{row[0]} {row[1]}")
def test_api(world: World, row: Row) -> None:
    method, _, path, expected, options = row
    seen = {role: world.api(role, method, _concrete(path, world), **options) for role in ROLES}
    assert {role: status for role, (status, _) in seen.items()} == expected
    for role in ("anonymous", "stranger", "other_team", "participant", "teammate", "other_organiser"):
        assert _leaks(seen[role][1]) == [], f"{role} read something hidden at {method} {path}"


@pytest.mark.parametrize("row", PAGES, ids=lambda row: f"{row[0]} {row[1]}")
def test_pages(world: World, row: Row) -> None:
    method, _, path, expected, options = row
    data = options.get("data") if isinstance(options.get("data"), dict) else None
    seen = {role: world.page(role, method, _concrete(path, world), data) for role in ROLES}  # type: ignore[arg-type]
    assert {role: status for role, (status, _) in seen.items()} == expected
    for role in ("anonymous", "stranger", "other_team", "participant", "teammate", "other_organiser"):
        assert _leaks(seen[role][1]) == [], f"{role} read something hidden at {method} {path}"


def test_the_organisers_do_read_what_the_others_may_not(world: World) -> None:
    status, log = world.api("organiser", "GET", f"/api/v1/submissions/{world.submission_id}/logs/stderr")
    assert status == 200 and LOG_MARKER.encode() in log
    status, table = world.api("organiser", "GET", f"/api/v1{P}/cases.csv")
    assert status == 200

