"""How a submission is shown to someone who may see it (API JSON and web pages share this).

What of its runs they read follows the phase's log visibility (app.models.LogVisibility): a participant's
container can print the hidden inputs to its logs, so by default participants read only the platform's
failure message. Organisers and admins always read everything.

Under "failure-message" a participant reads no text the container chose, because the container has read
the hidden inputs and could encode them in it: not its logs, and not the names of the files and folders it
wrote or the values it wrote, which the full failure message and run notes quote. They read the versions in
the platform's own words that the pipeline stored beside the full ones (participant_failure_message,
participant_notes); a row from before those existed gets a generic text, never the full one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import EvaluationRun, LogVisibility, Submission, SubmissionState, User
from app.permissions import is_organiser
from app.queries.costs import per_case
from app.queries.leaderboard import results_visible, visible_subset
from app.queries.runs import latest_run
from app.queries.site_parts import submission_site_parts

# For a failure recorded before participant-safe messages were stored (migration 0014), after the container ran.
OLDER_FAILURE_MESSAGE = ("the submission failed after its container ran; this phase shows participants no details "
                         "of it (the challenge's organisers can read them)")


def log_visibility_for(viewer: User, submission: Submission) -> LogVisibility:
    """What `viewer` may read of this submission's runs."""
    if is_organiser(viewer, submission.phase):
        return LogVisibility.FULL
    return LogVisibility(submission.phase.log_visibility)


def submission_summary(session: Session, submission: Submission, viewer: User) -> dict[str, Any]:
    visibility = log_visibility_for(viewer, submission)
    organiser = is_organiser(viewer, submission.phase)
    run = latest_run(session, submission.id)
    message = _failure_message(submission, visibility, run)
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
        "hidden": submission.hidden_at is not None,
        "hidden_reason": submission.hidden_reason,
        "has_private_part": submission.phase.split_column is not None,
        "reruns": submission.reruns,
        "results_published": submission.phase.results_published,
        "scores_withheld": not results_visible(submission.phase, viewer),
        "case_results": organiser or (submission.phase.case_results_visible
                                      and results_visible(submission.phase, viewer)),
        "can_rerun": organiser and submission.state in (SubmissionState.SUCCEEDED, SubmissionState.FAILED)
                     and submission.upload_key is not None,
        "log_visibility": visibility.value,
        "run": None,
        "scores": {},
        # A phase held at sites (docs/sites.md): each site's part, as the viewer may read it.
        "sites": submission_site_parts(session, submission.id, visibility, organiser=organiser)
                 if submission.phase.sites else [],
    }
    if run is not None:
        if visibility != LogVisibility.STATE:
            data["run"] = {
                "exit_code": run.exit_code,
                "container_seconds": run.container_seconds,
                "cpu_seconds": run.cpu_seconds,
                "peak_memory_mb": run.peak_memory_mb,
                # Batch mode: one container saw every case, so per case is the run's figure / its cases.
                "seconds_per_case": per_case(run.container_seconds, run.cases_valid + run.cases_invalid),
                "cpu_seconds_per_case": per_case(run.cpu_seconds, run.cases_valid + run.cases_invalid),
                "image_load_seconds": run.image_load_seconds,
                "cases_valid": run.cases_valid,
                "cases_invalid": run.cases_invalid,
                "stderr_tail": run.stderr_tail if visibility == LogVisibility.FULL else "",
                "notes": _notes(run, visibility),
            }
        subset = visible_subset(submission.phase)  # never the private part of an open phase
        if results_visible(submission.phase, viewer):  # unpublished: organisers only (docs/results.md)
            data["scores"] = {s.metric: {"value": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high}
                              for s in run.scores if s.subset == subset}
        data["scores_subset"] = subset
    return data


def _failure_message(submission: Submission, visibility: LogVisibility, run: EvaluationRun | None) -> str | None:
    message = submission.failure_message
    if message is None:
        return None
    if visibility == LogVisibility.FULL:
        return f"{message}: {submission.failure_output}" if submission.failure_output else message
    if visibility == LogVisibility.STATE and not submission.failure_is_infrastructure:
        return None  # the platform's own faults are always explained: they are never the participant's
    if submission.participant_failure_message is not None:
        return submission.participant_failure_message
    if submission.failure_is_infrastructure or submission.state == SubmissionState.CANCELLED or run is None:
        return message  # the platform's or a person's words, or written before the container ever ran
    return OLDER_FAILURE_MESSAGE


def _notes(run: EvaluationRun, visibility: LogVisibility) -> list[str]:
    if visibility == LogVisibility.FULL:
        return list(run.notes or [])
    if run.participant_notes is not None:
        return list(run.participant_notes)
    count = len(run.notes or [])  # a run from before migration 0014: its notes may name the container's files
    return [f"{count} note(s) on this run are shown to the challenge's organisers only"] if count else []
