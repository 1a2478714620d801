"""Teams: create, invite, accept, decline, leave; one team per person per challenge; a team shares its leaderboard
row and its final selection."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound, ServiceError
from app.models import Challenge, Submission, SubmissionState, Team, TeamInvitation, TeamMember, User
from app.queries.entrants import entrant_of, team_of
from app.queries.leaderboard import build_leaderboard
from app.usecases.final_selection import select_final
from app.usecases.teams import (
    accept_invitation,
    create_team,
    invitations_for,
    invite,
    leave_team,
    withdraw_invitation,
)
from app.usecases.users import create_user
from tests.app.usecases.test_final_selection import _close, _phase, _scored


@pytest.fixture
def people(session: Session) -> dict[str, User]:
    return {name: create_user(session, name)[0] for name in ("ada", "bob", "cy", "dee")}


@pytest.fixture
def challenge(session: Session) -> Challenge:
    phase = _phase(session)
    session.commit()
    return phase.challenge


def _members(team: Team) -> list[str]:
    return [member.user.username for member in team.members]


def test_create_invite_accept(session: Session, challenge: Challenge, people: dict[str, User]) -> None:
    team = create_team(session, challenge, people["ada"], "  Radiology Lab ")
    assert team.name == "Radiology Lab" and _members(team) == ["ada"]
    invitation = invite(session, team.id, people["ada"], "bob")
    assert [i.team.name for i in invitations_for(session, people["bob"], challenge)] == ["Radiology Lab"]
    joined = accept_invitation(session, invitation.id, people["bob"])
    assert _members(joined) == ["ada", "bob"]
    assert invitations_for(session, people["bob"]) == []
    assert entrant_of(session, challenge.id, people["bob"]).name == "Radiology Lab"


def test_one_team_per_person_per_challenge(session: Session, challenge: Challenge, people: dict[str, User]) -> None:
    ours = create_team(session, challenge, people["ada"], "Ours")
    theirs = create_team(session, challenge, people["cy"], "Theirs")
    with pytest.raises(Conflict, match="already in a team"):
        create_team(session, challenge, people["ada"], "Another")
    first = invite(session, ours.id, people["ada"], "bob")
    second = invite(session, theirs.id, people["cy"], "bob")
    accept_invitation(session, first.id, people["bob"])
    # Accepting withdrew bob's other invitations in the challenge; an invitation to a member is refused.
    assert session.get(TeamInvitation, second.id) is None
    with pytest.raises(Conflict, match="already in another team"):
        invite(session, theirs.id, people["cy"], "bob")
    # The database holds the rule even if a check were skipped.
    session.add(TeamMember(team_id=theirs.id, user_id=people["bob"].id, challenge_id=challenge.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_names_are_checked(session: Session, challenge: Challenge, people: dict[str, User]) -> None:
    create_team(session, challenge, people["ada"], "Vision")
    with pytest.raises(Conflict, match="already exists"):
        create_team(session, challenge, people["bob"], "VISION")
    with pytest.raises(Conflict, match="username"):
        create_team(session, challenge, people["bob"], "dee")  # would look like a participant on the board
    for bad in ("", "x", "-dash", "<script>", "new\nline", "a" * 65):
        with pytest.raises(ServiceError):
            create_team(session, challenge, people["bob"], bad)
    assert team_of(session, challenge.id, people["bob"].id) is None


def test_others_invitations_and_teams_are_not_found(session: Session, challenge: Challenge,
                                                    people: dict[str, User]) -> None:
    team = create_team(session, challenge, people["ada"], "Ours")
    invitation = invite(session, team.id, people["ada"], "bob")
    with pytest.raises(NotFound):
        accept_invitation(session, invitation.id, people["cy"])  # meant for bob
    with pytest.raises(NotFound):
        withdraw_invitation(session, invitation.id, people["cy"])
    with pytest.raises(NotFound):
        invite(session, team.id, people["cy"], "dee")  # cy is not a member
    with pytest.raises(NotFound):
        invite(session, team.id, people["ada"], "nobody")
    withdraw_invitation(session, invitation.id, people["bob"])  # bob declines
    assert session.get(TeamInvitation, invitation.id) is None


def test_the_team_size_limit(session: Session, challenge: Challenge, people: dict[str, User]) -> None:
    challenge.max_team_size = 2
    session.commit()
    team = create_team(session, challenge, people["ada"], "Pair")
    to_bob = invite(session, team.id, people["ada"], "bob")
    to_cy = invite(session, team.id, people["ada"], "cy")  # invitations do not count until accepted
    accept_invitation(session, to_bob.id, people["bob"])
    with pytest.raises(Conflict, match="full"):
        accept_invitation(session, to_cy.id, people["cy"])
    with pytest.raises(Conflict, match="the most this challenge allows"):
        invite(session, team.id, people["ada"], "dee")
    assert _members(session.get(Team, team.id)) == ["ada", "bob"]  # type: ignore[arg-type]


def test_a_participant_who_submitted_alone_cannot_join_and_a_team_that_submitted_is_fixed(
        session: Session, challenge: Challenge, people: dict[str, User]) -> None:
    phase = challenge.phases[0]
    _scored(session, phase, people["dee"], 0.5, 0.5)  # dee competes alone
    session.commit()
    team = create_team(session, challenge, people["ada"], "Ours")
    to_dee = invite(session, team.id, people["ada"], "dee")
    with pytest.raises(Conflict, match="already submitted"):
        accept_invitation(session, to_dee.id, people["dee"])
    with pytest.raises(Conflict, match="already submitted"):
        create_team(session, challenge, people["dee"], "Dee Team")
    # Before the team submits, members may leave; the last one to leave removes it.
    spare = create_team(session, challenge, people["cy"], "Spare")
    leave_team(session, spare.id, people["cy"])
    assert session.get(Team, spare.id) is None
    submission = _scored(session, phase, people["ada"], 0.7, 0.7)
    submission.team_id = team.id
    session.commit()
    with pytest.raises(Conflict, match="has submitted"):
        leave_team(session, team.id, people["ada"])


def test_a_team_has_one_leaderboard_row_and_shares_its_final_selection(session: Session, challenge: Challenge,
                                                                        people: dict[str, User]) -> None:
    phase = challenge.phases[0]
    team = create_team(session, challenge, people["ada"], "Ours")
    accept_invitation(session, invite(session, team.id, people["ada"], "bob").id, people["bob"])
    made = {}
    for name, by, public, private in (("ada-lucky", "ada", 0.60, 0.99), ("bob-best", "bob", 0.90, 0.70),
                                      ("bob-other", "bob", 0.80, 0.80)):
        made[name] = _scored(session, phase, people[by], public, private)
        made[name].team_id = team.id
    alone = _scored(session, phase, people["cy"], 0.75, 0.75)
    session.commit()
    board = build_leaderboard(session, phase)
    assert [(row.participant, row.is_team, row.submitted_by) for row in board.rows] == [
        ("Ours", True, "bob"), ("cy", False, "cy")]
    # ada selects bob's other submission for the team; the team may select one (the phase's number).
    select_final(session, made["bob-other"].id, people["ada"], final=True)
    with pytest.raises(Conflict, match="your team 'Ours' has already selected 1"):
        select_final(session, made["ada-lucky"].id, people["bob"], final=True)
    with pytest.raises(NotFound):
        select_final(session, made["bob-best"].id, people["cy"], final=True)  # not cy's team
    _close(session, phase)
    private = build_leaderboard(session, phase)
    assert [(row.participant, row.submission_id) for row in private.rows] == [
        ("Ours", made["bob-other"].id), ("cy", alone.id)]
    assert session.scalar(select(Submission.state).where(Submission.id == alone.id)) == SubmissionState.SUCCEEDED
