"""Results an organiser controls, as pages: re-run a submission, publish or hide a phase's results, and a
submission's per-case results (docs/results.md). The rules are the use cases' and the queries'."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from app.extensions import db_session, podium
from app.usecases.rerun import rerun_submission
from app.web import _logged_in_user, _safe_next, web
from app.web.sessions import signed_in


@web.post("/submissions/<int:submission_id>/rerun")
@signed_in
def rerun(submission_id: int) -> ResponseReturnValue:
    """Organisers: run a finished submission again; back to where the button was (the submission's page by
    default)."""
    context = podium()
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None  # @signed_in
        done = rerun_submission(db, context.resources.store, context.enqueue, submission_id, user)
        phase_id = done.submission.phase_id
    context.queue_analysis(phase_id)  # its old scores left the leaderboard: the statistics follow
    flash(f"Submission #{submission_id} is queued to run again; its previous results were removed."
          + ("" if done.job_queued else " The queue is unavailable right now: it starts when the queue is back."))
    back = request.form.get("next")
    return redirect(_safe_next(back) if back else url_for("web.submission", submission_id=submission_id))
