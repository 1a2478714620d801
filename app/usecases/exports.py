"""Organiser exports: the per-case long table (submission x case x metric) and a zip of everything."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Case, CaseOutcome, EvaluationRun, Phase, Submission, SubmissionState, TestSet, User
from app.queries.analyses import latest_analysis
from app.queries.leaderboard import build_leaderboard
from app.storage import ArtifactStore


def long_table_csv(session: Session, phase: Phase) -> str:
    """One row per submission x case x value: each output the case produced, each per-case metric.

    Reads columns, not ORM objects, in three queries (the test set's metadata columns, its cases, the outcomes of
    the phase's succeeded submissions joined to their submission and participant); each JSON value is decoded
    once (a case's metadata once per case, not once per row).
    """
    test_set_id = phase.current_test_set_id
    columns = [] if test_set_id is None else list(
        session.scalar(select(TestSet.metadata_columns).where(TestSet.id == test_set_id)) or [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["submission_id", "participant", "case_id", *columns, "status", "message", "metric", "value"])
    if test_set_id is None:
        return buffer.getvalue()
    case_cells = {case_id: [case_key, *(meta.get(c, "") for c in columns)]
                  for case_id, case_key, meta in session.execute(
                      select(Case.id, Case.case_key, Case.meta).where(Case.test_set_id == test_set_id))}
    rows = session.execute(
        select(Submission.id, User.username, CaseOutcome.case_id, CaseOutcome.status, CaseOutcome.message,
               CaseOutcome.prediction, CaseOutcome.values)
        .join(User, User.id == Submission.user_id)
        .join(EvaluationRun, (EvaluationRun.submission_id == Submission.id)
              & (EvaluationRun.test_set_id == test_set_id))
        .join(CaseOutcome, CaseOutcome.run_id == EvaluationRun.id)
        .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED)
        .order_by(Submission.id, CaseOutcome.case_id, CaseOutcome.id)
    )
    writerows = writer.writerows
    for submission_id, username, case_id, status, message, prediction, values in rows:
        prefix = [submission_id, username, *case_cells[case_id], status, message]
        named = [(f"output:{slug}", value) for slug, value in prediction.items()]
        named += sorted(values.items())
        writerows([*prefix, name, "" if value is None else value] for name, value in named or [("", "")])
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
