"""A submission's per-case results as a viewer may read them (docs/results.md): organisers always, every case;
its participant and team-mates only where the phase shows them (Phase.case_results_visible), its results are
published, and, while a split phase runs, on the public cases only. Never ground truth, inputs or metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Case, CaseOutcome, LogVisibility, Submission, User
from app.models.run import CaseStatus
from app.permissions import is_organiser
from app.queries.leaderboard import NOT_PUBLISHED, results_visible
from app.queries.phase_status import phase_status
from app.queries.runs import latest_run
from app.queries.submission_summary import log_visibility_for

# What participants read of a case's problem where the phase does not show full logs (the stored message may
# quote the container's output, which could carry the hidden inputs).
SAFE_MESSAGES = {CaseStatus.VALID.value: "", CaseStatus.MISSING.value: "no output for this case",
                 CaseStatus.INVALID.value: "the output does not fit the phase's output interface"}


@dataclass
class CaseRow:
    case_id: str
    status: str
    message: str
    values: dict[str, float | None] = field(default_factory=dict)
    # Per-case mode: what the case's own container run used (None in batch mode).
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_mb: float | None = None


@dataclass
class CaseResults:
    submission_id: int
    cases: list[CaseRow]
    part: str  # "all", or "public" while a split phase runs and the viewer is a participant


def may_read_case_results(submission: Submission, viewer: User) -> bool:
    """Whether `viewer` (who may see the submission) may read its per-case results."""
    phase = submission.phase
    return is_organiser(viewer, phase) or (phase.case_results_visible and results_visible(phase, viewer))


def case_results(session: Session, submission: Submission, viewer: User) -> CaseResults:
    """The per-case rows of the submission's latest run. The caller has checked that `viewer` may see the
    submission (app/usecases/submissions.get_submission); NotFound says why when its cases are not theirs to read."""
    phase = submission.phase
    organiser = is_organiser(viewer, phase)
    if not organiser:
        if not phase.case_results_visible:
            raise NotFound("this phase does not show participants per-case results; the submission's page has "
                           "its scores")
        if not results_visible(phase, viewer):
            raise NotFound(NOT_PUBLISHED)
    public_only = (not organiser and phase.split_column is not None
                   and not phase_status(phase).private_published)
    full_messages = log_visibility_for(viewer, submission) == LogVisibility.FULL
    run = latest_run(session, submission.id)
    rows: list[CaseRow] = []
    if run is not None:
        # Columns, not ORM objects: a Case row carries its inputs (JSON that can be large), never needed here.
        found = session.execute(select(Case.case_key, Case.meta, CaseOutcome.status, CaseOutcome.message,
                                       CaseOutcome.participant_message,
                                       CaseOutcome.values, CaseOutcome.wall_seconds, CaseOutcome.cpu_seconds,
                                       CaseOutcome.peak_memory_mb)
                                .join(Case, Case.id == CaseOutcome.case_id)
                                .where(CaseOutcome.run_id == run.id).order_by(Case.case_key)).all()
        for case_key, meta, status, stored_message, participant_message, values, wall, cpu, peak in found:
            if public_only and (meta or {}).get(phase.split_column or "") != "public":
                continue
            message = stored_message if full_messages else participant_message or SAFE_MESSAGES.get(status, "")
            rows.append(CaseRow(case_key, status, message or "", dict(values or {}), wall, cpu, peak))
    return CaseResults(submission.id, rows, "public" if public_only else "all")
