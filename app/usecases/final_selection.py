"""Entrants (participants alone, or teams) select their final submissions for a phase's private leaderboard
(app/queries/final_submissions.py). Any member of a team may select or unselect the team's submissions."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models import Submission, SubmissionState, User
from app.models._types import utcnow
from app.queries.entrants import Entrant, shares_submission
from app.usecases.submission_limits import lock_entrant


def select_final(session: Session, submission_id: int, user: User, *, final: bool) -> Submission:
    """Select (final=True) or unselect one of your (or your team's) succeeded submissions as final, while the
    phase runs.

    At most `phase.final_submissions` are selected per entrant at a time; concurrent selections cannot exceed it."""
    submission = session.get(Submission, submission_id)
    if submission is None or not shares_submission(session, submission, user):
        raise NotFound(f"no submission {submission_id} of yours")
    phase = submission.phase
    if phase.split_column is None:
        raise Conflict(f"phase {phase.slug!r} has no private part: every submission is ranked as it is")
    if phase.closes_at is not None and utcnow() >= phase.closes_at:
        raise Forbidden(f"phase {phase.slug!r} has closed; final submissions can no longer change")
    if final and submission.state != SubmissionState.SUCCEEDED:
        raise Conflict(f"submission {submission_id} is {submission.state.value}; only a scored submission can be "
                       "final")
    phase_id, limit = phase.id, phase.final_submissions
    entrant = Entrant(submission.user_id, submission.user.username, submission.team_id,
                      submission.team.name if submission.team is not None else None)
    session.commit()
    lock_entrant(session, phase_id, entrant.key)
    try:
        if final:
            selected = session.scalar(select(func.count(Submission.id)).where(
                Submission.phase_id == phase_id, entrant.submissions(),
                Submission.selected_final.is_(True), Submission.id != submission_id)) or 0
            if selected >= limit:
                raise Conflict(f"{entrant.subject_have} already selected {selected} final submission(s), the most "
                               "this phase allows; unselect one first")
        session.execute(update(Submission).where(Submission.id == submission_id).values(selected_final=final)
                        .execution_options(synchronize_session=False))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(submission)
    return submission
