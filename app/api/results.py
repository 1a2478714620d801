"""Results an organiser controls, through the REST API: re-run a submission, publish or hide a phase's results,
and a submission's per-case results (docs/results.md)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from spectree import Response

from app.api import ORGANISERS, SUBMISSION, SUBMISSIONS, _current_user, api, schemas
from app.api.openapi import InvalidRequest, errors, operation
from app.extensions import db_session, podium
from app.queries.case_results import case_results
from app.queries.phases import get_phase
from app.queries.submission_summary import submission_summary
from app.usecases.rerun import rerun_submission
from app.usecases.results import set_results_published
from app.usecases.submissions import get_submission


@api.post(SUBMISSION + "/rerun")
@operation(Response(HTTP_200=(schemas.Submission, "queued again; its previous results are removed"),
                    HTTP_202=(schemas.Submission, "queued again, and sent to the workers as soon as the queue is back"),
                    **errors(401, 403, 404, 409)),
           token=True, tags=SUBMISSIONS)
def rerun(submission_id: int) -> Any:
    """Organisers: run a finished (succeeded or failed) submission again.

    Its runs, scores and per-case results are removed at once (the leaderboard leaves it out until the re-run
    has scored it) and replaced by the new run's. It never counts against its participant's limits. 409 when
    it has not finished, or its container archive is no longer stored.
    """
    context = podium()
    with db_session() as session:
        user = _current_user(session)
        done = rerun_submission(session, context.resources.store, context.enqueue, submission_id, user)
        phase_id = done.submission.phase_id
        answer = submission_summary(session, done.submission, user)
    context.queue_analysis(phase_id)
    return jsonify(answer), 200 if done.job_queued else 202


@api.put("/challenges/<slug>/phases/<phase_slug>/results")
@operation(Response(HTTP_200=(schemas.PhaseResults, "the phase's results are published, or hidden"),
                    **errors(400, 401, 403, 404)),
           json=schemas.PublishResults, token=True, tags=ORGANISERS)
def publish_results(slug: str, phase_slug: str, json: schemas.PublishResults) -> Any:
    """Organisers: publish the phase's results (`{"published": true}`) or hide them from participants (`false`).

    While hidden, everyone but the challenge's organisers and the admins reads a leaderboard with
    `published: false` and no rows, a 404 for the analysis and its figures, and submissions without scores
    (their states and failure messages stay visible).
    """
    if json is None:
        raise InvalidRequest('send {"published": true} or {"published": false} as JSON')
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        set_results_published(session, phase, user, published=json.published)
        session.commit()
        return jsonify({"challenge": slug, "phase": phase_slug, "published": phase.results_published})


@api.get(SUBMISSION + "/cases")
@operation(Response(HTTP_200=(schemas.CaseResults, "the per-case results of its latest run"), **errors(401, 404)),
           token=True, tags=SUBMISSIONS)
def submission_cases(submission_id: int) -> Any:
    """A submission's per-case results: status, message and per-case metric values, never ground truth.

    Organisers always read every case. Its participant and team-mates only where the phase shows per-case
    results and its results are published, and while a split phase runs on the public cases only; otherwise,
    and for anyone else, 404 with the reason.
    """
    with db_session() as session:
        user = _current_user(session)
        results = case_results(session, get_submission(session, submission_id, user), user)
        return jsonify({"submission_id": results.submission_id, "part": results.part,
                        "cases": [{"case_id": c.case_id, "status": c.status, "message": c.message,
                                   "values": c.values, "wall_seconds": c.wall_seconds, "cpu_seconds": c.cpu_seconds,
                                   "peak_memory_mb": c.peak_memory_mb} for c in results.cases]})
