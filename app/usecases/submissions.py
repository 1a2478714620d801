"""Receiving container submissions: limits, validation, storage, queueing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Forbidden, NotFound, RateLimited, ServiceError
from app.models import Phase, Submission, SubmissionState, User
from app.models._types import utcnow
from app.storage import ArtifactStore
from app.transitions import transition
from app.usecases.uploads import SpooledUpload
from runners.image_archive import ImageArchiveLimits, InvalidImageArchive, validate_image_archive

S = SubmissionState
Enqueue = Callable[[int], None]


class SubmissionRefused(ServiceError):
    """The upload was stored as a failed submission; the message says why."""

    def __init__(self, message: str, submission_id: int) -> None:
        super().__init__(message)
        self.submission_id = submission_id


def check_can_submit(session: Session, phase: Phase, user: User) -> None:
    now = utcnow()
    if phase.opens_at and now < phase.opens_at:
        raise Forbidden(f"phase {phase.slug!r} opens at {phase.opens_at.isoformat()}; submit after that")
    if phase.closes_at and now >= phase.closes_at:
        raise Forbidden(f"phase {phase.slug!r} closed at {phase.closes_at.isoformat()}")
    if phase.current_test_set_id is None:
        raise Forbidden(f"phase {phase.slug!r} has no test set yet; ask the organisers")
    refused = refused_uploads_today(session, phase, user)
    if refused >= refused_upload_limit(phase):
        raise RateLimited(f"{refused} of your uploads to phase {phase.slug!r} were refused in the last 24 hours; "
                          "check your archive first with `podium check-image ARCHIVE`, then try again later")
    used = submissions_counted_today(session, phase, user)
    if used >= phase.submissions_per_day:
        raise RateLimited(f"you have used all {phase.submissions_per_day} submissions for phase "
                          f"{phase.slug!r} in the last 24 hours; try again later")


def submissions_counted_today(session: Session, phase: Phase, user: User) -> int:
    """Submissions that count against the daily limit: accepted ones not failed by the platform."""
    since = utcnow() - timedelta(days=1)
    return session.scalar(
        select(func.count(Submission.id)).where(
            Submission.phase_id == phase.id,
            Submission.user_id == user.id,
            Submission.created_at >= since,
            Submission.upload_key.is_not(None),
            Submission.failure_is_infrastructure.is_(False),
        )
    ) or 0


def refused_upload_limit(phase: Phase) -> int:
    """Refused uploads allowed per day: each one costs the server a full decompression of the archive."""
    return max(10, 2 * phase.submissions_per_day)


def refused_uploads_today(session: Session, phase: Phase, user: User) -> int:
    since = utcnow() - timedelta(days=1)
    return session.scalar(
        select(func.count(Submission.id)).where(
            Submission.phase_id == phase.id,
            Submission.user_id == user.id,
            Submission.created_at >= since,
            Submission.state == SubmissionState.FAILED,
            Submission.upload_key.is_(None),
        )
    ) or 0


def receive_container_submission(
    session: Session,
    store: ArtifactStore,
    enqueue: Enqueue,
    *,
    phase: Phase,
    user: User,
    upload: SpooledUpload,
    comment: str = "",
) -> Submission:
    """Validate an uploaded `docker save` archive, store it and queue it.

    Raises SubmissionRefused (the submission is kept as failed, with the reason) for a bad archive.
    """
    check_can_submit(session, phase, user)
    submission = Submission(phase_id=phase.id, user_id=user.id, state=S.RECEIVED, comment=comment[:500],
                            upload_bytes=upload.size, upload_sha256=upload.sha256)
    session.add(submission)
    session.commit()
    transition(session, submission.id, S.RECEIVED, S.VALIDATING)
    limits = ImageArchiveLimits(max_archive_bytes=phase.max_upload_mb * 1024**2)
    try:
        info = validate_image_archive(upload.path, limits)
    except InvalidImageArchive as exc:
        message = f"the upload is not a usable container image: {exc}"
        transition(session, submission.id, S.VALIDATING, S.FAILED, failure_message=message)
        raise SubmissionRefused(message, submission.id) from None
    key = f"submissions/{submission.id}/upload.tar" + (".gz" if info.compressed else "")
    with upload.path.open("rb") as handle:
        store.put_stream(key, handle)
    transition(session, submission.id, S.VALIDATING, S.QUEUED, upload_key=key,
               image_config_digest=info.config_digest, image_tags=" ".join(info.repo_tags)[:500])
    # The database says "queued" before Redis hears of it; if Redis is down now, the reconciler
    # re-enqueues it later. Nothing is lost.
    enqueue(submission.id)
    session.refresh(submission)
    return submission


def get_submission(session: Session, submission_id: int, user: User) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or (submission.user_id != user.id and not user.is_admin):
        raise NotFound(f"no submission {submission_id} of yours")
    return submission


def list_submissions(session: Session, phase: Phase, user: User) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.phase_id == phase.id,
                                                         Submission.user_id == user.id)
                                .order_by(Submission.id.desc())))


def upload_tmp_dir(data_dir: Path) -> Path:
    return data_dir / "tmp" / "uploads"
