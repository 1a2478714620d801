"""Import a challenge bundle (a .zip of a challenge folder: challenge.yaml, its test sets, public files) uploaded
through the site, with the same validation as `podium challenge apply`.

Who: a site admin creates a new challenge (and becomes its organiser); a challenge's organisers update it.
The archive is hostile input: it is unpacked by hand (app/usecases/safe_unzip.py), at most MAX_ENTRIES entries and
MAX_UNPACKED_BYTES in all, into a fresh folder that is removed afterwards. A `prepare` step is refused (it would
run the uploader's code on the server). Messages never show the server's temporary paths.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.challenge_yaml import SPEC_FILE_NAME, ChallengeSpecError, load_challenge_spec
from app.errors import Forbidden, ServiceError
from app.models import Challenge, ChallengeOrganiser, User
from app.permissions import organises
from app.storage import ArtifactStore
from app.usecases.apply_challenge import ApplyReport, apply_challenge
from app.usecases.safe_unzip import UnsafeArchive, unpack_zip
from app.usecases.test_set_folder import TestSetError

MAX_ENTRIES = 200_000
MAX_UNPACKED_BYTES = 8 * 1024**3


class InvalidBundle(ServiceError):
    """The bundle cannot be read or does not describe a valid challenge; the message says what to fix."""


def import_bundle(session: Session, store: ArtifactStore, archive: Path, actor: User, *,
                  work_dir: Path | None = None) -> ApplyReport:
    """Unpack, check who may, then apply (in the session's transaction; the caller commits)."""
    unpacked = Path(tempfile.mkdtemp(prefix="bundle-", dir=work_dir))
    try:
        folder = _unpack(archive, unpacked)
        try:
            spec, _ = load_challenge_spec(folder)
            existing = session.scalar(select(Challenge).where(Challenge.slug == spec.slug))
            if existing is None and not actor.is_admin:
                raise Forbidden(f"only the site's admins create challenges; ask one to create {spec.slug!r}, or "
                                "to make you an organiser of an existing one")
            if existing is not None and not organises(actor, existing):
                raise Forbidden(f"only the organisers of {spec.slug!r} may update it")
            report = apply_challenge(session, store, folder, allow_prepare=False)
        except (ChallengeSpecError, TestSetError) as exc:
            raise InvalidBundle(_without(str(exc), folder, unpacked)) from None
        challenge = session.scalar(select(Challenge).where(Challenge.slug == report.slug))
        assert challenge is not None
        if report.created and actor.id not in challenge.organiser_ids:
            challenge.organiser_links.append(ChallengeOrganiser(user_id=actor.id))
            session.flush()
        return report
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def _without(message: str, *folders: Path) -> str:
    for folder in folders:
        message = message.replace(str(folder.resolve()) + "/", "").replace(str(folder) + "/", "")
        message = message.replace(str(folder.resolve()), "the bundle").replace(str(folder), "the bundle")
    return message


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack safely; the folder holding challenge.yaml (the top, or its one folder)."""
    try:
        return unpack_zip(archive, into, what="the bundle", top_file=SPEC_FILE_NAME, max_entries=MAX_ENTRIES,
                          max_bytes=MAX_UNPACKED_BYTES)
    except UnsafeArchive as exc:
        raise InvalidBundle(str(exc)) from None
