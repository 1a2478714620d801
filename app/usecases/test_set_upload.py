"""Replace a phase's test set with one uploaded through the site (a .zip of a test set folder).

The folder is the one `challenge.yaml`'s `test_set` names (app/usecases/test_set_folder.py): cases.csv,
inputs/<case_id>/..., ground_truth/<case_id>/.... It is unpacked safely, checked in full against the phase's
interfaces, and only then stored: a changed test set becomes a new version (the phase's leaderboard then starts
afresh: earlier submissions stay scored on the version they ran on), the same content as an existing version makes
that version current again, and a test set with any problem replaces nothing. Organisers of the challenge only.
Messages never show the server's temporary paths.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.challenge_yaml import PhaseSpec
from app.errors import Forbidden, ServiceError
from app.models import Phase, TestSet, User
from app.permissions import organises
from app.queries.challenge_spec import phase_spec_of
from app.storage import ArtifactStore
from app.usecases.apply_challenge import store_test_set_version
from app.usecases.reevaluation import adopt_new_version, switch_hint
from app.usecases.safe_unzip import UnsafeArchive, unpack_zip
from app.usecases.test_set_folder import TestSetError, read_test_set

MAX_ENTRIES = 1_000_000
MAX_UNPACKED_BYTES = 128 * 1024**3


class InvalidTestSet(ServiceError):
    """The uploaded test set cannot be used; nothing was replaced. The message lists what to fix."""


SITES_REFUSAL = ("this phase's cases are held at its sites: each site loads its own with `podium site load-cases` "
                 "(docs/sites.md); nothing was uploaded")


@dataclass(frozen=True)
class TestSetReport:
    __test__ = False

    version: int
    created: bool  # False: the same content as an existing version (now current again)
    case_count: int
    metadata_columns: list[str]
    content_hash: str
    current: bool = True  # False: kept beside the version the phase ranks on (docs/challenges.md); `note` says how
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "created": self.created, "case_count": self.case_count,
                "metadata_columns": list(self.metadata_columns), "content_hash": self.content_hash,
                "current": self.current, "note": self.note}


def replace_test_set(session: Session, store: ArtifactStore, *, phase: Phase, archive: Path, actor: User,
                     work_dir: Path | None = None) -> TestSetReport:
    """Check the archive in full, then make it the phase's current test set (and commit)."""
    if not organises(actor, phase.challenge):
        raise Forbidden(f"only the organisers of {phase.challenge.title} upload its test sets")
    if phase.sites:  # docs/sites.md: the centre never holds a site's hidden inputs or ground truth
        raise InvalidTestSet(SITES_REFUSAL)
    try:
        spec = PhaseSpec.model_validate(phase_spec_of(phase))
    except ValidationError as exc:  # the phase itself is inconsistent: the organiser fixes it first
        raise InvalidTestSet(f"the phase's settings do not validate ({exc.error_count()} problem(s)); fix them on "
                             "the phase's edit page first") from None
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    unpacked = Path(tempfile.mkdtemp(prefix="test-set-", dir=work_dir))
    try:
        try:
            root = unpack_zip(archive, unpacked, what="the test set archive", top_file="cases.csv",
                              max_entries=MAX_ENTRIES, max_bytes=MAX_UNPACKED_BYTES)
            content = read_test_set(root, spec, work_dir)
        except (UnsafeArchive, TestSetError) as exc:
            raise InvalidTestSet(_without_paths(str(exc), unpacked)) from None
        test_set, created = store_test_set_version(session, store, phase.challenge, phase, content)
        current = adopt_new_version(session, phase, test_set)  # kept beside the ranked one once it has scores
        session.commit()
        report = _report(test_set, created)
        return report if current else replace(report, current=False, note=switch_hint(phase, test_set))
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def _report(test_set: TestSet, created: bool) -> TestSetReport:
    return TestSetReport(version=test_set.version, created=created, case_count=test_set.case_count,
                         metadata_columns=list(test_set.metadata_columns), content_hash=test_set.content_hash)


def _without_paths(message: str, folder: Path) -> str:
    for shown in (str(folder.resolve()), str(folder)):
        message = message.replace(shown + "/", "").replace(shown, "the archive")
    return message
