"""Organiser exports: the per-case long table (submission x case x metric) and a zip of everything."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CaseOutcome, EvaluationRun, Phase, Submission, SubmissionState, User
from app.queries.analyses import latest_analysis
from app.queries.leaderboard import build_leaderboard
from app.storage import ArtifactStore


def long_table_csv(session: Session, phase: Phase) -> str:
    """One row per submission x case x value: each output the case produced, each per-case metric."""
    test_set = phase.current_test_set
    columns = list(test_set.metadata_columns) if test_set else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["submission_id", "participant", "case_id", *columns, "status", "message", "metric", "value"])
    if test_set is None:
        return buffer.getvalue()
    cases = {c.id: c for c in test_set.cases}
    rows = session.execute(
        select(Submission.id, User.username, CaseOutcome)
        .join(User, User.id == Submission.user_id)
        .join(EvaluationRun, (EvaluationRun.submission_id == Submission.id)
              & (EvaluationRun.test_set_id == test_set.id))
        .join(CaseOutcome, CaseOutcome.run_id == EvaluationRun.id)
        .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED)
        .order_by(Submission.id, CaseOutcome.case_id)
    ).all()
    for submission_id, username, outcome in rows:
        case = cases[outcome.case_id]
        prefix = [submission_id, username, case.case_key, *(case.meta.get(c, "") for c in columns),
                  outcome.status, outcome.message]
        values = [(f"output:{slug}", value) for slug, value in outcome.prediction.items()]
        values += sorted(outcome.values.items())
        for name, value in values or [("", "")]:
            writer.writerow([*prefix, name, "" if value is None else value])
    return buffer.getvalue()


def export_zip(session: Session, store: ArtifactStore, phase: Phase) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cases.csv", long_table_csv(session, phase))
        archive.writestr("leaderboard.json", json.dumps(build_leaderboard(session, phase).as_dict(), indent=1))
        analysis = latest_analysis(session, phase)
        if analysis is not None:
            archive.writestr("analysis.json", json.dumps(analysis.document, indent=1))
            for name, key in sorted(analysis.figures.items()):
                archive.writestr(f"figures/{name}", store.get_bytes(key))
    return buffer.getvalue()
