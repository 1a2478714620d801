"""Uploads in parts through the REST API (rules: app/usecases/parted_uploads.py; guide: docs/uploads.md).

    POST   /challenges/<slug>/phases/<phase_slug>/uploads   begin: {"purpose", "filename", "size"}
    PUT    /uploads/<upload_token>?offset=N                 one part, the raw bytes of the file from offset N
    GET    /uploads/<upload_token>                          where it stands (resume from received_bytes)
    DELETE /uploads/<upload_token>                          abort (what arrived is deleted)
    POST   /uploads/<upload_token>/submission               use a complete container archive: a submission
    POST   /uploads/<upload_token>/test-set                 use a complete test set archive: a test set version
"""

from __future__ import annotations

from typing import Any, Literal

from flask import jsonify, request
from pydantic import BaseModel, Field
from spectree import Response

from app.api import _current_user, api, schemas
from app.api.openapi import InvalidRequest, errors, operation
from app.extensions import db_session, podium
from app.models import PartedUpload, Phase
from app.queries.phases import get_phase
from app.queries.submission_summary import submission_summary
from app.usecases.parted_uploads import (
    MAX_PART_BYTES,
    PART_BYTES,
    Purpose,
    abort_upload,
    begin_upload,
    get_upload,
    receive_part,
    take_complete_upload,
)
from app.usecases.submissions import receive_container_submission
from app.usecases.test_set_upload import replace_test_set

UPLOADS = ("uploads",)
UPLOAD = "/uploads/<upload_token>"


class NewUpload(BaseModel):
    purpose: Literal["submission", "test-set"] = Field(
        description="submission: a container archive (`docker save IMAGE | gzip`); test-set: a .zip of a test set "
                    "folder (cases.csv, inputs/, ground_truth/)")
    filename: str = Field("", max_length=255, description="the file's name, for display")
    size: int = Field(ge=1, description="the file's size in bytes (checked against the phase's limit now)")


class Upload(BaseModel):
    """An upload in parts: send the file from `received_bytes` on, `part_bytes` at a time, until it is complete."""

    token: str = Field(description="the upload's name in its URLs (keep it: it resumes the upload)")
    purpose: Literal["submission", "test-set"]
    filename: str
    total_bytes: int
    received_bytes: int = Field(description="how much has arrived: the next part starts here")
    complete: bool
    part_bytes: int = Field(description="the part size to send (the last part may be smaller)")
    max_part_bytes: int


class PartQuery(BaseModel):
    offset: int = Field(ge=0, description="where in the file this part starts: the upload's received_bytes")


class UseAsSubmission(BaseModel):
    comment: str = Field("", description="a note on the submission, kept up to 500 characters")


class TestSetVersion(BaseModel):
    """The phase's test set after an upload: a new version, or the existing one with the same content."""

    __test__ = False
    version: int
    created: bool = Field(description="false: the content equals an existing version, which is now current")
    case_count: int
    metadata_columns: list[str]
    content_hash: str


PART_BODY = {
    "required": True,
    "description": f"The bytes of the file from `offset` on: at most {MAX_PART_BYTES // 1024**2} MiB "
                   f"(send {PART_BYTES // 1024**2} MiB parts).",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def upload_json(upload: PartedUpload) -> dict[str, Any]:
    return {"token": upload.token, "purpose": upload.purpose, "filename": upload.filename,
            "total_bytes": upload.total_bytes, "received_bytes": upload.received_bytes,
            "complete": upload.received_bytes == upload.total_bytes, "part_bytes": PART_BYTES,
            "max_part_bytes": MAX_PART_BYTES}


@api.post("/challenges/<slug>/phases/<phase_slug>/uploads")
@operation(Response(HTTP_201=(Upload, "begun: send its parts"), **errors(400, 401, 403, 404, 413, 429)),
           json=NewUpload, token=True, tags=UPLOADS)
def begin(slug: str, phase_slug: str, json: NewUpload) -> Any:
    """Begin an upload in parts: a container archive to submit, or (organisers) a test set archive.

    Whether you may send it is checked now (the phase is open to you and your limits allow a submission; you
    organise the challenge, for a test set), and its size against the phase's limit, before any byte is sent.
    """
    if json is None:
        raise InvalidRequest('send JSON: {"purpose": "submission", "filename": "...", "size": BYTES}')
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        upload = begin_upload(session, podium().resources.settings.data_dir, user=user, phase=phase,
                              purpose=json.purpose, filename=json.filename, total_bytes=json.size)
        return jsonify(upload_json(upload)), 201


@api.put(UPLOAD)
@operation(Response(HTTP_200=(Upload, "the part arrived"),
                    HTTP_409=(schemas.Error, "the part does not start at received_bytes (GET the upload and resume "
                                             "from there), or another part is being written"),
                    **errors(400, 401, 404, 413)),
           query=PartQuery, token=True, tags=UPLOADS, body=PART_BODY)
def send_part(upload_token: str, query: PartQuery) -> Any:
    """Send one part of the file, starting at `offset` (the upload's received_bytes)."""
    with db_session() as session:
        user = _current_user(session)
        upload = receive_part(session, podium().resources.settings.data_dir, token=upload_token, user=user,
                              offset=query.offset, stream=request.stream, length=request.content_length)
        return jsonify(upload_json(upload))


@api.get(UPLOAD)
@operation(Response(HTTP_200=(Upload, "where the upload stands"), **errors(401, 404)), token=True, tags=UPLOADS)
def upload_status(upload_token: str) -> Any:
    """Where an upload stands: resume it from received_bytes."""
    with db_session() as session:
        return jsonify(upload_json(get_upload(session, upload_token, _current_user(session))))


@api.delete(UPLOAD)
@operation(Response(HTTP_200=(Upload, "aborted: what had arrived is deleted (this was its last state)"),
                    **errors(401, 404)), token=True, tags=UPLOADS)
def abort(upload_token: str) -> Any:
    """Abort an upload: what arrived is deleted."""
    with db_session() as session:
        user = _current_user(session)
        last = upload_json(get_upload(session, upload_token, user))
        abort_upload(session, podium().resources.settings.data_dir, token=upload_token, user=user)
    return jsonify(last)


@api.post(UPLOAD + "/submission")
@operation(Response(HTTP_201=(schemas.Submission, "stored and queued"),
                    HTTP_202=(schemas.Submission, "stored, and queued as soon as the queue is back: do not upload "
                                                  "it again"),
                    HTTP_400=(schemas.Error, "the archive was refused: `submission_id` is the failed submission "
                                             "it was kept as"),
                    **errors(401, 403, 404, 409, 429, 503)),
           json=UseAsSubmission, token=True, tags=UPLOADS)
def use_as_submission(upload_token: str, json: UseAsSubmission) -> Any:
    """Submit a complete container archive upload (checked as `POST .../submissions` checks an upload)."""
    context = podium()
    with db_session() as session:
        user = _current_user(session)
        phase = session.get_one(Phase, get_upload(session, upload_token, user).phase_id)
        spooled = take_complete_upload(session, context.resources.settings.data_dir, token=upload_token, user=user,
                                       purpose=Purpose.SUBMISSION, phase=phase)
        try:
            receipt = receive_container_submission(session, context.resources.store, context.enqueue, phase=phase,
                                                   user=user, upload=spooled, comment=json.comment if json else "")
        finally:
            spooled.discard()
        return (jsonify(submission_summary(session, receipt.submission, user)),
                201 if receipt.job_queued else 202)


@api.post(UPLOAD + "/test-set")
@operation(Response(HTTP_201=(TestSetVersion, "the phase's test set is now this version"),
                    **errors(400, 401, 403, 404, 409)),
           token=True, tags=UPLOADS)
def use_as_test_set(upload_token: str) -> Any:
    """Make a complete test set upload the phase's test set (organisers): checked in full before it replaces
    anything; a changed test set becomes a new version, an unchanged one keeps its version."""
    context = podium()
    with db_session() as session:
        user = _current_user(session)
        phase = session.get_one(Phase, get_upload(session, upload_token, user).phase_id)
        spooled = take_complete_upload(session, context.resources.settings.data_dir, token=upload_token, user=user,
                                       purpose=Purpose.TEST_SET, phase=phase)
        try:
            report = replace_test_set(session, context.resources.store, phase=phase, archive=spooled.path,
                                      actor=user)
        finally:
            spooled.discard()
        return jsonify(report.as_json()), 201
