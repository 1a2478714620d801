"""Export a challenge as a bundle: a .zip that `import_bundle` (or `podium challenge apply` on its unpacked folder)
turns back into the same challenge.

    challenge.yaml                     challenge_spec_of(challenge) (app/queries/challenge_spec.py)
    test-sets/<phase>/...              each phase's current test set: cases.csv, inputs/, ground_truth/ (none for a
                                       phase held at sites: its cases stay at the sites, challenge.yaml names them)
    evaluators/<phase>.tar.gz          each phase's evaluation image, if it has one
    readers/<phase>.csv                each phase's readers' scores, if it has them
    public/<name>                      the public files

The files are copied from the artifact store in chunks into a temporary file (memory stays constant however
large the test sets are). A phase without a test set yet is listed in challenge.yaml, but its folder is missing:
such a bundle imports only once a test set is put at test-sets/<phase>/.
Only the challenge's organisers and the site's admins export it: the bundle holds the hidden ground truth.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.challenge_yaml import SPEC_FILE_NAME, Interface
from app.errors import Forbidden
from app.image_files import ground_truth_image
from app.models import Case, Challenge, Phase, TestSet, User
from app.permissions import organises
from app.queries.challenge_spec import challenge_spec_of, evaluator_path, public_path, readers_path, test_set_path
from app.storage import ArtifactStore, keys

_CHUNK = 1 << 20
HEADER = ("# Podium challenge as code, exported from the site. Import it on a site (Import a challenge), or unpack it\n"
          "# and apply the folder with: podium challenge apply FOLDER\n")


def bundle_files(challenge: Challenge, store: ArtifactStore) -> list[tuple[str, str]]:
    """(name inside the bundle, storage key) for every file besides challenge.yaml."""
    files: list[tuple[str, str]] = []
    for phase in sorted(challenge.phases, key=lambda p: p.position):
        test_set = phase.current_test_set
        if test_set is not None and not phase.sites:  # a site's cases are in its own storage (docs/sites.md)
            prefix = test_set.storage_prefix.rstrip("/")
            files += [(f"{test_set_path(phase.slug)}/{relative}", keys.test_set_file(prefix, relative))
                      for relative in _test_set_files(phase, test_set)]
        if phase.evaluator and phase.evaluator.get("archive_key"):
            files.append((evaluator_path(phase.slug), phase.evaluator["archive_key"]))
        readers_key = (phase.analysis or {}).get("readers_key")
        if readers_key and (phase.analysis or {}).get("readers"):
            files.append((readers_path(phase.slug), readers_key))
    files += [(public_path(f["name"]), f["key"]) for f in challenge.public_files or []]
    return files


def _test_set_files(phase: Phase, test_set: TestSet) -> list[str]:
    """The test set's files, sorted, from the database rather than a listing of the store: cases.csv and each
    case's inputs and ground truth, the names read_test_set listed and apply_challenge stored (a phase's
    interfaces keep their paths while it has a test set: only their descriptions may change)."""
    session = object_session(test_set)
    assert session is not None, "the test set is read from a session"
    cases = session.execute(select(Case.case_key, Case.inputs).where(Case.test_set_id == test_set.id)).all()
    relatives = [f"{kind}/{case_id}/{_stored_file(kind, case_id, inputs or {}, interface)}"
                 for kind, interfaces in (("inputs", phase.inputs or []), ("ground_truth", phase.ground_truth or []))
                 for case_id, inputs in cases for interface in interfaces]
    return sorted(["cases.csv", *relatives])


def _stored_file(kind: str, case_id: str, inputs: dict[str, Any], interface: dict[str, Any]) -> str:
    """An interface's file relative to the case's folder: an image's one file inside its folder (an input's as the
    case's inputs name it, "<case_id>/<path>"; a ground truth's <case_id>.mha), anything else its own path."""
    if interface.get("kind") != "image":
        return str(interface["relative_path"])
    if kind == "ground_truth":
        return ground_truth_image(case_id, Interface.model_validate(interface))
    return str(inputs[interface["slug"]]).removeprefix(f"{case_id}/")


def spec_yaml(challenge: Challenge) -> str:
    return HEADER + yaml.safe_dump(challenge_spec_of(challenge), sort_keys=False, allow_unicode=True, width=100)


def write_bundle(challenge: Challenge, store: ArtifactStore, sink: IO[bytes]) -> None:
    """Write the bundle into `sink` (a seekable binary file)."""
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as bundle:
        bundle.writestr(SPEC_FILE_NAME, spec_yaml(challenge))
        for name, key in bundle_files(challenge, store):
            with store.open_read(key) as source, bundle.open(name, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target, _CHUNK)


def export_challenge(session: Session, store: ArtifactStore, challenge: Challenge, actor: User, *,
                     work_dir: Path | None = None) -> IO[bytes]:
    """The bundle as an open temporary file, at its start (it disappears when closed)."""
    if not organises(actor, challenge):
        raise Forbidden(f"only the organisers of {challenge.slug!r} (and the site's admins) may export it: the "
                        "bundle holds the hidden test set")
    sink = tempfile.TemporaryFile(prefix="export-", suffix=".zip", dir=work_dir)  # noqa: SIM115 - the caller closes it
    try:
        write_bundle(challenge, store, sink)
    except BaseException:
        sink.close()
        raise
    sink.seek(0)
    return sink
