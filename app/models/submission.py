from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class SubmissionState(enum.StrEnum):
    RECEIVED = "received"
    VALIDATING = "validating"
    QUEUED = "queued"
    RUNNING = "running"
    SCORING = "scoring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (SubmissionState.SUCCEEDED, SubmissionState.FAILED, SubmissionState.CANCELLED)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The submitter's team in the challenge when they submitted (None: they compete alone). The team's
    # submissions share its limits, its final selection and its one leaderboard row.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    state: Mapped[SubmissionState] = mapped_column(
        Enum(SubmissionState, name="submission_state", values_callable=lambda e: [m.value for m in e],
             native_enum=False, length=20),
        default=SubmissionState.RECEIVED,
        index=True,
    )
    comment: Mapped[str] = mapped_column(String(500), default="")
    upload_key: Mapped[str | None] = mapped_column(String(500))
    upload_bytes: Mapped[int | None] = mapped_column(BigInteger)
    upload_sha256: Mapped[str | None] = mapped_column(String(64))
    image_config_digest: Mapped[str | None] = mapped_column(String(80))
    image_tags: Mapped[str] = mapped_column(String(500), default="")
    # Shown to the participant when the submission fails: what went wrong and what to do.
    failure_message: Mapped[str | None] = mapped_column(Text)
    # What the container itself last wrote to stderr when it failed: shown only where the phase shows logs.
    failure_output: Mapped[str | None] = mapped_column(Text)
    # failure_message in the platform's own words (no file name or value the container chose): what participants
    # read under the failure-message policy. None when written before migration 0014 or by a path that never
    # quotes the container (app/queries/submission_summary.py says which message is shown then).
    participant_failure_message: Mapped[str | None] = mapped_column(Text)
    # True when the failure was the platform's, not the participant's (never counts against limits).
    failure_is_infrastructure: Mapped[bool] = mapped_column(default=False)
    # Chosen by the participant as one of their final submissions (phases with a public/private split).
    selected_final: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Hidden from the leaderboard by an organiser (e.g. a rule broken), with the reason its participant reads.
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # How many times an organiser ran it again (each re-run replaces its results; never counts against limits).
    reruns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Infrastructure faults so far (worker died, storage or engine down); retried with backoff up to a budget.
    infrastructure_faults: Mapped[int] = mapped_column(Integer, default=0)
    # Not to be run before this time (backoff after an infrastructure fault).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The attempt that holds the submission while running/scoring, and until when (renewed by a heartbeat).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    phase = relationship("Phase")
    user = relationship("User", foreign_keys=[user_id])
    team = relationship("Team")
    runs = relationship("EvaluationRun", back_populates="submission", order_by="EvaluationRun.id")


class SubmissionLock(Base):
    """One row per entrant (a participant alone, or a team) and phase. A new submission first updates it, so
    the database runs one entrant's submissions one at a time and the limit check and the insert cannot
    interleave (app/usecases/submission_limits.py). `entrant` is "user:<id>" or "team:<id>"."""

    __tablename__ = "submission_locks"

    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), primary_key=True)
    entrant: Mapped[str] = mapped_column(String(24), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
