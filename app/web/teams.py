"""Team pages: your team in a challenge (members, invitations, invite, leave), or a form to create one and the
invitations you received (rules: app/usecases/teams.py)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.errors import ServiceError
from app.extensions import db_session
from app.models import Challenge, Team, TeamInvitation, User
from app.queries.entrants import team_of
from app.queries.phases import get_challenge
from app.usecases.membership import participation_of
from app.usecases.teams import (
    accept_invitation,
    create_team,
    get_team,
    invitation_for,
    invitations_for,
    invite,
    leave_team,
    withdraw_invitation,
)
from app.web import _logged_in_user, web
from app.web.sessions import signed_in


def _team_page(db: Session, challenge: Challenge, user: User, *, problem: str | None = None, status: int = 200,
               entered: str = "") -> ResponseReturnValue:
    team = team_of(db, challenge.id, user.id)
    return render_template("team.html", challenge=challenge, team=team, problem=problem, entered=entered,
                           invitations=invitations_for(db, user, challenge) if team is None else [],
                           participation=participation_of(db, challenge, user)), status


def _user(db: Session) -> User:
    user = _logged_in_user(db)
    assert user is not None  # @signed_in
    return user


@web.get("/challenges/<slug>/team")
@signed_in
def team(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        return _team_page(db, get_challenge(db, slug), _user(db))


@web.post("/challenges/<slug>/team")
@signed_in
def team_create(slug: str) -> ResponseReturnValue:
    name = request.form.get("name", "")
    with db_session() as db:
        challenge, user = get_challenge(db, slug), _user(db)
        try:
            made = create_team(db, challenge, user, name)
        except ServiceError as exc:
            return _team_page(db, challenge, user, problem=str(exc), status=exc.status_code, entered=name)
        flash(f"You created the team {made.name!r}. Invite your team-mates by username.")
    return redirect(url_for("web.team", slug=slug))


def _back_to(db: Session, team_id: int, user: User) -> tuple[Challenge, Team]:
    found = get_team(db, team_id, user)
    return found.challenge, found


@web.post("/teams/<int:team_id>/invite")
@signed_in
def team_invite(team_id: int) -> ResponseReturnValue:
    username = request.form.get("username", "").strip()
    with db_session() as db:
        user = _user(db)
        challenge, found = _back_to(db, team_id, user)
        try:
            invite(db, team_id, user, username)
        except ServiceError as exc:
            return _team_page(db, challenge, user, problem=str(exc), status=exc.status_code, entered=username)
        flash(f"{username} was invited to {found.name!r}. They accept on their team page for this challenge.")
        slug = challenge.slug
    return redirect(url_for("web.team", slug=slug))


@web.post("/teams/<int:team_id>/leave")
@signed_in
def team_leave(team_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _user(db)
        challenge, found = _back_to(db, team_id, user)
        slug, name = challenge.slug, found.name
        try:
            leave_team(db, team_id, user)
        except ServiceError as exc:
            return _team_page(db, challenge, user, problem=str(exc), status=exc.status_code)
    flash(f"You left the team {name!r}.")
    return redirect(url_for("web.team", slug=slug))


@web.post("/invitations/<int:invitation_id>/accept")
@signed_in
def invitation_accept(invitation_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _user(db)
        challenge = invitation_for(db, invitation_id, user).team.challenge
        try:
            joined = accept_invitation(db, invitation_id, user)
        except ServiceError as exc:
            return _team_page(db, challenge, user, problem=str(exc), status=exc.status_code)
        flash(f"You joined the team {joined.name!r}.")
        slug = challenge.slug
    return redirect(url_for("web.team", slug=slug))


@web.post("/invitations/<int:invitation_id>/decline")
@signed_in
def invitation_decline(invitation_id: int) -> ResponseReturnValue:
    """The invitee declines, or a member withdraws it."""
    with db_session() as db:
        user = _user(db)
        invitation = db.get(TeamInvitation, invitation_id)
        slug = invitation.team.challenge.slug if invitation is not None else ""
        withdraw_invitation(db, invitation_id, user)  # a 404 for anyone else
    flash("The invitation was withdrawn." if request.form.get("withdraw") else "You declined the invitation.")
    return redirect(url_for("web.team", slug=slug))
