"""Receiving container submissions: limits, validation, storage, queueing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import transitions
from app.errors import Conflict, Forbidden, NotFound, ServiceError
from app.models import Phase, Submission, SubmissionState, User
from app.models._types import utcnow
from app.permissions import is_organiser
from app.queries.entrants import entrant_of, shares_submission
from app.storage import ArtifactStore, StorageError, keys
from app.usecases.membership import require_participant
from app.usecases.submission_limits import check_limits, claim_submission
from app.usecases.uploads import SpooledUpload
from runners.image_archive import ImageArchiveLimits, InvalidImageArchive, validate_image_archive

log = logging.getLogger(__name__)
S = SubmissionState
Enqueue = Callable[[int], None]


STORAGE_DOWN_MESSAGE = ("the platform could not store your upload (storage is unavailable); this is not your "
                        "fault and does not count against your limit: please upload it again in a few minutes")


class StorageUnavailable(ServiceError):
    """The platform's storage failed while receiving an upload (never the participant's fault)."""

    status_code = 503


class SubmissionRefused(ServiceError):
    """The upload was stored as a failed submission; the message says why."""

    def __init__(self, message: str, submission_id: int) -> None:
        super().__init__(message)
        self.submission_id = submission_id


def check_can_submit(session: Session, phase: Phase, user: User) -> None:
    """Whether the participant may submit to the phase now (cheap: run before an upload is read)."""
    now = utcnow()
    if phase.opens_at and now < phase.opens_at:
        raise Forbidden(f"phase {phase.slug!r} opens at {phase.opens_at.isoformat()}; submit after that")
    if phase.closes_at and now >= phase.closes_at:
        raise Forbidden(f"phase {phase.slug!r} closed at {phase.closes_at.isoformat()}")
    if phase.current_test_set_id is None:
        raise Forbidden(f"phase {phase.slug!r} has no test set yet; ask the organisers")
    require_participant(session, phase.challenge, user)
    check_limits(session, phase, user)


@dataclass(frozen=True)
class Receipt:
    """A stored, queued submission; `job_queued` is False when the queue could not be told (the reconciler
    will queue it within seconds of the queue coming back: nothing is lost, and the caller must not retry)."""

    submission: Submission
    job_queued: bool


def receive_container_submission(
    session: Session,
    store: ArtifactStore,
    enqueue: Enqueue,
    *,
    phase: Phase,
    user: User,
    upload: SpooledUpload,
    comment: str = "",
) -> Receipt:
    """Validate an uploaded `docker save` archive, store it and queue it.

    Raises SubmissionRefused (the submission is kept as failed, with the reason) for a bad archive, and
    StorageUnavailable (the submission is kept as failed by the platform, not counted) when it cannot be stored.
    """
    check_can_submit(session, phase, user)
    comment = "".join(ch for ch in comment if ch >= " " or ch in "\t\n")[:500]  # no NUL or control bytes
    submission = claim_submission(session, phase, user, comment=comment, upload_bytes=upload.size,
                                  upload_sha256=upload.sha256)
    transitions.start_validation(session, submission.id)
    session.commit()
    limits = ImageArchiveLimits(max_archive_bytes=phase.max_upload_mb * 1024**2)
    try:
        info = validate_image_archive(upload.path, limits)
    except InvalidImageArchive as exc:
        message = f"the upload is not a usable container image: {exc}"
        transitions.refuse_upload(session, submission.id, message)
        session.commit()
        raise SubmissionRefused(message, submission.id) from None
    key = keys.submission_upload(submission.id, compressed=info.compressed)
    try:
        with upload.path.open("rb") as handle:
            store.put_stream(key, handle)
    except StorageError:
        log.exception("submission %s: could not store the upload", submission.id)
        transitions.abandon_upload(session, submission.id, STORAGE_DOWN_MESSAGE)
        session.commit()
        raise StorageUnavailable(STORAGE_DOWN_MESSAGE) from None
    # The config's digest identifies the image only when every layer was checked against it: then a worker whose
    # engine holds that image may skip `docker load` (app/pipeline/run.py); otherwise it always loads the archive.
    digest = info.config_digest if info.layers_verified else None
    transitions.queue_upload(session, submission.id, upload_key=key, image_config_digest=digest,
                             image_tags=" ".join(info.repo_tags))
    session.commit()
    # The database says "queued" before the queue hears of it. If Redis is down now, the reconciler
    # enqueues it when Redis is back; the participant must not upload again (that would be a duplicate).
    try:
        enqueue(submission.id)
        job_queued = True
    except Exception:  # noqa: BLE001 - any queue failure: the row is safe, the reconciler takes over
        log.warning("submission %s: stored but not yet queued (the queue is unavailable); the reconciler will "
                    "queue it", submission.id, exc_info=True)
        job_queued = False
    session.refresh(submission)
    return Receipt(submission, job_queued)


def cancel_submission(session: Session, submission_id: int, user: User) -> Submission:
    """A participant cancels their own (or their team's) unfinished submission; an organiser or admin any of the
    phase's.

    A queued submission is never run; a running one loses its lease and its worker stops the container
    within a third of the lease length. A finished submission cannot be cancelled.
    """
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(f"no submission {submission_id}")
    organiser = is_organiser(user, submission.phase)
    if not organiser and not shares_submission(session, submission, user):
        raise NotFound(f"no submission {submission_id} of yours")
    if submission.state.is_final:
        raise Conflict(f"submission {submission_id} has already {submission.state.value}; only unfinished "
                       "submissions can be cancelled")
    who = ("you" if submission.user_id == user.id
           else f"organiser {user.username}" if organiser and not shares_submission(session, submission, user)
           else f"your team-mate {user.username}")
    if not transitions.cancel(session, submission_id, message=f"cancelled by {who}"):
        session.rollback()
        session.refresh(submission)
        raise Conflict(f"submission {submission_id} finished ({submission.state.value}) before it could be "
                       "cancelled")
    session.commit()
    session.refresh(submission)
    return submission


def get_submission(session: Session, submission_id: int, user: User) -> Submission:
    """The submission, for its owner, their team-mates and the challenge's organisers (and admins); anyone else
    gets a 404."""
    submission = session.get(Submission, submission_id)
    if submission is None or not (is_organiser(user, submission.phase)
                                  or shares_submission(session, submission, user)):
        raise NotFound(f"no submission {submission_id} of yours")
    return submission


def list_submissions(session: Session, phase: Phase, user: User) -> list[Submission]:
    """Your submissions to the phase, and your team's (also those made before you joined it, if any)."""
    entrant = entrant_of(session, phase.challenge_id, user)
    mine = or_(Submission.user_id == user.id, entrant.submissions())
    return list(session.scalars(select(Submission).where(Submission.phase_id == phase.id, mine)
                                .order_by(Submission.id.desc())))


def upload_tmp_dir(data_dir: Path) -> Path:
    return data_dir / "tmp" / "uploads"
