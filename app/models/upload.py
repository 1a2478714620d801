from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.models._types import UTCDateTime, utcnow


class PartedUpload(Base):
    """A large file sent in parts (resumable): a container archive or a test set, until it is used.

    The bytes are appended to a spool file in the web process's data folder (app.usecases.parted_uploads);
    this row says whose it is, what it is for, how large it will be and how much has arrived.
    """

    __tablename__ = "parted_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The upload's name in URLs: random, so one user cannot guess or probe another's upload.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # What it is for: "submission" (a container archive) or "test-set" (a test set archive).
    purpose: Mapped[str] = mapped_column(String(20))
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
