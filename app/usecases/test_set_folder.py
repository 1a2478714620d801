"""Read and validate a test set folder before anything is stored.

Layout (relative to the folder):
    cases.csv                                   case_id plus optional metadata columns (site, scanner, ...)
    inputs/<case_id>/<input relative_path>      what the algorithm sees
    ground_truth/<case_id>/<gt relative_path>   the hidden reference
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.challenge_yaml import Interface, PhaseSpec
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


def read_test_set(root: Path, phase: PhaseSpec) -> TestSetContent:
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
            value, problem = _read_interface(path, interface)
            if problem:
                problems.append(problem)
            inputs[interface.slug] = value if interface.kind == "json" else f"{case_id}/{interface.relative_path}"
        for interface in phase.ground_truth:
            _, problem = _read_interface(root / "ground_truth" / case_id / interface.relative_path, interface)
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
    content = TestSetContent(root=root, cases=cases, metadata_columns=[c for c in columns if c != "case_id"])
    content.files = _listed_files(root, content, phase)
    content.content_hash = _hash_files(root, content.files)
    return content


def _listed_files(root: Path, content: TestSetContent, phase: PhaseSpec) -> list[str]:
    files = ["cases.csv"]
    for case in content.cases:
        files += [f"inputs/{case.case_id}/{i.relative_path}" for i in phase.inputs]
        files += [f"ground_truth/{case.case_id}/{g.relative_path}" for g in phase.ground_truth]
    return sorted(files)


def _hash_files(root: Path, files: list[str]) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.encode() + b"\0")
        with (root / relative).open("rb") as handle:
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
