"""Teams: participants who compete together in one challenge, with one leaderboard row and shared limits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    challenge = relationship("Challenge")
    members: Mapped[list[TeamMember]] = relationship(back_populates="team", cascade="all, delete-orphan",
                                                     order_by="TeamMember.joined_at")
    invitations: Mapped[list[TeamInvitation]] = relationship(back_populates="team", cascade="all, delete-orphan",
                                                             order_by="TeamInvitation.created_at")

    @property
    def member_ids(self) -> set[int]:
        return {member.user_id for member in self.members}


class TeamMember(Base):
    """A member of a team. The unique (challenge, user) pair makes it one team per person per challenge."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
    user = relationship("User")


class TeamInvitation(Base):
    """An open invitation: accepting it makes the invitee a member; declining or withdrawing deletes it."""

    __tablename__ = "team_invitations"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    team: Mapped[Team] = relationship(back_populates="invitations")
    user = relationship("User", foreign_keys=[user_id])
    invited_by = relationship("User", foreign_keys=[invited_by_id])
