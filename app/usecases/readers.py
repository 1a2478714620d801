"""Human readers' scores for a phase's cases, uploaded by an organiser; they become baseline rows."""

from __future__ import annotations

import csv
import io

from sqlalchemy.orm import Session

from app.errors import ServiceError
from app.models import Phase
from app.storage import ArtifactStore, keys

MAX_READER_FILE_BYTES = 50 * 1024 * 1024


def reader_file_problems(text: str, known_case_ids: set[str]) -> list[str]:
    """What is wrong with a readers CSV (columns case_id, reader, score); empty when it is fine."""
    try:
        return _problems(csv.DictReader(io.StringIO(text)), known_case_ids)
    except csv.Error as exc:  # e.g. a field over the csv module's size limit (131072 characters), a NUL byte
        return [f"not a readable CSV file ({exc})"]


def _problems(reader: csv.DictReader[str], known_case_ids: set[str]) -> list[str]:
    missing = {"case_id", "reader", "score"} - set(reader.fieldnames or [])
    if missing:
        return [f"missing column(s) {', '.join(sorted(missing))}; the columns are case_id, reader, score"]
    problems: list[str] = []
    rows = 0
    for line, row in enumerate(reader, start=2):
        rows += 1
        if row["case_id"] not in known_case_ids:
            problems.append(f"line {line}: unknown case_id {row['case_id']!r}")
        elif not row["reader"]:
            problems.append(f"line {line}: no reader")
        else:
            try:
                float(row["score"])
            except ValueError:
                problems.append(f"line {line}: score {row['score']!r} is not a number")
    if rows == 0:
        problems.append("no rows (columns: case_id, reader, score)")
    return problems


def set_readers(session: Session, store: ArtifactStore, phase: Phase, text: str, positive_at: float) -> int:
    """Validate and store a phase's reader calls; returns the number of readers."""
    if phase.current_test_set is None:
        raise ServiceError(f"phase {phase.slug!r} has no test set yet")
    problems = reader_file_problems(text, {c.case_key for c in phase.current_test_set.cases})
    if problems:
        raise ServiceError("the readers file was not accepted: " + "; ".join(problems[:10]))
    key = keys.readers_file(phase.challenge.slug, phase.slug)
    store.put_bytes(key, text.encode())
    phase.analysis = {**(phase.analysis or {}), "readers_key": key,
                      "readers": {"file": "uploaded", "positive_at": positive_at}}
    session.flush()
    return len({row["reader"] for row in csv.DictReader(io.StringIO(text))})
