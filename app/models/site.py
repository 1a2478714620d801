"""Sites: hospitals (or scanner parks) that keep a phase's hidden cases on their own storage (docs/sites.md).

A site's cases are registered centrally by key and organiser metadata only; their inputs and ground truth live in the
site's own storage, which only that site's workers can reach. A submission to a phase whose test set is held at sites
runs as one part per site (SubmissionSitePart), each claimed and leased by one of that site's workers; what comes back
is per-case status and scores and the site's share of the statistics (docs/sites.md, "What crosses the boundary").
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class Site(Base):
    """A place that holds hidden cases and runs its own workers, registered by an admin."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the queue's and the CLI's name: site-<name>
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TestSetPart(Base):
    """The cases of one test set version that one site holds: where they are in the site's storage (a prefix the
    centre cannot read) and the hash of their files, so that a site worker checks it stages what was registered."""

    __tablename__ = "test_set_parts"
    __table_args__ = (UniqueConstraint("test_set_id", "site_id"),)
    __test__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    storage_prefix: Mapped[str] = mapped_column(String(500))  # in the site's storage
    content_hash: Mapped[str] = mapped_column(String(64))
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SitePartState(enum.StrEnum):
    PENDING = "pending"  # waiting for one of the site's workers (again, after an infrastructure fault)
    RUNNING = "running"  # claimed by a site worker, whose lease on it runs until lease_expires_at
    DONE = "done"  # scored at the site; its result is stored on the row
    FAILED = "failed"  # the participant's fault (or, after too many infrastructure faults, the platform's)


class SubmissionSitePart(Base):
    """One site's part of a submission's run: that site's cases, run and scored by one of its workers."""

    __tablename__ = "submission_site_parts"
    __table_args__ = (UniqueConstraint("submission_id", "test_set_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # The re-evaluation run this part belongs to (app/pipeline/reevaluation.py), or None: the submission's own run.
    reevaluation_run_id: Mapped[int | None] = mapped_column(ForeignKey("reevaluation_runs.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20), default=SitePartState.PENDING)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    infrastructure_faults: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    image_load_seconds: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in the platform's words
    participant_message: Mapped[str | None] = mapped_column(Text)  # the same, for the failure-message policy
    # What the site sent back (app/pipeline/site_part.py, SiteResult): per-case status, messages and values, and
    # the site's statistics for set-level metrics. Never an input, a ground-truth value or an output file.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
