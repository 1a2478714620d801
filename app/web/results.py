"""Results an organiser controls, as pages: re-run a submission, publish or hide a phase's results, and a
submission's per-case results (docs/results.md). The rules are the use cases' and the queries'."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.errors import InvalidFields
from app.extensions import db_session, podium
from app.permissions import require_organiser
from app.queries.case_results import case_results
from app.queries.phases import get_phase
from app.usecases.rerun import rerun_submission
from app.usecases.results import set_report_published, set_results_published
from app.usecases.submissions import get_submission
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


@web.post("/challenges/<slug>/<phase_slug>/results")
@signed_in
def phase_results(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Organisers: publish (published=1) or hide (published=0) the phase's results; back to the manage page."""
    return _publish_switch(slug, phase_slug, set_results_published, "the results",
                           lambda title, on: f"The results of {title} are "
                                             f"{'published' if on else 'hidden from participants'}.")


@web.post("/challenges/<slug>/<phase_slug>/report-published")
@signed_in
def phase_report_published(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Organisers: publish (published=1) or hide (published=0) the phase's decision report from participants; back to
    the manage page."""
    return _publish_switch(slug, phase_slug, set_report_published, "the report",
                           lambda title, on: f"The decision report of {title} is " + (
                               "published to participants (their own entry)." if on else "hidden from participants."))


def _publish_switch(slug: str, phase_slug: str, switch: Callable[..., object], what: str,
                    done: Callable[[str, bool], str]) -> ResponseReturnValue:
    """An organiser's publish (published=1) / hide (published=0) form: `switch(db, phase, user, published=...)`."""
    published = request.form.get("published")
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None  # @signed_in
        phase = get_phase(db, slug, phase_slug)
        if published not in ("0", "1"):
            require_organiser(user, phase)
            raise InvalidFields({"published": f"Send published=1 to publish {what} or published=0 to hide "
                                              f"{'them' if what.endswith('s') else 'it'}."})
        switch(db, phase, user, published=published == "1")
        title = phase.title
        db.commit()
    flash(done(title, published == "1"))
    return redirect(url_for("web.manage", slug=slug) + f"#phase-{phase_slug}")


@web.get("/submissions/<int:submission_id>/cases")
@signed_in
def submission_cases(submission_id: int) -> ResponseReturnValue:
    """A submission's per-case results (who may: app/queries/case_results.py)."""
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None  # @signed_in
        found = get_submission(db, submission_id, user)
        results = case_results(db, found, user)
        return render_template("case_results.html", submission=found, phase=found.phase, results=results)
