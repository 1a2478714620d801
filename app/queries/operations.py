"""What an operator watches, read from the database: submissions by state, failures by cause, run durations.

Served as Prometheus metrics by app/web/metrics.py. Every figure is one aggregate query, so a scrape costs the
same few queries however many submissions there are (the database does the counting).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.models import EvaluationRun, Submission, SubmissionState

# Upper bounds (seconds) of the duration histograms: from a sub-second container to a 24-hour run.
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0)


@dataclass(frozen=True)
class DurationHistogram:
    """Cumulative counts per upper bound (Prometheus' `le`), the total count and the sum of the values."""

    buckets: list[tuple[float, int]]
    count: int
    total: float


def submissions_by_state(session: Session) -> dict[str, int]:
    """Every state, with 0 for the states no submission is in (a gauge must not vanish when it reaches 0)."""
    counts = dict(session.execute(select(Submission.state, func.count()).group_by(Submission.state)).all())
    return {state.value: int(counts.get(state, 0)) for state in SubmissionState}


def failures_by_cause(session: Session) -> dict[str, int]:
    """Failed submissions: the participant's fault (counts against them) or the platform's (never does)."""
    rows = session.execute(select(Submission.failure_is_infrastructure, func.count())
                           .where(Submission.state == SubmissionState.FAILED)
                           .group_by(Submission.failure_is_infrastructure)).all()
    counts = {bool(platform): int(n) for platform, n in rows}
    return {"participant": counts.get(False, 0), "platform": counts.get(True, 0)}


def infrastructure_faults(session: Session) -> int:
    """Attempts ended by the platform's fault (retried or not): workers lost, storage or engine down."""
    return int(session.scalar(select(func.coalesce(func.sum(Submission.infrastructure_faults), 0))) or 0)


def run_durations(session: Session) -> dict[str, DurationHistogram]:
    """Per stage of a run that the worker records: the container's wall time and the image load."""
    return {"run": _histogram(session, EvaluationRun.container_seconds),
            "image_load": _histogram(session, EvaluationRun.image_load_seconds)}


def _histogram(session: Session, column: InstrumentedAttribute[float | None]) -> DurationHistogram:
    per_bucket = [func.sum(case((column <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    row = session.execute(select(func.count(column), func.coalesce(func.sum(column), 0.0), *per_bucket)
                          .where(column.is_not(None))).one()
    count, total, *cumulative = row
    return DurationHistogram([(bound, int(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)],
                             int(count or 0), float(total or 0.0))
