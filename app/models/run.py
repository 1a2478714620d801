from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class CaseStatus(enum.StrEnum):
    """What a run produced for one case."""

    VALID = "valid"
    MISSING = "missing"  # no output file for the case
    INVALID = "invalid"  # an output that does not fit its interface


class ScoreSubset(enum.StrEnum):
    """Which cases a score covers: all, or one part of a public/private split (see docs/scoring.md)."""

    ALL = "all"
    PUBLIC = "public"
    PRIVATE = "private"


class EvaluationRun(Base):
    """One evaluation of a submission against one test set version."""

    __tablename__ = "evaluation_runs"
    __table_args__ = (UniqueConstraint("submission_id", "test_set_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    worker: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exit_code: Mapped[int | None] = mapped_column(Integer)
    container_seconds: Mapped[float | None] = mapped_column(Float)  # wall time, start to exit
    # What the container used, sampled from its cgroup (runners/resource_usage.py); None when not measured (runs
    # recorded before migration 0018, or a host where neither the cgroup nor the engine's stats could be read).
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)  # MiB
    image_load_seconds: Mapped[float | None] = mapped_column(Float)
    stdout_key: Mapped[str | None] = mapped_column(String(500))
    stderr_key: Mapped[str | None] = mapped_column(String(500))
    stderr_tail: Mapped[str] = mapped_column(Text, default="")
    cases_valid: Mapped[int] = mapped_column(Integer, default=0)
    cases_invalid: Mapped[int] = mapped_column(Integer, default=0)
    # What the participant should know although it did not fail the run (ignored files, excluded cases). May
    # name files the container wrote: organisers, and participants of phases that show full logs, read these.
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The same notes in the platform's words and counts only (nothing the container chose): what participants
    # read under the failure-message policy. None on runs recorded before migration 0014 (they read a generic
    # line instead).
    participant_notes: Mapped[list[str] | None] = mapped_column(JSON)

    submission = relationship("Submission", back_populates="runs")
    outcomes: Mapped[list[CaseOutcome]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="CaseOutcome.id"
    )
    scores: Mapped[list[Score]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="Score.id"
    )


class CaseOutcome(Base):
    """What one run produced for one case: the validated prediction, and per-case metric values."""

    __tablename__ = "case_outcomes"
    __table_args__ = (UniqueConstraint("run_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))  # a CaseStatus
    message: Mapped[str] = mapped_column(Text, default="")  # may quote the output: organisers only
    # The same problem in the platform's words (names only the case, the declared output and the rule broken): what
    # participants read where the phase does not show full logs. None before migration 0020 (a generic line then).
    participant_message: Mapped[str | None] = mapped_column(Text)
    prediction: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    values: Mapped[dict[str, float | None]] = mapped_column(JSON, default=dict)
    # Per-case mode only (one container run per case): that run's wall time, CPU seconds and peak memory (MiB).
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)

    run: Mapped[EvaluationRun] = relationship(back_populates="outcomes")
    case = relationship("Case")


class Score(Base):
    """An aggregate metric of one run, with its confidence interval when the metric gives one."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("run_id", "metric", "subset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(100))
    # A ScoreSubset: all cases, or the public / private part of a split test set (private revealed at close).
    subset: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")

    run: Mapped[EvaluationRun] = relationship(back_populates="scores")
