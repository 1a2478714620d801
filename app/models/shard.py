from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models._types import UTCDateTime


class ShardState(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (again, after an infrastructure fault)
    RUNNING = "running"  # claimed by a worker, whose lease on it runs until lease_expires_at
    DONE = "done"  # its container exited 0; its outputs are stored under the submission's outputs
    FAILED = "failed"  # the participant's fault (or, after too many infrastructure faults, the platform's)


class SubmissionShard(Base):
    """One shard of a submission's run in a phase with `limits.shards` > 1 (app/pipeline/shards.py): a part of the
    test set's cases, run by whichever worker claims it; a failed one is retried alone."""

    __tablename__ = "submission_shards"
    __table_args__ = (UniqueConstraint("submission_id", "shard"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    test_set_id: Mapped[int] = mapped_column(ForeignKey("test_sets.id", ondelete="CASCADE"))
    shard: Mapped[int] = mapped_column(Integer)  # 0-based
    shards: Mapped[int] = mapped_column(Integer)  # how many the test set was split into
    state: Mapped[str] = mapped_column(String(20), default=ShardState.PENDING)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    infrastructure_faults: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in the platform's words
    participant_message: Mapped[str | None] = mapped_column(Text)  # the same, for the failure-message policy
    output: Mapped[str | None] = mapped_column(Text)  # the container's last stderr line (phases that show logs)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
