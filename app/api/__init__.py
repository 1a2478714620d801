"""REST API under /api/v1. Authenticated calls send `Authorization: Bearer <token>`."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import select

from app.errors import ServiceError, TooLarge
from app.extensions import db_session, podium
from app.models import Challenge, User
from app.queries.analyses import latest_analysis
from app.queries.leaderboard import build_leaderboard, phase_metrics
from app.queries.phases import get_phase
from app.queries.submission_summary import submission_summary
from app.storage import keys
from app.usecases.exports import export_zip, long_table_csv
from app.usecases.readers import MAX_READER_FILE_BYTES, set_readers
from app.usecases.roles import require_organiser
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
from app.usecases.users import user_for_token

api = Blueprint("api", __name__, url_prefix="/api/v1")
OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def init_app(app: Flask) -> None:
    app.register_blueprint(api)


@api.errorhandler(ServiceError)
def _service_error(exc: ServiceError):  # type: ignore[no-untyped-def]
    body = {"error": str(exc)}
    if isinstance(exc, SubmissionRefused):
        body["submission_id"] = exc.submission_id
    return jsonify(body), exc.status_code


@api.errorhandler(413)
def _too_large(_exc):  # type: ignore[no-untyped-def]
    return jsonify({"error": "the upload is larger than this server accepts"}), 413


class Unauthorized(ServiceError):
    status_code = 401


def _current_user(session) -> User:  # type: ignore[no-untyped-def]
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    user = user_for_token(session, token)
    if user is None:
        raise Unauthorized("send a valid API token: 'Authorization: Bearer <token>' "
                           "(an organiser creates one with `podium user create NAME`)")
    return user


@api.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(yaml.safe_load(OPENAPI_PATH.read_text()))


@api.get("/challenges")
def challenges():  # type: ignore[no-untyped-def]
    with db_session() as session:
        rows = session.scalars(select(Challenge).order_by(Challenge.slug)).all()
        return jsonify([_challenge_json(c) for c in rows])


@api.get("/challenges/<slug>")
def challenge(slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        found = session.scalar(select(Challenge).where(Challenge.slug == slug))
        if found is None:
            return jsonify({"error": f"no challenge {slug!r}"}), 404
        return jsonify(_challenge_json(found))


@api.get("/challenges/<slug>/phases/<phase_slug>/leaderboard")
def leaderboard(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        phase = get_phase(session, slug, phase_slug)
        return jsonify(build_leaderboard(session, phase, request.args.get("sort")).as_dict())


@api.get("/challenges/<slug>/phases/<phase_slug>/analysis")
def analysis(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        phase = get_phase(session, slug, phase_slug)
        found = latest_analysis(session, phase)
        if found is None:
            return jsonify({"error": "no analysis yet; it is computed after the first scored submission"}), 404
        return jsonify({"computed_at": found.created_at.isoformat(timespec="seconds"),
                        "submission_ids": found.submission_ids, "figures": sorted(found.figures),
                        **found.document})


@api.put("/challenges/<slug>/phases/<phase_slug>/readers")
def upload_readers(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    """Organisers: human readers' scores (CSV case_id, reader, score) to compare the algorithms with."""
    try:
        positive_at = float(request.args.get("positive_at", "1"))
    except ValueError:
        raise ServiceError("positive_at must be a number: a reader's call is positive when score >= it") from None
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
    if podium().enqueue_analysis is not None:
        podium().enqueue_analysis(phase_id)
    return jsonify({"readers": count, "positive_at": positive_at}), 200


def _refuse_if_longer_than(limit: int, message: str) -> None:
    """Refuse a request whose declared length is over the limit, before reading its body."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(message)


@api.get("/challenges/<slug>/phases/<phase_slug>/cases.csv")
def cases_csv(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase)
        body = long_table_csv(session, phase)
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-cases.csv"'}


@api.get("/challenges/<slug>/phases/<phase_slug>/export.zip")
def export(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase)
        body = export_zip(session, podium().resources.store, phase)
    return body, 200, {"Content-Type": "application/zip",
                       "Content-Disposition": f'attachment; filename="{slug}-{phase_slug}-export.zip"'}


@api.post("/challenges/<slug>/phases/<phase_slug>/submissions")
def submit(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
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
            stream, comment = request.stream, request.args.get("comment", "")
        upload = spool_upload(stream, max_bytes=max_bytes, tmp_dir=upload_tmp_dir(settings.data_dir))
        try:
            receipt = receive_container_submission(session, context.resources.store, context.enqueue,
                                                   phase=phase, user=user, upload=upload, comment=comment)
        finally:
            upload.discard()
        # 202: stored and safe, but the queue was unavailable; it will be queued without another upload.
        return jsonify(submission_summary(session, receipt.submission)), 201 if receipt.job_queued else 202


@api.get("/challenges/<slug>/phases/<phase_slug>/submissions")
def my_submissions(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        return jsonify([submission_summary(session, s) for s in list_submissions(session, phase, user)])


@api.get("/submissions/<int:submission_id>")
def submission(submission_id: int):  # type: ignore[no-untyped-def]
    with db_session() as session:
        user = _current_user(session)
        return jsonify(submission_summary(session, get_submission(session, submission_id, user)))


@api.post("/submissions/<int:submission_id>/cancel")
def cancel(submission_id: int):  # type: ignore[no-untyped-def]
    """Cancel an unfinished submission: your own, or (organisers) any of the challenge's."""
    with db_session() as session:
        user = _current_user(session)
        cancelled = cancel_submission(session, submission_id, user)
        return jsonify(submission_summary(session, cancelled)), 200


@api.get("/submissions/<int:submission_id>/logs/<stream_name>")
def submission_log(submission_id: int, stream_name: str):  # type: ignore[no-untyped-def]
    if stream_name not in ("stdout", "stderr"):
        return jsonify({"error": "logs are 'stdout' or 'stderr'"}), 404
    with db_session() as session:
        user = _current_user(session)
        found = get_submission(session, submission_id, user)
        key = keys.submission_log(found.id, "stdout" if stream_name == "stdout" else "stderr")
    store = podium().resources.store
    if not store.exists(key):
        return jsonify({"error": "no log yet; the container has not run"}), 404
    return store.get_bytes(key), 200, {"Content-Type": "text/plain; charset=utf-8"}


def _challenge_json(challenge: Challenge) -> dict:
    return {
        "slug": challenge.slug,
        "title": challenge.title,
        "description": challenge.description,
        "public_files": [{"name": f["name"], "bytes": f["bytes"]} for f in challenge.public_files],
        "phases": [
            {
                "slug": p.slug,
                "title": p.title,
                "submission_kind": p.submission_kind,
                "run_mode": p.run_mode,
                "opens_at": p.opens_at.isoformat() if p.opens_at else None,
                "closes_at": p.closes_at.isoformat() if p.closes_at else None,
                "metrics": [m["name"] for m in phase_metrics(p)],
                "ranking": {"metric": p.ranking_metric, "order": p.ranking_order},
                "inputs": p.inputs,
                "outputs": p.outputs,
                "limits": {"time_limit_seconds": p.time_limit_seconds, "memory_mb": p.memory_mb,
                           "cpus": p.cpus, "pids": p.pids_limit, "tmp_mb": p.tmp_mb, "output_mb": p.output_mb,
                           "max_upload_mb": p.max_upload_mb, "submissions_per_day": p.submissions_per_day},
            }
            for p in challenge.phases
        ],
    }
