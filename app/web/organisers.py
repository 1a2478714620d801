"""The organisers' pages of a challenge: requests to join (accept, decline), its teams, its organisers (add,
remove), and every submission of a phase.

Every route needs a session (anonymous visitors go to the sign-in page) and is for the challenge's organisers and
the site admins only: anyone else gets a 403 (the challenge is public), an unknown challenge a 404. The rules are
the use cases' (app/usecases/membership.py). A refused action shows the page again with the reason next to the
part it concerns, with the status that says why (400, 404, 409); a done one is flashed, then back to the page.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound, ServiceError
from app.extensions import db_session, podium
from app.models import Challenge, ParticipationStatus, User
from app.permissions import organises
from app.queries.phase_submissions import phase_submissions
from app.queries.phases import get_challenge, get_phase
from app.usecases.exports import export_zip, long_table_csv
from app.usecases.membership import (
    add_organiser,
    decide,
    list_organisers,
    list_participants,
    remove_organiser,
)
from app.usecases.moderation import set_hidden
from app.usecases.teams import list_teams
from app.usecases.users import USERNAME_PATTERN
from app.web import _logged_in_user, sentence, web
from app.web.forms import AddOrganiserForm, DecisionForm
from app.web.sessions import signed_in

# What each section of the page says went wrong: the join requests, or the organisers list.
REQUESTS, ORGANISERS = "requests", "organisers"


def organised_challenge(db: Session, slug: str, doing: str = "manage it") -> tuple[Challenge, User]:
    """The challenge (404 if there is none) and the signed-in user (the view is @signed_in), who must organise it:
    anyone else gets a 403 saying that only its organisers (and the site's admins) `doing` (e.g. "edit or export
    it")."""
    user = _logged_in_user(db)
    assert user is not None  # @signed_in
    challenge = get_challenge(db, slug)
    if not organises(user, challenge):
        raise Forbidden(f"Only the organisers of {challenge.title} (and the site's admins) {doing}.")
    return challenge, user




def _no_such_user(username: str) -> str:
    return (f"There is no user called {username!r} on this site. Check the spelling; they need an account "
            "before they can organise.")


def _manage_page(db: Session, challenge: Challenge, user: User, *, form: AddOrganiserForm | None = None,
                 problems: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    requests = sorted(list_participants(db, challenge, actor=user),
                      key=lambda p: p.status != ParticipationStatus.PENDING)  # stable: by request time within
    return render_template("manage.html", challenge=challenge, requests=requests, teams=list_teams(db, challenge),
                           organisers=list_organisers(db, challenge), form=form or AddOrganiserForm(formdata=None),
                           problems=problems or {}, you=user.username), status


@web.get("/challenges/<slug>/<phase_slug>/submissions")
@signed_in
def phase_submissions_page(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Every submission of the phase, newest first, with links to each (its logs and per-case results)."""
    with db_session() as db:
        challenge, _ = organised_challenge(db, slug)
        phase = get_phase(db, slug, phase_slug)
        return render_template("phase_submissions.html", challenge=challenge, phase=phase,
                               submissions=phase_submissions(db, phase))


@web.get("/challenges/<slug>/<phase_slug>/cases.csv")
@signed_in
def phase_cases_csv(slug: str, phase_slug: str) -> ResponseReturnValue:
    """The per-case long table (every scored case of every succeeded submission), as the API's cases.csv."""
    with db_session() as db:
        organised_challenge(db, slug)
        body = long_table_csv(db, get_phase(db, slug, phase_slug))
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-cases.csv"'}


@web.get("/challenges/<slug>/<phase_slug>/export.zip")
@signed_in
def phase_export_zip(slug: str, phase_slug: str) -> ResponseReturnValue:
    """The phase's results in one archive (cases.csv, leaderboard.json, analysis.json, figures/), as the API's."""
    with db_session() as db:
        organised_challenge(db, slug)
        body = export_zip(db, podium().resources.store, get_phase(db, slug, phase_slug))
    return body, 200, {"Content-Type": "application/zip",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-export.zip"'}


@web.post("/submissions/<int:submission_id>/visibility")
@signed_in
def submission_visibility(submission_id: int) -> ResponseReturnValue:
    """Hide a submission from the leaderboard (with a reason), or show it again; back to the phase's list."""
    hidden = request.form.get("hidden") == "1"
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None  # @signed_in
        changed = set_hidden(db, submission_id, user, hidden=hidden, reason=request.form.get("reason", ""))
        phase, slug = changed.phase, changed.phase.challenge.slug
        phase_id, phase_slug = phase.id, phase.slug
        db.commit()
    podium().queue_analysis(phase_id)
    flash(f"Submission #{submission_id} is hidden from the leaderboard." if hidden
          else f"Submission #{submission_id} is shown on the leaderboard again.")
    return redirect(url_for("web.phase_submissions_page", slug=slug, phase_slug=phase_slug))


@web.get("/challenges/<slug>/manage")
@signed_in
def manage(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        challenge, user = organised_challenge(db, slug)
        return _manage_page(db, challenge, user)


@web.post("/challenges/<slug>/participants/<username>")
@signed_in
def decide_on_request(slug: str, username: str) -> ResponseReturnValue:
    form = DecisionForm()
    with db_session() as db:
        challenge, user = organised_challenge(db, slug)
        if not form.validate():
            return _manage_page(db, challenge, user, problems={REQUESTS: " ".join(form.decision.errors)}, status=400)
        accept = form.decision.data == "accept"
        try:
            if not USERNAME_PATTERN.fullmatch(username):
                raise NotFound(f"no user {username!r}")
            decide(db, challenge, username, accept=accept, actor=user)
        except ServiceError as exc:
            db.rollback()
            return _manage_page(db, challenge, user, problems={REQUESTS: sentence(str(exc))},
                                status=exc.status_code)
        flash(f"{username} takes part in {challenge.title} now." if accept
              else f"{username}'s request to join {challenge.title} was declined.")
    return redirect(url_for("web.manage", slug=slug))


@web.post("/challenges/<slug>/organisers")
@signed_in
def add_an_organiser(slug: str) -> ResponseReturnValue:
    form = AddOrganiserForm()
    with db_session() as db:
        challenge, user = organised_challenge(db, slug)
        if not form.validate():
            return _manage_page(db, challenge, user, form=form, status=400)
        username = form.username.data or ""
        if username in list_organisers(db, challenge):
            flash(f"{username} already organises {challenge.title}.")
            return redirect(url_for("web.manage", slug=slug))
        try:
            if not USERNAME_PATTERN.fullmatch(username):  # no user can have that name: not looked up
                raise NotFound(f"no user {username!r}")
            add_organiser(db, challenge, username, actor=user)
        except NotFound:
            db.rollback()
            form.username.errors = [_no_such_user(username)]
            return _manage_page(db, challenge, user, form=form, status=404)
        flash(f"{username} organises {challenge.title} now.")
    return redirect(url_for("web.manage", slug=slug))


@web.post("/challenges/<slug>/organisers/<username>/remove")
@signed_in
def remove_an_organiser(slug: str, username: str) -> ResponseReturnValue:
    with db_session() as db:
        challenge, user = organised_challenge(db, slug)
        try:
            if not USERNAME_PATTERN.fullmatch(username):
                raise NotFound(f"no user {username!r}")
            remove_organiser(db, challenge, username, actor=user)
        except ServiceError as exc:  # not an organiser (404), or the only one (409)
            db.rollback()
            return _manage_page(db, challenge, user, problems={ORGANISERS: sentence(str(exc))},
                                status=exc.status_code)
        still_manages = organises(user, challenge)  # an organiser may remove themselves; an admin manages all
        title = challenge.title
    flash(f"{username} no longer organises {title}.")
    return redirect(url_for("web.manage" if still_manages else "web.challenge", slug=slug))
