"""Uploads in parts from the browser (app/web/static/podium-upload.js), and the organisers' test set page.

The JSON endpoints are the site's, not the API's: they use the browser's session, and every request carries the
page's CSRF token in the X-CSRFToken header (checked by CSRFProtect like any form). Their answers are JSON in the
API's error shape, so the script can show the message. Rules: app/usecases/parted_uploads.py.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import ServiceError
from app.extensions import db_session, podium
from app.models import Phase, TestSet, User
from app.queries.phases import get_phase
from app.queries.site_parts import phase_sites_overview
from app.usecases.parted_uploads import (
    MAX_PART_BYTES,
    MAX_TEST_SET_BYTES,
    PART_BYTES,
    PartOutOfPlace,
    Purpose,
    begin_upload,
    get_upload,
    receive_part,
    take_complete_upload,
)
from app.usecases.test_set_upload import replace_test_set
from app.usecases.uploads import SpooledUpload, spool_upload
from app.web import _logged_in_user, sentence, web
from app.web.organisers import organised_challenge
from app.web.sessions import signed_in
from app.web.test_set_versions import versions_panel

SIGN_IN_FIRST = "your session ended: sign in again (in another tab), then send the file again"


def _json_error(exc: ServiceError) -> ResponseReturnValue:
    body: dict[str, Any] = {"error": str(exc), "submission_id": None}
    if isinstance(exc, PartOutOfPlace):
        body["received_bytes"] = exc.received_bytes
    return body, exc.status_code


def _upload_json(received: int, total: int, token: str) -> dict[str, Any]:
    return {"token": token, "received_bytes": received, "total_bytes": total, "part_bytes": PART_BYTES,
            "max_part_bytes": MAX_PART_BYTES, "complete": received == total}


@web.post("/challenges/<slug>/<phase_slug>/uploads")
def begin_parted_upload(slug: str, phase_slug: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return {"error": SIGN_IN_FIRST, "submission_id": None}, 401
        try:
            if not isinstance(body, dict) or not isinstance(body.get("size"), int):
                raise ServiceError('send JSON: {"purpose": "submission", "filename": "...", "size": BYTES}')
            phase = get_phase(db, slug, phase_slug)
            upload = begin_upload(db, podium().resources.settings.data_dir, user=user, phase=phase,
                                  purpose=str(body.get("purpose", "")), filename=str(body.get("filename", "")),
                                  total_bytes=body["size"])
        except ServiceError as exc:
            return _json_error(exc)
        return _upload_json(upload.received_bytes, upload.total_bytes, upload.token), 201


@web.put("/uploads/<upload_token>")
def send_upload_part(upload_token: str) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return {"error": SIGN_IN_FIRST, "submission_id": None}, 401
        try:
            offset = request.args.get("offset", type=int)
            if offset is None or offset < 0:
                raise ServiceError("give the part's place in the file as ?offset=N (the upload's received_bytes)")
            upload = receive_part(db, podium().resources.settings.data_dir, token=upload_token, user=user,
                                  offset=offset, stream=request.stream, length=request.content_length)
        except ServiceError as exc:
            return _json_error(exc)
        return _upload_json(upload.received_bytes, upload.total_bytes, upload.token)


@web.get("/uploads/<upload_token>")
def parted_upload_status(upload_token: str) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return {"error": SIGN_IN_FIRST, "submission_id": None}, 401
        try:
            upload = get_upload(db, upload_token, user)
        except ServiceError as exc:
            return _json_error(exc)
        return _upload_json(upload.received_bytes, upload.total_bytes, upload.token)


# --- the organisers' test set page -------------------------------------------------------------------------------


def _organised_phase(db: Session, slug: str, phase_slug: str) -> tuple[Phase, User]:
    _, user = organised_challenge(db, slug, "manage its test sets")
    return get_phase(db, slug, phase_slug), user


def _render(db: Session, phase: Phase, problem: str | None = None, status: int = 200) -> ResponseReturnValue:
    versions = db.scalars(select(TestSet).where(TestSet.phase_id == phase.id).order_by(TestSet.version.desc())).all()
    return render_template("test_set.html", phase=phase, challenge=phase.challenge, versions=versions,
                           problem=problem, max_gib=MAX_TEST_SET_BYTES // 1024**3,
                           sites=phase_sites_overview(db, phase), **versions_panel(db, phase)), status


@web.get("/challenges/<slug>/<phase_slug>/test-set")
@signed_in
def test_set_page(slug: str, phase_slug: str) -> ResponseReturnValue:
    with db_session() as db:
        phase, _ = _organised_phase(db, slug, phase_slug)
        return _render(db, phase)


@web.post("/challenges/<slug>/<phase_slug>/test-set")
@signed_in
def upload_test_set(slug: str, phase_slug: str) -> ResponseReturnValue:
    context = podium()
    data_dir = context.resources.settings.data_dir
    with db_session() as db:
        phase, user = _organised_phase(db, slug, phase_slug)
        spooled: SpooledUpload | None = None
        try:
            token = request.form.get("upload", "")
            if token:  # sent in parts by the page's script
                spooled = take_complete_upload(db, data_dir, token=token, user=user, purpose=Purpose.TEST_SET,
                                               phase=phase)
            else:  # no script: the file came with the form
                file = request.files.get("archive")
                if file is None or not file.filename:
                    raise ServiceError("Choose the test set's .zip to upload (cases.csv, inputs/ and ground_truth/ "
                                       "at its top).")
                spooled = spool_upload(file.stream, max_bytes=MAX_TEST_SET_BYTES, tmp_dir=data_dir / "tmp" / "uploads")
            report = replace_test_set(db, context.resources.store, phase=phase, archive=spooled.path, actor=user,
                                      work_dir=data_dir / "tmp")
        except ServiceError as exc:
            db.rollback()
            return _render(db, phase, problem=sentence(str(exc)), status=exc.status_code)
        finally:
            if spooled is not None:
                spooled.discard()
        if not report.current:  # kept beside the version the phase ranks on (app/usecases/reevaluation.py)
            flash(f"Test set version {report.version} is stored ({report.case_count} cases), but {report.note}.")
        elif report.created:
            flash(f"Test set version {report.version} is now the phase's test set: {report.case_count} cases.")
        else:
            flash(f"That is the same content as version {report.version}, which is the phase's test set now "
                  f"({report.case_count} cases); nothing new was stored.")
        return redirect(url_for("web.test_set_page", slug=slug, phase_slug=phase_slug))

