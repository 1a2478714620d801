from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._types import UTCDateTime, utcnow
from app.models.membership import ChallengeOrganiser


class MissingCasePolicy(enum.StrEnum):
    """What a missing or invalid output does to a submission (see docs/scoring.md)."""

    FAIL = "fail"  # the submission fails, with a per-case message
    WORST = "worst"  # the case gets the worst value of the output's range
    EXCLUDE = "exclude"  # the case is left out of the scores, and the participant is told


class LogVisibility(enum.StrEnum):
    """What participants may read of their own runs (organisers always read everything)."""

    FULL = "full"  # the container's stdout and stderr, and the platform's failure message
    FAILURE_MESSAGE = "failure-message"  # only what the platform observed: no container output
    STATE = "state"  # only the submission's state


class FinalRule(enum.StrEnum):
    """Which submissions enter the private leaderboard for a participant who selected none."""

    BEST_PUBLIC = "best-public"  # their best on the public part (what they could see), as Kaggle does
    LATEST = "latest"  # their latest succeeded submissions


class Challenge(Base):
    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    # How requests to join are decided (a JoinPolicy), and the terms a participant accepts first (if any).
    join_policy: Mapped[str] = mapped_column(String(10), default="auto", server_default="auto")
    terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The most members a team may have (None: teams of any size).
    max_team_size: Mapped[int | None] = mapped_column(Integer)
    # Public files participants may download (e.g. a training split): list of {"name", "key", "bytes"}.
    public_files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    phases: Mapped[list[Phase]] = relationship(
        back_populates="challenge", order_by="Phase.position", cascade="all, delete-orphan"
    )
    organiser_links: Mapped[list[ChallengeOrganiser]] = relationship(cascade="all, delete-orphan")

    @property
    def organiser_ids(self) -> set[int]:
        return {link.user_id for link in self.organiser_links}


class Phase(Base):
    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("challenge_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    submission_kind: Mapped[str] = mapped_column(String(30), default="container")
    run_mode: Mapped[str] = mapped_column(String(30), default="batch")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sandbox limits.
    time_limit_seconds: Mapped[int] = mapped_column(Integer, default=600)
    memory_mb: Mapped[int] = mapped_column(Integer, default=1024)
    cpus: Mapped[float] = mapped_column(Float, default=1.0)
    pids_limit: Mapped[int] = mapped_column(Integer, default=128)
    gpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # > 0: only GPU workers run it
    # Per-case mode: how many of a submission's cases run at once (the phase's CPUs are shared between them).
    cases_in_parallel: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Batch mode: how many parts the test set is split into, each run by whichever worker is free (1: one run).
    shards: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The sites holding the hidden test set (docs/sites.md), by name; empty: the test set is in central storage.
    sites: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    tmp_mb: Mapped[int] = mapped_column(Integer, default=256)
    output_mb: Mapped[int] = mapped_column(Integer, default=256)
    log_kb: Mapped[int] = mapped_column(Integer, default=1024)
    max_upload_mb: Mapped[int] = mapped_column(Integer, default=2048)
    submissions_per_day: Mapped[int] = mapped_column(Integer, default=5)
    submissions_total: Mapped[int | None] = mapped_column(Integer)  # over the phase's life; None: no limit
    # Interfaces, metrics and ranking as validated by the challenge spec (see app.challenge_yaml).
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    ground_truth: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Organiser evaluation container: {"archive_key", "sha256", "aggregates": [{name, title, higher_is_better}]}.
    evaluator: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ranking_metric: Mapped[str] = mapped_column(String(100))
    # Metadata column splitting the test set into "public" and "private" cases (Kaggle style), or None.
    split_column: Mapped[str | None] = mapped_column(String(100))
    # With a split: each participant selects up to this many final submissions before the phase closes; the
    # private leaderboard ranks only those (never the best private score of all), or final_rule's pick.
    final_submissions: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    final_rule: Mapped[str] = mapped_column(String(20), default=FinalRule.BEST_PUBLIC,
                                            server_default=FinalRule.BEST_PUBLIC.value)
    # Cases without a valid output: "fail" the submission, score them "worst", or "exclude" them.
    missing_cases: Mapped[str] = mapped_column(String(10), default="fail")  # a MissingCasePolicy
    # What participants read of their runs: a container can print hidden inputs to its logs.
    log_visibility: Mapped[str] = mapped_column(String(20), default=LogVisibility.FAILURE_MESSAGE,
                                                server_default=LogVisibility.FAILURE_MESSAGE.value)
    # Statistics shown with the leaderboard: ranking scheme, breakdown columns, operating point, readers.
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ranking_order: Mapped[str] = mapped_column(String(10), default="descending")
    # A ranking across several metrics (docs/statistics.md §3.6): {"metrics": [{"metric", "order", "weight"}],
    # "combine": "mean" | "median"} of the per-metric ranks; None: the "#" ranks by ranking_metric alone.
    ranking_across: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The metrics the leaderboard shows, in order (None: all of the phase's metrics and aggregates).
    leaderboard_columns: Mapped[list[str] | None] = mapped_column(JSON)
    # False: results are hidden from everyone but the organisers (leaderboard, analysis and participants' own
    # scores), e.g. until a blind evaluation is over; the organisers publish them when they choose.
    results_published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # True: participants read their own per-case results (scores and statuses per case). Off by default: per-case
    # scores can reveal the hidden ground truth case by case.
    case_results_visible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # True: participants download the phase's decision report with their own rows (organisers always may).
    report_published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    current_test_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_sets.id", use_alter=True, ondelete="SET NULL")
    )

    challenge: Mapped[Challenge] = relationship(back_populates="phases")
    current_test_set: Mapped[TestSet | None] = relationship(foreign_keys=[current_test_set_id])


class PhaseAnalysis(Base):
    """The leaderboard statistics of a phase, computed by a worker after each scored submission."""

    __tablename__ = "phase_analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    # The submissions it covers, so a stale analysis is recognisable.
    submission_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    figures: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # name -> storage key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TestSet(Base):
    """One immutable version of a phase's hidden test set. A changed test set gets a new version."""

    __tablename__ = "test_sets"
    __table_args__ = (UniqueConstraint("phase_id", "version"),)
    __test__ = False  # not a pytest test class

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    storage_prefix: Mapped[str] = mapped_column(String(500))
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    metadata_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    cases: Mapped[list[Case]] = relationship(
        back_populates="test_set", order_by="Case.case_key", cascade="all, delete-orphan"
    )


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("test_set_id", "case_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    case_key: Mapped[str] = mapped_column(String(200))
    # Organiser metadata from cases.csv: site, scanner, vendor, split, ...
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Input values and file paths as the container sees them (cases.json "inputs").
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The site holding this case (docs/sites.md); None: central storage. A site's case has no inputs here: they are
    # in the site's storage only.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))

    test_set: Mapped[TestSet] = relationship(back_populates="cases")
