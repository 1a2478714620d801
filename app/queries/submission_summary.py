"""How a submission is shown to its owner (API JSON and web page share this)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import Submission
from app.queries.leaderboard import visible_subset
from app.queries.runs import latest_run


def submission_summary(session: Session, submission: Submission) -> dict[str, Any]:
    run = latest_run(session, submission.id)
    data: dict[str, Any] = {
        "id": submission.id,
        "challenge": submission.phase.challenge.slug,
        "phase": submission.phase.slug,
        "participant": submission.user.username,
        "state": submission.state.value,
        "comment": submission.comment,
        "created_at": submission.created_at.isoformat(timespec="seconds"),
        "finished_at": submission.finished_at.isoformat(timespec="seconds") if submission.finished_at else None,
        "failure_message": submission.failure_message,
        "failure_is_infrastructure": submission.failure_is_infrastructure,
        "upload_bytes": submission.upload_bytes,
        "upload_sha256": submission.upload_sha256,
        "image_tags": submission.image_tags.split() if submission.image_tags else [],
        "run": None,
        "scores": {},
    }
    if run is not None:
        data["run"] = {
            "exit_code": run.exit_code,
            "container_seconds": run.container_seconds,
            "cases_valid": run.cases_valid,
            "cases_invalid": run.cases_invalid,
            "stderr_tail": run.stderr_tail,
            "notes": list(run.notes or []),
        }
        subset = visible_subset(submission.phase)  # never the private part of an open phase
        data["scores"] = {s.metric: {"value": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high}
                          for s in run.scores if s.subset == subset}
        data["scores_subset"] = subset
    return data
