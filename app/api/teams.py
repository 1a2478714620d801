"""Teams through the REST API: create, invite, accept or decline, leave (rules: app/usecases/teams.py)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from spectree import Response

from app.api import _current_user, api, schemas
from app.api.openapi import InvalidRequest, errors, operation
from app.errors import NotFound
from app.extensions import db_session
from app.models import Team, TeamInvitation
from app.queries.entrants import team_of
from app.queries.phases import get_challenge
from app.usecases.teams import (
    accept_invitation,
    create_team,
    get_team,
    invitations_for,
    invite,
    leave_team,
    list_teams,
    withdraw_invitation,
)

TEAMS = ("teams",)


@api.get("/challenges/<slug>/teams")
@operation(Response(HTTP_200=(list[schemas.Team], "the challenge's teams, by name"), **errors(404)), tags=TEAMS)
def teams(slug: str) -> Any:
    """The teams of a challenge and their members (public, like the leaderboard that shows them)."""
    with db_session() as session:
        return jsonify([team_json(team) for team in list_teams(session, get_challenge(session, slug))])


@api.post("/challenges/<slug>/teams")
@operation(Response(HTTP_201=(schemas.Team, "created, with you as its first member"),
                    **errors(400, 401, 403, 404, 409)), json=schemas.NewTeam, token=True, tags=TEAMS)
def new_team(slug: str, json: schemas.NewTeam) -> Any:
    """Create a team in a challenge you take part in (before you submit to it; one team per person)."""
    if json is None:
        raise InvalidRequest('send the team\'s name as JSON: {"name": "..."}')
    with db_session() as session:
        user = _current_user(session)
        team = create_team(session, get_challenge(session, slug), user, json.name)
        return jsonify(team_json(team, members_view=True)), 201


@api.get("/challenges/<slug>/team")
@operation(Response(HTTP_200=(schemas.Team, "your team, with its open invitations"), **errors(401, 404)),
           token=True, tags=TEAMS)
def my_team(slug: str) -> Any:
    """Your team in a challenge (404: you compete alone)."""
    with db_session() as session:
        user = _current_user(session)
        challenge = get_challenge(session, slug)
        team = team_of(session, challenge.id, user.id)
        if team is None:
            raise NotFound(f"you are in no team in {slug!r}")
        return jsonify(team_json(team, members_view=True))


@api.post("/teams/<int:team_id>/invitations")
@operation(Response(HTTP_201=(schemas.Invitation, "the invitation (an existing one, if already invited)"),
                    **errors(400, 401, 404, 409)), json=schemas.NewInvitation, token=True, tags=TEAMS)
def new_invitation(team_id: int, json: schemas.NewInvitation) -> Any:
    """Members: invite a user to your team."""
    if json is None:
        raise InvalidRequest('send whom to invite as JSON: {"username": "..."}')
    with db_session() as session:
        user = _current_user(session)
        return jsonify(invitation_json(invite(session, team_id, user, json.username))), 201


@api.post("/teams/<int:team_id>/leave")
@operation(Response(HTTP_200=(schemas.Team, "the team without you (no members: it is gone)"),
                    **errors(401, 404, 409)), token=True, tags=TEAMS)
def leave(team_id: int) -> Any:
    """Leave your team, while it has not submitted yet."""
    with db_session() as session:
        user = _current_user(session)
        answer = team_json(get_team(session, team_id, user))
        leave_team(session, team_id, user)
        answer["members"] = [name for name in answer["members"] if name != user.username]
        return jsonify(answer)


@api.get("/invitations")
@operation(Response(HTTP_200=(list[schemas.Invitation], "invitations to you, oldest first"), **errors(401)),
           token=True, tags=TEAMS)
def invitations() -> Any:
    """Your open invitations to teams, in every challenge."""
    with db_session() as session:
        user = _current_user(session)
        return jsonify([invitation_json(i) for i in invitations_for(session, user)])


@api.post("/invitations/<int:invitation_id>/accept")
@operation(Response(HTTP_200=(schemas.Team, "the team you joined"), **errors(401, 403, 404, 409)),
           token=True, tags=TEAMS)
def accept(invitation_id: int) -> Any:
    """Accept an invitation: you join the team (your other invitations in the challenge are withdrawn)."""
    with db_session() as session:
        user = _current_user(session)
        return jsonify(team_json(accept_invitation(session, invitation_id, user), members_view=True))


@api.delete("/invitations/<int:invitation_id>")
@operation(Response(HTTP_200=(schemas.Invitation, "declined or withdrawn: it is gone"), **errors(401, 404)),
           token=True, tags=TEAMS)
def decline(invitation_id: int) -> Any:
    """Decline an invitation to you, or withdraw one your team sent."""
    with db_session() as session:
        user = _current_user(session)
        invitation = session.get(TeamInvitation, invitation_id)
        answer = invitation_json(invitation) if invitation is not None else None
        withdraw_invitation(session, invitation_id, user)
        return jsonify(answer)


def team_json(team: Team, *, members_view: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"id": team.id, "challenge": team.challenge.slug, "name": team.name,
                            "members": [member.user.username for member in team.members],
                            "created_at": team.created_at.isoformat(timespec="seconds")}
    if members_view:
        data["invited"] = [invitation.user.username for invitation in team.invitations]
    return data


def invitation_json(invitation: TeamInvitation) -> dict[str, Any]:
    return {"id": invitation.id, "team_id": invitation.team_id, "team": invitation.team.name,
            "challenge": invitation.team.challenge.slug, "username": invitation.user.username,
            "invited_by": invitation.invited_by.username if invitation.invited_by is not None else None,
            "created_at": invitation.created_at.isoformat(timespec="seconds")}
