"""How a submission is shown to someone who may see it (API JSON and web pages share this).

What of its runs they read follows the phase's log visibility (app.models.LogVisibility): a participant's
container can print the hidden inputs to its logs, so by default participants read only the platform's
failure message. Organisers and admins always read everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import LogVisibility, Submission, User
from app.permissions import is_organiser
from app.queries.leaderboard import visible_subset
from app.queries.runs import latest_run


def log_visibility_for(viewer: User, submission: Submission) -> LogVisibility:
    """What `viewer` may read of this submission's runs."""
    if is_organiser(viewer, submission.phase):
        return LogVisibility.FULL
    return LogVisibility(submission.phase.log_visibility)


def submission_summary(session: Session, submission: Submission, viewer: User) -> dict[str, Any]:
    visibility = log_visibility_for(viewer, submission)
    run = latest_run(session, submission.id)
    message = submission.failure_message
    if visibility == LogVisibility.FULL and message and submission.failure_output:
        message = f"{message}: {submission.failure_output}"
    elif visibility == LogVisibility.STATE and not submission.failure_is_infrastructure:
        message = None  # the platform's own faults are always explained: they are never the participant's
    data: dict[str, Any] = {
        "id": submission.id,
        "challenge": submission.phase.challenge.slug,
        "phase": submission.phase.slug,
        "participant": submission.user.username,
        "team": submission.team.name if submission.team is not None else None,
        "state": submission.state.value,
        "comment": submission.comment,
        "created_at": submission.created_at.isoformat(timespec="seconds"),
        "finished_at": submission.finished_at.isoformat(timespec="seconds") if submission.finished_at else None,
        "failure_message": message,
        "failure_is_infrastructure": submission.failure_is_infrastructure,
        "upload_bytes": submission.upload_bytes,
        "upload_sha256": submission.upload_sha256,
        "image_tags": submission.image_tags.split() if submission.image_tags else [],
        "selected_final": submission.selected_final,
        "has_private_part": submission.phase.split_column is not None,
        "log_visibility": visibility.value,
        "run": None,
        "scores": {},
    }
    if run is not None:
        if visibility != LogVisibility.STATE:
            data["run"] = {
                "exit_code": run.exit_code,
                "container_seconds": run.container_seconds,
                "cases_valid": run.cases_valid,
                "cases_invalid": run.cases_invalid,
                "stderr_tail": run.stderr_tail if visibility == LogVisibility.FULL else "",
                "notes": list(run.notes or []),
            }
        subset = visible_subset(submission.phase)  # never the private part of an open phase
        data["scores"] = {s.metric: {"value": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high}
                          for s in run.scores if s.subset == subset}
        data["scores_subset"] = subset
    return data
