"""Re-evaluations: an organiser runs a phase's submissions again on another version of its test set.

A phase keeps every version of its test set (app/models/challenge.py TestSet). A re-evaluation names one version,
who asked, how many runs may go at once (its budget) and which submissions: one ReevaluationRun row per submission,
claimed by a worker with a lease like a shard (app/pipeline/reevaluation.py). Each done row has stored an
EvaluationRun of its submission on that version, beside the submission's other runs; the submission itself (its
state, its runs on other versions) is never touched.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class ReevaluationSelection(enum.StrEnum):
    FINAL = "final"  # the phase's final submissions (app/queries/final_submissions.py)
    SELECTED = "selected"  # submission ids the organiser picked


class ReevaluationRunState(enum.StrEnum):
    PENDING = "pending"  # waiting for its turn within the budget (again, after an infrastructure fault)
    RUNNING = "running"  # claimed by a worker, whose lease on it runs until lease_expires_at
    DONE = "done"  # its EvaluationRun on the version is stored (run_id)
    FAILED = "failed"  # the participant's fault on this version (or, after too many faults, the platform's)


class Reevaluation(Base):
    """An organiser's request: run these submissions of a phase on one version of its test set."""

    __tablename__ = "reevaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    budget: Mapped[int] = mapped_column(Integer)  # at most this many of its runs queued or running at once
    selection: Mapped[str] = mapped_column(String(20))  # a ReevaluationSelection
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    runs: Mapped[list[ReevaluationRun]] = relationship(back_populates="reevaluation", cascade="all, delete-orphan",
                                                       order_by="ReevaluationRun.id")


class ReevaluationRun(Base):
    """One submission of a re-evaluation: run on the re-evaluation's test set version by whichever worker claims it."""

    __tablename__ = "reevaluation_runs"
    __table_args__ = (UniqueConstraint("reevaluation_id", "submission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reevaluation_id: Mapped[int] = mapped_column(ForeignKey("reevaluations.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default=ReevaluationRunState.PENDING)
    # Set when its job was queued (the budget counts queued and running rows); None again when it went back to pending.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    infrastructure_faults: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in the platform's words
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the latest claim
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="SET NULL"))

    reevaluation: Mapped[Reevaluation] = relationship(back_populates="runs")
