"""Read and validate a test set folder before anything is stored.

Layout (relative to the folder):
    cases.csv                                   case_id plus optional metadata columns (site, scanner, ...)
    inputs/<case_id>/<input relative_path>      what the algorithm sees
    ground_truth/<case_id>/<gt relative_path>   the hidden reference

An image interface's relative_path is a folder holding one image file (any format app/image_files.py reads) or a
DICOM series; it is stored as `<relative_path>/<case_id>.mha` (an input TIFF as `.tif`), converted where needed
into a work folder that lives as long as the TestSetContent. The content hash covers the stored files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.challenge_yaml import Interface, PhaseSpec
from app.image_files import ImageFileError, test_set_image
from app.interface_values import check_json_value

CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_REPORTED_PROBLEMS = 20


class TestSetError(ValueError):
    """The test set folder is incomplete or malformed; the message lists what to fix."""


@dataclass
class TestSetCase:
    case_id: str
    meta: dict[str, str]
    inputs: dict[str, Any]


@dataclass
class TestSetContent:
    __test__ = False

    root: Path
    cases: list[TestSetCase]
    metadata_columns: list[str]
    files: list[str] = field(default_factory=list)  # relative posix paths, sorted
    content_hash: str = ""
    # Stored files that are not root/<relative>: images renamed or converted (relative -> local file).
    sources: dict[str, Path] = field(default_factory=dict)
    # The folder holding converted images; removed when the content is garbage-collected.
    work: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def path_of(self, relative: str) -> Path:
        """The local file to store under `relative` (one of files)."""
        return self.sources.get(relative) or self.root / relative


def read_test_set(root: Path, phase: PhaseSpec, work_dir: Path | None = None) -> TestSetContent:
    """Check the folder against the phase's interfaces; image interfaces are converted under work_dir (default:
    the system's temporary folder)."""
    if not root.is_dir():
        raise TestSetError(f"test set folder {root} does not exist (phase {phase.slug!r})")
    cases_csv = root / "cases.csv"
    if not cases_csv.is_file():
        raise TestSetError(f"{cases_csv}: missing; a test set needs a cases.csv with a case_id column")
    with cases_csv.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    if "case_id" not in columns:
        raise TestSetError(f"{cases_csv}: no case_id column (columns: {', '.join(columns) or 'none'})")
    problems: list[str] = []
    seen: set[str] = set()
    cases: list[TestSetCase] = []
    images = _Images(phase, work_dir)
    for line, row in enumerate(rows, start=2):
        case_id = (row.get("case_id") or "").strip()
        if not CASE_ID_PATTERN.match(case_id):
            problems.append(f"{cases_csv}:{line}: case_id {case_id!r} must be 1-128 letters, digits, '._-'")
            continue
        if case_id in seen:
            problems.append(f"{cases_csv}:{line}: case_id {case_id!r} appears twice")
            continue
        seen.add(case_id)
        meta = {k: (v or "").strip() for k, v in row.items() if k != "case_id" and k is not None}
        inputs: dict[str, Any] = {}
        for interface in phase.inputs:
            path = root / "inputs" / case_id / interface.relative_path
            if interface.kind == "image":
                name, problem = images.read(path, f"inputs/{case_id}/{interface.relative_path}", case_id,
                                            ground_truth=False)
                inputs[interface.slug] = f"{case_id}/{interface.relative_path}/{name}"
            else:
                value, problem = _read_interface(path, interface)
                inputs[interface.slug] = value if interface.kind == "json" else f"{case_id}/{interface.relative_path}"
            if problem:
                problems.append(problem)
        for interface in phase.ground_truth:
            path = root / "ground_truth" / case_id / interface.relative_path
            if interface.kind == "image":
                _, problem = images.read(path, f"ground_truth/{case_id}/{interface.relative_path}", case_id,
                                         ground_truth=True)
            else:
                _, problem = _read_interface(path, interface)
            if problem:
                problems.append(problem)
        cases.append(TestSetCase(case_id=case_id, meta=meta, inputs=inputs))
    if not rows:
        problems.append(f"{cases_csv}: no cases")
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise TestSetError(
            f"test set {root} (phase {phase.slug!r}) has {len(problems)} problem(s):\n  - "
            + "\n  - ".join(shown) + (f"\n  ... and {more} more" if more else "")
        )
    content = TestSetContent(root=root, cases=cases, metadata_columns=[c for c in columns if c != "case_id"],
                             sources=images.sources, work=images.work)
    content.files = _listed_files(content, phase)
    content.content_hash = _hash_files(content)
    return content


class _Images:
    """The test set's image interfaces: each folder checked, its image stored under <case_id>.mha (or .tif)."""

    def __init__(self, phase: PhaseSpec, work_dir: Path | None) -> None:
        self.sources: dict[str, Path] = {}
        uses_images = any(i.kind == "image" for i in [*phase.inputs, *phase.ground_truth])
        if work_dir is not None:
            work_dir.mkdir(parents=True, exist_ok=True)
        self.work = tempfile.TemporaryDirectory(prefix="test-set-images-", dir=work_dir) if uses_images else None

    def read(self, folder: Path, relative: str, case_id: str, *, ground_truth: bool) -> tuple[str, str | None]:
        """The stored file's name, and what is wrong with the folder (or None)."""
        assert self.work is not None
        try:
            image = test_set_image(folder, case_id, ground_truth=ground_truth, work_dir=Path(self.work.name))
        except ImageFileError as exc:
            return "", exc.full
        self.sources[f"{relative}/{image.name}"] = image.source
        return image.name, None


def _listed_files(content: TestSetContent, phase: PhaseSpec) -> list[str]:
    files = ["cases.csv", *content.sources]
    for case in content.cases:
        files += [f"inputs/{case.case_id}/{i.relative_path}" for i in phase.inputs if i.kind != "image"]
        files += [f"ground_truth/{case.case_id}/{g.relative_path}" for g in phase.ground_truth if g.kind != "image"]
    return sorted(files)


def _hash_files(content: TestSetContent) -> str:
    digest = hashlib.sha256()
    for relative in content.files:
        digest.update(relative.encode() + b"\0")
        with content.path_of(relative).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _read_interface(path: Path, interface: Interface) -> tuple[Any, str | None]:
    if path.is_symlink() or not path.is_file():
        return None, f"{path}: missing (interface {interface.slug!r})"
    if interface.kind != "json":
        return None, None
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"{path}: not valid JSON ({exc})"
    problem = check_json_value(value, interface)
    return value, (f"{path}: {problem}" if problem else None)
