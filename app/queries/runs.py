"""A submission's runs (one per test-set version it was run on)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EvaluationRun


def latest_run(session: Session, submission_id: int) -> EvaluationRun | None:
    return session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == submission_id)
                          .order_by(EvaluationRun.id.desc()).limit(1))
