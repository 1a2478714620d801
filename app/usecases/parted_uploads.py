"""Large files sent in parts: a container archive (up to a phase's upload limit) or a test set archive.

The browser and `podium submit` send a file as a sequence of parts (PUT with the byte offset each part starts
at), so no single request carries gigabytes, a progress bar can follow it, and an interrupted upload resumes
from what arrived (`received_bytes`). The parts are appended to a spool file in the web process's data folder
(with several web machines: sticky sessions, or a data folder they share); the row in `parted_uploads` says whose
upload it is, what for, and how much has arrived. A complete upload is then *used* once: it becomes a submission
(app.usecases.submissions) or a test set version (app.usecases.test_set_upload), and its spool file is removed.

Rules: only the user who began an upload can see, extend, use or abort it (anyone else: 404, as if there were
none); who may begin one is checked first (a submission: the phase is open to them and their limits allow it; a
test set: they organise the challenge); sizes are checked against the declared total, which is checked against
the phase's limit before a byte is read; a part must start where the upload stands (else 409 with where that is);
each user has at most MAX_OPEN_UPLOADS unfinished uploads, and unfinished uploads expire after EXPIRE_AFTER.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound, RateLimited, ServiceError, TooLarge
from app.models import PartedUpload, Phase, User
from app.models._types import utcnow
from app.permissions import organises
from app.usecases.submissions import check_can_submit
from app.usecases.uploads import SpooledUpload, upload_too_large_message

PART_BYTES = 8 * 1024**2  # what clients are told to send per part
MAX_PART_BYTES = 64 * 1024**2  # the largest part accepted
MAX_TEST_SET_BYTES = 64 * 1024**3
MAX_OPEN_UPLOADS = 4
EXPIRE_AFTER = timedelta(hours=24)
READ_BYTES = 1 << 20


class Purpose(enum.StrEnum):
    SUBMISSION = "submission"  # a `docker save` archive of an algorithm
    TEST_SET = "test-set"  # a .zip of a test set folder (cases.csv, inputs/, ground_truth/)


def spool_dir(data_dir: Path) -> Path:
    return data_dir / "tmp" / "parted-uploads"


def spool_path(data_dir: Path, upload: PartedUpload) -> Path:
    return spool_dir(data_dir) / f"{upload.token}.part"


def begin_upload(session: Session, data_dir: Path, *, user: User, phase: Phase, purpose: str, filename: str,
                 total_bytes: int) -> PartedUpload:
    """Check that the user may send this file now, and open an empty upload for it."""
    try:
        kind = Purpose(purpose)
    except ValueError:
        raise ServiceError(f"purpose must be one of {', '.join(p.value for p in Purpose)} (got {purpose!r})") from None
    if total_bytes < 1:
        raise ServiceError("the file is empty: choose the archive to upload")
    if kind is Purpose.SUBMISSION:
        check_can_submit(session, phase, user)
        max_bytes = phase.max_upload_mb * 1024**2
        if total_bytes > max_bytes:
            raise TooLarge(upload_too_large_message(max_bytes))
    else:
        if not organises(user, phase.challenge):
            raise Forbidden(f"only the organisers of {phase.challenge.title} upload its test sets")
        if total_bytes > MAX_TEST_SET_BYTES:
            raise TooLarge(f"a test set archive may be at most {MAX_TEST_SET_BYTES // 1024**3} GiB; ask the "
                           "operator to apply larger ones with `podium challenge apply`")
    expire_stale_uploads(session, data_dir)
    open_uploads = session.scalars(select(PartedUpload.id).where(PartedUpload.user_id == user.id)).all()
    if len(open_uploads) >= MAX_OPEN_UPLOADS:
        raise RateLimited(f"you have {len(open_uploads)} unfinished uploads; finish or abort one first (they "
                          f"expire {EXPIRE_AFTER.total_seconds() / 3600:.0f} hours after they began)")
    upload = PartedUpload(token=secrets.token_urlsafe(24), user_id=user.id, purpose=kind.value, phase_id=phase.id,
                          filename=_clean_name(filename), total_bytes=total_bytes, received_bytes=0)
    path = spool_path(data_dir, upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=False)
    session.add(upload)
    session.commit()
    return upload


def get_upload(session: Session, token: str, user: User) -> PartedUpload:
    """The user's own upload (404 for anyone else's, or none)."""
    upload = session.scalar(select(PartedUpload).where(PartedUpload.token == token))
    if upload is None or upload.user_id != user.id:
        raise NotFound("no such upload of yours (it may have been used, aborted or have expired): start it again")
    return upload


def receive_part(session: Session, data_dir: Path, *, token: str, user: User, offset: int, stream: IO[bytes],
                 length: int | None) -> PartedUpload:
    """Append one part, which must start at the upload's `received_bytes`."""
    upload = get_upload(session, token, user)
    if offset != upload.received_bytes:
        raise PartOutOfPlace(upload.received_bytes)
    if length is not None and length > MAX_PART_BYTES:
        raise TooLarge(f"a part may be at most {MAX_PART_BYTES // 1024**2} MiB; send {PART_BYTES // 1024**2} MiB parts")
    room = upload.total_bytes - offset
    if room == 0:
        raise Conflict("the upload is already complete: use it (submit it) instead of sending more")
    path = spool_path(data_dir, upload)
    with _exclusive(path) as handle:
        session.refresh(upload)  # another request may have moved it while this one waited for nothing
        if offset != upload.received_bytes:
            raise PartOutOfPlace(upload.received_bytes)
        handle.seek(offset)
        written = 0
        while chunk := stream.read(READ_BYTES):
            written += len(chunk)
            if written > min(room, MAX_PART_BYTES):
                raise TooLarge(f"the part goes past the upload's declared size of {upload.total_bytes} bytes "
                               f"(or past {MAX_PART_BYTES // 1024**2} MiB); send the file as it was declared")
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
        if written == 0:
            raise ServiceError("the part is empty: send the bytes of the file from `offset` on")
        moved = session.execute(update(PartedUpload)
                                .where(PartedUpload.id == upload.id, PartedUpload.received_bytes == offset)
                                .values(received_bytes=offset + written, updated_at=utcnow()))
        session.commit()
    if getattr(moved, "rowcount", 1) != 1:
        session.refresh(upload)
        raise PartOutOfPlace(upload.received_bytes)
    session.refresh(upload)
    return upload


def take_complete_upload(session: Session, data_dir: Path, *, token: str, user: User, purpose: Purpose,
                         phase: Phase | None = None) -> SpooledUpload:
    """Hand over a complete upload as a spooled file (the caller discards it) and forget the upload."""
    upload = get_upload(session, token, user)
    if upload.purpose != purpose.value or (phase is not None and upload.phase_id != phase.id):
        raise Conflict(f"this upload was begun as a {upload.purpose} for another use; begin a new one")
    if upload.received_bytes != upload.total_bytes:
        raise Conflict(f"the upload is not complete: {upload.received_bytes} of {upload.total_bytes} bytes arrived; "
                       "send the rest (resume from received_bytes) first")
    path = spool_path(data_dir, upload)
    digest = hashlib.sha256()
    with path.open("r+b") as handle:
        handle.truncate(upload.total_bytes)  # nothing a broken part left past the end
        while chunk := handle.read(READ_BYTES):
            digest.update(chunk)
    session.delete(upload)
    session.commit()
    return SpooledUpload(path=path, size=upload.total_bytes, sha256=digest.hexdigest())


def abort_upload(session: Session, data_dir: Path, *, token: str, user: User) -> None:
    upload = get_upload(session, token, user)
    spool_path(data_dir, upload).unlink(missing_ok=True)
    session.delete(upload)
    session.commit()


def expire_stale_uploads(session: Session, data_dir: Path) -> int:
    """Forget uploads untouched for EXPIRE_AFTER, with their spool files; returns how many."""
    cutoff = utcnow() - EXPIRE_AFTER
    stale = session.scalars(select(PartedUpload).where(PartedUpload.updated_at < cutoff)).all()
    for upload in stale:
        spool_path(data_dir, upload).unlink(missing_ok=True)
    if stale:
        session.execute(delete(PartedUpload).where(PartedUpload.id.in_([u.id for u in stale])))
        session.commit()
    return len(stale)


class PartOutOfPlace(Conflict):
    """A part that does not start where the upload stands: the client resumes from `received_bytes`."""

    def __init__(self, received_bytes: int) -> None:
        super().__init__(f"this part does not start where the upload stands: {received_bytes} bytes have arrived; "
                         f"send the file from offset {received_bytes}")
        self.received_bytes = received_bytes


@contextmanager
def _exclusive(path: Path) -> Iterator[IO[bytes]]:
    """The spool file, opened for writing by this request alone (others get a 409 at once, never a wait)."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        raise NotFound("the upload's data is gone (the site was cleaned up or restarted elsewhere): start it "
                       "again") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("another part of this upload is being written; send parts one at a time") from None
        yield handle


def _clean_name(filename: str) -> str:
    """The file's base name, printable, for display only (never used as a path)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:255]
