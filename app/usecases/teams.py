"""Teams: a participant creates one for a challenge, invites others, and they accept or decline.

Rules (as on Kaggle and EvalAI, kept strict so that an entrant's submissions never split):
- one team per person per challenge (the database enforces it: team_members has a unique (challenge, user));
- only accepted participants create, invite and join (joining a challenge is app/usecases/membership.py);
- a participant joins a team only before submitting anything to the challenge, and a team's members leave it
  only before it has submitted: its submissions, limits and final selection belong to its members together;
- a challenge may cap the team size (`max_team_size` in challenge.yaml); pending invitations do not count
  until accepted, and accepting checks the cap again.
Another team's invitations and an invitation meant for someone else are a 404, like any other's resource.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ServiceError
from app.models import Challenge, Submission, Team, TeamInvitation, TeamMember, User
from app.models._types import utcnow
from app.queries.entrants import team_of
from app.usecases.membership import require_participant
from app.usecases.submission_limits import lock_entrant

TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{1,62}[A-Za-z0-9._\-]$")


def team_name_problem(name: str) -> str | None:
    if not TEAM_NAME.fullmatch(name):
        return ("a team name is 3-64 letters, digits, spaces and '_.-', starting with a letter or digit and not "
                "ending with a space")
    return None


def _has_submitted(session: Session, challenge: Challenge, user: User) -> bool:
    phase_ids = [phase.id for phase in challenge.phases]
    return session.scalar(select(Submission.id).where(Submission.phase_id.in_(phase_ids),
                                                      Submission.user_id == user.id).limit(1)) is not None


def _team_has_submitted(session: Session, team: Team) -> bool:
    return session.scalar(select(Submission.id).where(Submission.team_id == team.id).limit(1)) is not None


def _lock_member(session: Session, challenge: Challenge, user: User) -> None:
    """Serialise with this user's submission claims in every phase (they take the same lock rows first)."""
    for phase in challenge.phases:
        lock_entrant(session, phase.id, f"user:{user.id}")


def _check_can_join(session: Session, challenge: Challenge, user: User) -> None:
    if team_of(session, challenge.id, user.id) is not None:
        raise Conflict(f"you are already in a team in {challenge.slug!r}; leave it first (a person is in one team "
                       "per challenge)")
    if _has_submitted(session, challenge, user):
        raise Conflict(f"you have already submitted to {challenge.slug!r} on your own, so you cannot join or form "
                       "a team in it (a team's submissions, limits and final selection are shared from its start)")


def create_team(session: Session, challenge: Challenge, user: User, name: str) -> Team:
    """Create a team with `user` as its first member. Commits."""
    name = name.strip()
    problem = team_name_problem(name)
    if problem:
        raise ServiceError(problem)
    require_participant(session, challenge, user)
    _lock_member(session, challenge, user)
    try:
        _check_can_join(session, challenge, user)
        taken = session.scalar(select(Team.id).where(Team.challenge_id == challenge.id,
                                                     func.lower(Team.name) == name.lower()))
        if taken is not None:
            raise Conflict(f"a team named {name!r} already exists in {challenge.slug!r}; choose another name")
        if session.scalar(select(User.id).where(func.lower(User.username) == name.lower())) is not None:
            raise Conflict(f"{name!r} is a participant's username; choose a team name no one uses as a username")
        team = Team(challenge_id=challenge.id, name=name, created_by_id=user.id)
        team.members.append(TeamMember(user_id=user.id, challenge_id=challenge.id))
        session.add(team)
        session.commit()
    except IntegrityError:  # a concurrent request won the name or the membership
        session.rollback()
        raise Conflict("the team could not be created: the name or your membership changed meanwhile; reload "
                       "and try again") from None
    except BaseException:
        session.rollback()
        raise
    return team


def list_teams(session: Session, challenge: Challenge) -> list[Team]:
    return list(session.scalars(select(Team).where(Team.challenge_id == challenge.id).order_by(Team.name)))


def get_team(session: Session, team_id: int, user: User) -> Team:
    """A team, for its members (anyone else: 404)."""
    team = session.get(Team, team_id)
    if team is None or user.id not in team.member_ids:
        raise NotFound(f"no team {team_id} of yours")
    return team


def invite(session: Session, team_id: int, user: User, username: str) -> TeamInvitation:
    """A member invites another user to the team. Commits."""
    team = get_team(session, team_id, user)
    invitee = session.scalar(select(User).where(User.username == username))
    if invitee is None:
        raise NotFound(f"no user {username!r}")
    if invitee.id in team.member_ids:
        raise Conflict(f"{username!r} is already in team {team.name!r}")
    if team_of(session, team.challenge_id, invitee.id) is not None:
        raise Conflict(f"{username!r} is already in another team in this challenge")
    limit = session.get(Challenge, team.challenge_id).max_team_size  # type: ignore[union-attr]
    if limit is not None and len(team.members) >= limit:
        raise Conflict(f"team {team.name!r} has {len(team.members)} members, the most this challenge allows")
    existing = session.scalar(select(TeamInvitation).where(TeamInvitation.team_id == team.id,
                                                           TeamInvitation.user_id == invitee.id))
    if existing is not None:
        return existing
    invitation = TeamInvitation(team_id=team.id, user_id=invitee.id, invited_by_id=user.id, created_at=utcnow())
    session.add(invitation)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{username!r} was invited meanwhile") from None
    return invitation


def invitations_for(session: Session, user: User, challenge: Challenge | None = None) -> list[TeamInvitation]:
    """Open invitations to `user` (in one challenge, or all)."""
    query = select(TeamInvitation).join(Team, Team.id == TeamInvitation.team_id).where(TeamInvitation.user_id
                                                                                        == user.id)
    if challenge is not None:
        query = query.where(Team.challenge_id == challenge.id)
    return list(session.scalars(query.order_by(TeamInvitation.created_at)))


def invitation_for(session: Session, invitation_id: int, user: User) -> TeamInvitation:
    """An invitation to `user` (anyone else's: 404)."""
    invitation = session.get(TeamInvitation, invitation_id)
    if invitation is None or invitation.user_id != user.id:
        raise NotFound(f"no invitation {invitation_id} for you")
    return invitation


def accept_invitation(session: Session, invitation_id: int, user: User) -> Team:
    """The invitee joins the team; their other invitations in the challenge are withdrawn. Commits."""
    invitation = invitation_for(session, invitation_id, user)
    team = invitation.team
    challenge = session.get(Challenge, team.challenge_id)
    assert challenge is not None
    require_participant(session, challenge, user)
    _lock_member(session, challenge, user)
    try:
        _check_can_join(session, challenge, user)
        if challenge.max_team_size is not None and len(team.members) >= challenge.max_team_size:
            raise Conflict(f"team {team.name!r} is full ({challenge.max_team_size} members, the most this challenge "
                           "allows)")
        team.members.append(TeamMember(user_id=user.id, challenge_id=challenge.id))
        session.execute(delete(TeamInvitation).where(
            TeamInvitation.user_id == user.id,
            TeamInvitation.team_id.in_(select(Team.id).where(Team.challenge_id == challenge.id))))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("you joined a team meanwhile; a person is in one team per challenge") from None
    except BaseException:
        session.rollback()
        raise
    session.refresh(team)
    return team


def withdraw_invitation(session: Session, invitation_id: int, user: User) -> None:
    """The invitee declines, or a member of the team withdraws it. Commits."""
    invitation = session.get(TeamInvitation, invitation_id)
    if invitation is None or (invitation.user_id != user.id and user.id not in invitation.team.member_ids):
        raise NotFound(f"no invitation {invitation_id} for you or your team")
    session.delete(invitation)
    session.commit()


def leave_team(session: Session, team_id: int, user: User) -> None:
    """Leave a team that has not submitted yet; the last member to leave removes it. Commits."""
    team = get_team(session, team_id, user)
    if _team_has_submitted(session, team):
        raise Conflict(f"team {team.name!r} has submitted, so its members are fixed: its submissions, limits and "
                       "final selection are theirs together")
    team.members = [member for member in team.members if member.user_id != user.id]
    if not team.members:
        session.delete(team)
    session.commit()
