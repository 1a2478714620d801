"""REST API under /api/v1. Authenticated calls send `Authorization: Bearer <token>`.

Every route is declared with `operation` (app/api/openapi.py): its typed parameters and answers
(app/api/schemas.py) are validated and make up the OpenAPI document served at /api/v1/openapi.json.
Every error answer is JSON in one shape, schemas.Error: {"error": "...", "submission_id": null}.
Routes are annotated `-> Any`: spectree evaluates their annotations at run time, and flask.typing's
ResponseReturnValue cannot be evaluated outside a type checker; the answers are checked against their models.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.api import schemas
from app.api.openapi import MAX_ID, InvalidRequest, errors, openapi_document, operation
from app.challenge_yaml import SLUG_PATTERN
from app.errors import NotFound, ServiceError, TooLarge
from app.extensions import db_session, podium
from app.models import ApiToken, Challenge, LogVisibility, Participation, User
from app.models._types import utcnow
from app.permissions import is_organiser, require_organiser
from app.queries.analyses import latest_analysis
from app.queries.costs import Prices
from app.queries.leaderboard import NOT_PUBLISHED, leaderboard_for, phase_metrics, results_visible
from app.queries.phase_status import phase_status
from app.queries.phases import get_challenge, get_phase
from app.queries.submission_summary import log_visibility_for, submission_summary
from app.queries.test_set_versions import version_test_set
from app.storage import keys
from app.usecases.api_tokens import active_token, create_token, list_tokens, record_use, revoke_token, use_to_record
from app.usecases.exports import export_zip, long_table_csv
from app.usecases.final_selection import select_final
from app.usecases.membership import (
    add_organiser,
    decide,
    list_organisers,
    list_participants,
    remove_organiser,
    request_to_join,
)
from app.usecases.moderation import set_hidden
from app.usecases.readers import MAX_READER_FILE_BYTES, set_readers
from app.usecases.submission_limits import limit_status, limits_json
from app.usecases.submissions import (
    SubmissionRefused,
    cancel_submission,
    check_can_submit,
    get_submission,
    list_submissions,
    receive_container_submission,
    upload_tmp_dir,
)
from app.usecases.uploads import spool_upload, upload_too_large_message
from app.usecases.users import USERNAME_PATTERN

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")
SLUG = re.compile(SLUG_PATTERN)
SUBMISSION = "/submissions/<int:submission_id>"
LOG_STREAMS: dict[str, keys.LogStream | keys.EvaluatorLog] = {
    "stdout": "stdout", "stderr": "stderr", "evaluator-stdout": "evaluator-stdout",
    "evaluator-stderr": "evaluator-stderr", "evaluator-error": "evaluator-error"}
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CHALLENGES, SUBMISSIONS, ORGANISERS, TOKENS = ("challenges",), ("submissions",), ("organisers",), ("tokens",)


def init_app(app: Flask) -> None:
    from app.api import (
        challenge_export,  # noqa: F401 - the challenge as a bundle
        parted_uploads,  # noqa: F401 - uploads in parts
        results,  # noqa: F401 - re-run, publish, per-case results
        teams,  # noqa: F401 - the team routes join the blueprint
        test_set_versions,  # noqa: F401 - test set versions, re-evaluations, comparisons
    )

    app.register_blueprint(api)


def _error(message: str, status: int, submission_id: int | None = None) -> ResponseReturnValue:
    return jsonify(schemas.Error(error=message, submission_id=submission_id).model_dump()), status


@api.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> ResponseReturnValue:
    return _error(str(exc), exc.status_code, exc.submission_id if isinstance(exc, SubmissionRefused) else None)


@api.errorhandler(413)
def _too_large(_exc: HTTPException) -> ResponseReturnValue:
    return _error("the upload is larger than this server accepts", 413)


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """Werkzeug's errors inside a route (a malformed request; a crash, as 500) in the one error format."""
    if exc.code is None or exc.code < 400:
        return exc
    return _error(exc.description or exc.name, exc.code)


@api.before_request
def _refuse_impossible_addresses() -> None:
    """Slugs no challenge or phase can have, and ids past the databases' integers, are not looked up: the
    answer is the lookup's own 404 (a NUL byte in a slug would otherwise be a PostgreSQL error)."""
    args = request.view_args or {}
    slug, phase_slug, submission_id = args.get("slug"), args.get("phase_slug"), args.get("submission_id")
    token_id = args.get("token_id")
    for name, what in (("team_id", "team"), ("invitation_id", "invitation"), ("reevaluation_id", "re-evaluation")):
        if (args.get(name) or 0) > MAX_ID:
            raise NotFound(f"no {what} {args[name]} of yours")
    if slug is not None and phase_slug is None and not SLUG.fullmatch(slug):
        raise NotFound(f"no challenge {slug!r}")
    if phase_slug is not None and not (SLUG.fullmatch(slug or "") and SLUG.fullmatch(phase_slug)):
        raise NotFound(f"no phase {phase_slug!r} in challenge {slug!r}; check the address")
    username = args.get("username")
    if username is not None and not USERNAME_PATTERN.fullmatch(username):
        raise NotFound(f"no user {username!r}")
    if submission_id is not None and submission_id > MAX_ID:
        raise NotFound(f"no submission {submission_id} of yours")
    if token_id is not None and token_id > MAX_ID:
        raise NotFound(f"no token {token_id} of yours")


class Unauthorized(ServiceError):
    status_code = 401


def _current_user(session: Session) -> User:
    """The user of the request's API token (neither revoked nor expired); its use is recorded (at most once a
    minute, in a short transaction of its own: never a write lock held while an upload is read)."""
    header = request.headers.get("Authorization", "")
    secret = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    token = active_token(session, secret)
    if token is None:
        raise Unauthorized("send a valid API token: 'Authorization: Bearer <token>' (make one on the site's "
                           "Tokens page; a revoked or expired token is refused)")
    if use_to_record(token):
        with db_session() as other:
            record_use(other, token.id)
    return token.user


@api.get("/openapi.json")
@operation(Response(HTTP_200=(schemas.OpenAPIDocument, "this document (OpenAPI 3.1)")), tags=("meta",))
def openapi() -> Any:
    """This API's OpenAPI document, generated from the code."""
    return jsonify(openapi_document())


@api.get("/challenges")
@operation(Response(HTTP_200=(list[schemas.Challenge], "every challenge, by slug")), tags=CHALLENGES)
def challenges() -> Any:
    """List challenges with their phases, limits and interfaces."""
    with db_session() as session:
        rows = session.scalars(select(Challenge).order_by(Challenge.slug)).all()
        return jsonify([_challenge_json(c) for c in rows])


@api.get("/challenges/<slug>")
@operation(Response(HTTP_200=(schemas.Challenge, "the challenge"), **errors(404)), tags=CHALLENGES)
def challenge(slug: str) -> Any:
    """One challenge, with its phases."""
    with db_session() as session:
        return jsonify(_challenge_json(get_challenge(session, slug)))


@api.get("/challenges/<slug>/phases/<phase_slug>/leaderboard")
@operation(Response(HTTP_200=(schemas.Leaderboard, "the leaderboard"), **errors(400, 404)),
           query=schemas.LeaderboardQuery, tags=CHALLENGES)
def leaderboard(slug: str, phase_slug: str, query: schemas.LeaderboardQuery) -> Any:
    """Each participant's best succeeded submission, ranked, with the phase's leaderboard columns.

    No token needed. While the phase's results are not published the answer has `published: false` and no
    rows, except for the challenge's organisers and the admins sending their token (docs/results.md).
    400 when `sort` is not one of the leaderboard's columns (or its ranking metric). `version`: the runs on another
    version of the phase's test set (404 when it has none such).
    """
    with db_session() as session:
        viewer = _current_user(session) if request.headers.get("Authorization") else None
        phase = get_phase(session, slug, phase_slug)
        test_set = version_test_set(session, phase, query.version) if query.version is not None else None
        return jsonify(leaderboard_for(session, phase, viewer, query.sort, test_set=test_set,
                                       prices=Prices.from_settings(podium().resources.settings)).as_dict())


@api.get("/challenges/<slug>/phases/<phase_slug>/analysis")
@operation(Response(HTTP_200=(schemas.Analysis, "the latest analysis"), **errors(404)), query=schemas.VersionQuery,
           tags=CHALLENGES)
def analysis(slug: str, phase_slug: str, query: schemas.VersionQuery) -> Any:
    """The phase's latest statistical analysis: rank uncertainty, breakdowns, operating points, readers.

    404 until it has been computed (after the first scored submission), and while the phase's results are not
    published, except for the challenge's organisers and the admins sending their token.
    """
    with db_session() as session:
        viewer = _current_user(session) if request.headers.get("Authorization") else None
        phase = get_phase(session, slug, phase_slug)
        if not results_visible(phase, viewer):
            raise NotFound(NOT_PUBLISHED)
        test_set = version_test_set(session, phase, query.version) if query.version is not None else None
        found = latest_analysis(session, phase, test_set_id=test_set.id if test_set else None)
        if found is None:
            raise NotFound("no analysis yet; it is computed after the first scored submission")
        return jsonify({"computed_at": found.created_at.isoformat(timespec="seconds"),
                        "submission_ids": found.submission_ids, "figures": sorted(found.figures),
                        **found.document})


@api.put("/challenges/<slug>/phases/<phase_slug>/readers")
@operation(Response(HTTP_200=(schemas.ReadersUploaded, "stored; the analysis is computed again"),
                    **errors(400, 401, 403, 404, 413)),
           query=schemas.ReadersQuery, token=True, tags=ORGANISERS,
           body={"required": True, "description": "CSV with the columns case_id, reader, score (at most 50 MiB)",
                 "content": {"text/csv": {"schema": {"type": "string"}}}})
def upload_readers(slug: str, phase_slug: str, query: schemas.ReadersQuery) -> Any:
    """Organisers: human readers' scores (CSV case_id, reader, score) to compare the algorithms with."""
    positive_at = query.positive_at
    with db_session() as session:
        # Who is asking, and may they, before a byte of the body is read.
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase, to="upload readers' scores")
        _refuse_if_longer_than(MAX_READER_FILE_BYTES, "the readers file is larger than 50 MiB")
        raw = request.stream.read(MAX_READER_FILE_BYTES + 1)
        if len(raw) > MAX_READER_FILE_BYTES:
            raise TooLarge("the readers file is larger than 50 MiB")
        count = set_readers(session, podium().resources.store, phase, raw.decode("utf-8", "replace"), positive_at)
        phase_id = phase.id
    enqueue_analysis = podium().enqueue_analysis
    if enqueue_analysis is not None:
        try:
            enqueue_analysis(phase_id)
        except Exception:  # noqa: BLE001 - stored; the reconciler sees the changed settings and queues it
            log.warning("phase %s: readers stored, analysis not queued (queue unavailable)", phase_id,
                        exc_info=True)
    return jsonify({"readers": count, "positive_at": positive_at}), 200


def _refuse_if_longer_than(limit: int, message: str) -> None:
    """Refuse a request whose declared length is over the limit, before reading its body."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(message)


@api.get("/challenges/<slug>/phases/<phase_slug>/cases.csv")
@operation(Response(HTTP_200=(None, "the long table: one row per submission, case and metric"),
                    **errors(401, 403, 404)),
           token=True, tags=ORGANISERS, raw={200: {"text/csv": {"schema": {"type": "string"}}}})
def cases_csv(slug: str, phase_slug: str) -> Any:
    """Organisers: every scored case of every submission, as CSV."""
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase)
        body = long_table_csv(session, phase)
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-cases.csv"'}


@api.get("/challenges/<slug>/phases/<phase_slug>/export.zip")
@operation(Response(HTTP_200=(None, "a ZIP archive: cases.csv, leaderboard.json, analysis.json, figures/"),
                    **errors(401, 403, 404)),
           token=True, tags=ORGANISERS,
           raw={200: {"application/zip": {"schema": {"type": "string", "format": "binary"}}}})
def export(slug: str, phase_slug: str) -> Any:
    """Organisers: the phase's results in one archive."""
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase)
        body = export_zip(session, podium().resources.store, phase)
    return body, 200, {"Content-Type": "application/zip",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-export.zip"'}


UPLOAD_BODY = {
    "required": True,
    "description": "The archive of `docker save IMAGE | gzip`: the raw request body, or the multipart form "
                   "field `image`.",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["image"],
            "properties": {"image": {"type": "string", "format": "binary"},
                           "comment": {"type": "string", "description": "a note, kept up to 500 characters"}}}},
    },
}


@api.post("/challenges/<slug>/phases/<phase_slug>/submissions")
@operation(Response(HTTP_201=(schemas.Submission, "stored and queued"),
                    HTTP_202=(schemas.Submission, "stored, and queued as soon as the queue is back: do not upload "
                                                  "it again"),
                    HTTP_400=(schemas.Error, "the archive was refused: `submission_id` is the failed submission "
                                             "it was kept as"),
                    **errors(401, 403, 404, 413, 429, 503)),
           query=schemas.SubmitQuery, token=True, tags=SUBMISSIONS, body=UPLOAD_BODY)
def submit(slug: str, phase_slug: str, query: schemas.SubmitQuery) -> Any:
    """Upload an algorithm container.

    The archive is checked before anything is queued: one image, linux/amd64, a readable manifest, no path
    traversal or escaping links, no decompression bomb, under the phase's size limit. Who may submit, whether
    the phase is open and the daily limits are checked before the upload is read.
    """
    context = podium()
    settings = context.resources.settings
    with db_session() as session:
        # Every check that can refuse the upload runs before its body is read (up to 4 GiB).
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        check_can_submit(session, phase, user)
        max_bytes = phase.max_upload_mb * 1024**2
        _refuse_if_longer_than(max_bytes + 1024**2, upload_too_large_message(max_bytes))
        if request.mimetype == "multipart/form-data":
            file = request.files.get("image")
            if file is None:
                raise ServiceError("attach the image archive as the form field 'image'")
            stream, comment = file.stream, request.form.get("comment", "")
        else:
            stream, comment = request.stream, query.comment
        upload = spool_upload(stream, max_bytes=max_bytes, tmp_dir=upload_tmp_dir(settings.data_dir))
        try:
            receipt = receive_container_submission(session, context.resources.store, context.enqueue,
                                                   phase=phase, user=user, upload=upload, comment=comment)
        finally:
            upload.discard()
        # 202: stored and safe, but the queue was unavailable; it will be queued without another upload.
        return jsonify(submission_summary(session, receipt.submission, user)), 201 if receipt.job_queued else 202


@api.get("/challenges/<slug>/phases/<phase_slug>/submissions")
@operation(Response(HTTP_200=(list[schemas.Submission], "your submissions, newest first"), **errors(401, 404)),
           token=True, tags=SUBMISSIONS)
def my_submissions(slug: str, phase_slug: str) -> Any:
    """Your submissions to a phase."""
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        return jsonify([submission_summary(session, s, user) for s in list_submissions(session, phase, user)])


@api.get("/challenges/<slug>/phases/<phase_slug>/limits")
@operation(Response(HTTP_200=(schemas.Limits, "what you have left"), **errors(401, 404)),
           token=True, tags=SUBMISSIONS)
def my_limits(slug: str, phase_slug: str) -> Any:
    """How many submissions you have left in a phase today and in total, and when the next one frees."""
    with db_session() as session:
        user = _current_user(session)
        status = limit_status(session, get_phase(session, slug, phase_slug), user)
        return jsonify(limits_json(status))


@api.get(SUBMISSION)
@operation(Response(HTTP_200=(schemas.Submission, "the submission"), **errors(401, 404)),
           token=True, tags=SUBMISSIONS)
def submission(submission_id: int) -> Any:
    """One of your submissions, with its state, failure message, run and scores."""
    with db_session() as session:
        user = _current_user(session)
        return jsonify(submission_summary(session, get_submission(session, submission_id, user), user))


@api.post(SUBMISSION + "/cancel")
@operation(Response(HTTP_200=(schemas.Submission, "cancelled"), **errors(401, 404, 409)),
           token=True, tags=SUBMISSIONS)
def cancel(submission_id: int) -> Any:
    """Cancel an unfinished submission: your own, or (organisers) any of the challenge's."""
    with db_session() as session:
        user = _current_user(session)
        cancelled = cancel_submission(session, submission_id, user)
        return jsonify(submission_summary(session, cancelled, user)), 200


@api.post(SUBMISSION + "/final")
@operation(Response(HTTP_200=(schemas.Submission, "the submission, now final"), **errors(401, 403, 404, 409)),
           token=True, tags=SUBMISSIONS)
def select_as_final(submission_id: int) -> Any:
    """Select one of your scored submissions as final: on a phase with a private part, only final
    submissions enter the private leaderboard (up to the phase's number; unselect one to change)."""
    with db_session() as session:
        user = _current_user(session)
        chosen = select_final(session, submission_id, user, final=True)
        return jsonify(submission_summary(session, chosen, user))


@api.delete(SUBMISSION + "/final")
@operation(Response(HTTP_200=(schemas.Submission, "the submission, no longer final"), **errors(401, 403, 404, 409)),
           token=True, tags=SUBMISSIONS)
def unselect_as_final(submission_id: int) -> Any:
    """Take a submission out of your final ones (while the phase runs)."""
    with db_session() as session:
        user = _current_user(session)
        chosen = select_final(session, submission_id, user, final=False)
        return jsonify(submission_summary(session, chosen, user))


@api.post(SUBMISSION + "/visibility")
@operation(Response(HTTP_200=(schemas.Submission, "the submission, hidden or shown"), **errors(400, 401, 403, 404)),
           json=schemas.Visibility, token=True, tags=SUBMISSIONS)
def set_visibility(submission_id: int, json: schemas.Visibility) -> Any:
    """Organisers: hide a submission from the leaderboard and the analysis (with a reason its participant reads),
    or show it again. Its runs and scores are kept."""
    if json is None:
        raise InvalidRequest('send {"hidden": true, "reason": "..."} as JSON')
    with db_session() as session:
        user = _current_user(session)
        changed = set_hidden(session, submission_id, user, hidden=json.hidden, reason=json.reason)
        phase_id = changed.phase_id
        session.commit()
        answer = submission_summary(session, changed, user)
    podium().queue_analysis(phase_id)
    return jsonify(answer)


@api.get(SUBMISSION + "/logs/<stream_name>")
@operation(Response(HTTP_200=(None, "the log (size-capped)"), **errors(401, 404)),
           token=True, tags=SUBMISSIONS, raw={200: {"text/plain": {"schema": {"type": "string"}}}})
def submission_log(submission_id: int, stream_name: str) -> Any:
    """The kept stdout or stderr of the submission's container; organisers also read the evaluator's
    (evaluator-stdout, evaluator-stderr, evaluator-error).

    Participants read their container's logs only where the phase shows full logs (a container can print
    the hidden inputs); elsewhere, and until the container has run, this is a 404.
    """
    if stream_name not in LOG_STREAMS:
        raise NotFound(f"logs are {', '.join(LOG_STREAMS)}")
    with db_session() as session:
        user = _current_user(session)
        found = get_submission(session, submission_id, user)
        visibility = log_visibility_for(user, found)
        organiser = is_organiser(user, found.phase)
        if visibility != LogVisibility.FULL or (stream_name.startswith("evaluator-") and not organiser):
            raise NotFound(f"this phase does not show participants their container's {stream_name}; "
                           "the failure message says what went wrong")
        key = keys.submission_log(found.id, LOG_STREAMS[stream_name])
    store = podium().resources.store
    if not store.exists(key):
        raise NotFound("no log yet; the container has not run")
    return store.get_bytes(key), 200, {"Content-Type": "text/plain; charset=utf-8"}


MEMBERSHIP = ("membership",)


@api.post("/challenges/<slug>/join")
@operation(Response(HTTP_200=(schemas.Participant, "your participation: accepted, or pending an organiser"),
                    **errors(400, 401, 403, 404, 409)), json=schemas.JoinRequest, token=True, tags=MEMBERSHIP)
def join(slug: str, json: schemas.JoinRequest) -> Any:
    """Ask to take part in a challenge (accepting its terms, if it has any)."""
    with db_session() as session:
        user = _current_user(session)
        participation = request_to_join(session, get_challenge(session, slug), user,
                                        accept_terms=bool(json and json.accept_terms))
        return jsonify(_participant_json(participation))


@api.get("/challenges/<slug>/participants")
@operation(Response(HTTP_200=(list[schemas.Participant], "requests to join, oldest first"),
                    **errors(401, 403, 404)), token=True, tags=MEMBERSHIP)
def participants(slug: str) -> Any:
    """Organisers: who asked to join, and the answers."""
    with db_session() as session:
        user = _current_user(session)
        found = list_participants(session, get_challenge(session, slug), actor=user)
        return jsonify([_participant_json(p) for p in found])


@api.post("/challenges/<slug>/participants/<username>")
@operation(Response(HTTP_200=(schemas.Participant, "the decision"), **errors(400, 401, 403, 404)),
           json=schemas.Decision, token=True, tags=MEMBERSHIP)
def decide_on(slug: str, username: str, json: schemas.Decision) -> Any:
    """Organisers: accept or decline a request to join."""
    if json is None:
        raise InvalidRequest('send the decision as JSON: {"accept": true}')
    with db_session() as session:
        user = _current_user(session)
        decided = decide(session, get_challenge(session, slug), username, accept=json.accept, actor=user)
        return jsonify(_participant_json(decided))


@api.get("/challenges/<slug>/organisers")
@operation(Response(HTTP_200=(schemas.Organisers, "the organisers"), **errors(404)), tags=MEMBERSHIP)
def organisers(slug: str) -> Any:
    """Who organises a challenge."""
    with db_session() as session:
        return jsonify({"organisers": list_organisers(session, get_challenge(session, slug))})


@api.put("/challenges/<slug>/organisers/<username>")
@operation(Response(HTTP_200=(schemas.Organisers, "the organisers, now with them"), **errors(401, 403, 404)),
           token=True, tags=MEMBERSHIP)
def add_an_organiser(slug: str, username: str) -> Any:
    """Organisers and admins: make another user an organiser."""
    with db_session() as session:
        user = _current_user(session)
        challenge = get_challenge(session, slug)
        add_organiser(session, challenge, username, actor=user)
        return jsonify({"organisers": list_organisers(session, challenge)})


@api.delete("/challenges/<slug>/organisers/<username>")
@operation(Response(HTTP_200=(schemas.Organisers, "the organisers, now without them"),
                    **errors(401, 403, 404, 409)), token=True, tags=MEMBERSHIP)
def remove_an_organiser(slug: str, username: str) -> Any:
    """Organisers and admins: remove an organiser (never the last one)."""
    with db_session() as session:
        user = _current_user(session)
        challenge = get_challenge(session, slug)
        remove_organiser(session, challenge, username, actor=user)
        return jsonify({"organisers": list_organisers(session, challenge)})


def _participant_json(participation: Participation) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value is not None else None

    return {"username": participation.user.username, "status": participation.status,
            "requested_at": when(participation.requested_at), "decided_at": when(participation.decided_at),
            "terms_accepted_at": when(participation.terms_accepted_at)}


@api.get("/tokens")
@operation(Response(HTTP_200=(list[schemas.Token], "your tokens that are not revoked, newest first"),
                    **errors(401)), token=True, tags=TOKENS)
def tokens() -> Any:
    """Your API tokens (names, expiry, last use; never their secrets)."""
    with db_session() as session:
        user = _current_user(session)
        now = utcnow()
        return jsonify([_token_json(t, now) for t in list_tokens(session, user)])


@api.post("/tokens")
@operation(Response(HTTP_201=(schemas.CreatedToken, "made: its secret is in this answer, and never again"),
                    HTTP_409=(schemas.Error, "you have too many active tokens; revoke one first"),
                    **errors(400, 401)),
           json=schemas.NewToken, token=True, tags=TOKENS)
def new_token(json: schemas.NewToken) -> Any:
    """Make another API token for yourself, expiring after `days` (90 unless given, at most 365)."""
    if request.mimetype in FORM_MEDIA_TYPES:  # spectree reads JSON bodies only, and validates nothing else
        raise InvalidRequest('send the token\'s name (and days) as JSON: {"name": "laptop", "days": 90}')
    with db_session() as session:
        user = _current_user(session)
        token, secret = create_token(session, user, json.name, days=json.days)
        return jsonify({"token": _token_json(token, utcnow()), "secret": secret}), 201


@api.delete("/tokens/<int:token_id>")
@operation(Response(HTTP_200=(schemas.Token, "revoked: it answers 401 from now on, and web sessions started "
                                             "with it have ended"), **errors(401, 404)),
           token=True, tags=TOKENS)
def revoke(token_id: int) -> Any:
    """Revoke one of your API tokens (the one this request uses, too, if you name it)."""
    with db_session() as session:
        user = _current_user(session)
        return jsonify(_token_json(revoke_token(session, user, token_id), utcnow()))


def _token_json(token: ApiToken, now: datetime) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value is not None else None

    return {"id": token.id, "name": token.name, "created_at": when(token.created_at),
            "expires_at": when(token.expires_at), "last_used_at": when(token.last_used_at),
            "revoked_at": when(token.revoked_at), "active": token.is_active(now)}


def _challenge_json(challenge: Challenge) -> dict[str, Any]:
    return {
        "slug": challenge.slug,
        "title": challenge.title,
        "description": challenge.description,
        "join_policy": challenge.join_policy,
        "terms": challenge.terms,
        "organisers": sorted(link.user.username for link in challenge.organiser_links),
        "max_team_size": challenge.max_team_size,
        "public_files": [{"name": f["name"], "bytes": f["bytes"]} for f in challenge.public_files],
        "phases": [
            {
                "slug": p.slug,
                "title": p.title,
                "submission_kind": p.submission_kind,
                "run_mode": p.run_mode,
                "state": phase_status(p).state.value,
                "opens_at": p.opens_at.isoformat() if p.opens_at else None,
                "closes_at": p.closes_at.isoformat() if p.closes_at else None,
                "metrics": [m["name"] for m in phase_metrics(p)],
                "ranking": {"metric": p.ranking_metric, "order": p.ranking_order, "across": p.ranking_across},
                "log_visibility": p.log_visibility,
                "inputs": p.inputs,
                "outputs": p.outputs,
                "limits": {"time_limit_seconds": p.time_limit_seconds, "memory_mb": p.memory_mb,
                           "cpus": p.cpus, "gpus": p.gpus, "pids": p.pids_limit, "tmp_mb": p.tmp_mb,
                           "output_mb": p.output_mb,
                           "max_upload_mb": p.max_upload_mb, "submissions_per_day": p.submissions_per_day,
                           "cases_in_parallel": p.cases_in_parallel, "shards": p.shards},
            }
            for p in challenge.phases
        ],
    }
