"""Who competes: an entrant is a participant alone, or the team they belong to in the challenge.

An entrant's submissions share its limits, its final selection and its one leaderboard row. A submission
records the submitter's team when it was made (`Submission.team_id`); a participant joins a team only before
submitting anything to the challenge (app/usecases/teams.py), so an entrant's submissions never split.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from app.models import Submission, Team, TeamMember, User


@dataclass(frozen=True)
class Entrant:
    user_id: int
    username: str
    team_id: int | None = None
    team_name: str | None = None

    @property
    def key(self) -> str:
        """Names the entrant in lock rows: "team:<id>" or "user:<id>"."""
        return f"team:{self.team_id}" if self.team_id is not None else f"user:{self.user_id}"

    @property
    def name(self) -> str:
        return self.team_name if self.team_name is not None else self.username

    @property
    def subject(self) -> str:
        """For messages: "you" or "your team 'name'"."""
        return f"your team {self.team_name!r}" if self.team_name is not None else "you"

    @property
    def subject_have(self) -> str:
        """For messages: "you have" or "your team 'name' has"."""
        return "you have" if self.team_name is None else f"{self.subject} has"

    def submissions(self) -> ColumnElement[bool]:
        """The WHERE clause for this entrant's submissions (in any phase)."""
        if self.team_id is not None:
            return Submission.team_id == self.team_id
        return and_(Submission.user_id == self.user_id, Submission.team_id.is_(None))


def team_of(session: Session, challenge_id: int, user_id: int) -> Team | None:
    return session.scalar(select(Team).join(TeamMember, TeamMember.team_id == Team.id)
                          .where(TeamMember.challenge_id == challenge_id, TeamMember.user_id == user_id))


def entrant_of(session: Session, challenge_id: int, user: User) -> Entrant:
    team = team_of(session, challenge_id, user.id)
    if team is None:
        return Entrant(user.id, user.username)
    return Entrant(user.id, user.username, team.id, team.name)


def shares_submission(session: Session, submission: Submission, user: User) -> bool:
    """Whether `user` made the submission or belongs to the team that made it."""
    if submission.user_id == user.id:
        return True
    if submission.team_id is None:
        return False
    return session.scalar(select(TeamMember.user_id).where(TeamMember.team_id == submission.team_id,
                                                           TeamMember.user_id == user.id)) is not None
