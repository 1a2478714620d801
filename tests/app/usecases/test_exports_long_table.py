"""The organisers' per-case long table (cases.csv, and the phase's export.zip): its exact bytes are pinned, and it
is read in a fixed number of queries however many submissions and cases the phase has."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.config import Settings
from app.db_migrations import upgrade
from app.models import (
    Case,
    CaseOutcome,
    Challenge,
    EvaluationRun,
    Phase,
    Submission,
    SubmissionState,
    TestSet,
    User,
)
from app.resources import Resources
from app.usecases.exports import export_zip, long_table_csv
from app.usecases.users import create_user
from tests.conftest import podium_environment

# The output of long_table_csv before it was rewritten to read columns instead of ORM objects (issue 10): the
# same bytes, row order, quoting, metadata columns and value formatting.
EXPECTED = (
    "submission_id,participant,case_id,site,split,status,message,metric,value\r\n"
    "{s1},lab,c-001,A,public,valid,,output:p,0.25\r\n"
    "{s1},lab,c-001,A,public,valid,,output:label,yes\r\n"
    "{s1},lab,c-001,A,public,valid,,auroc_contribution,\r\n"
    "{s1},lab,c-001,A,public,valid,,brier,0.5625\r\n"
    "{s1},lab,c-001,A,public,valid,,count,3\r\n"
    "{s1},lab,c-002,B,private,invalid,\"value 'x, y' is not a number\nsee \"\"docs\"\"\",,\r\n"
    "{s1},lab,c-003,,private,missing,no output,output:p,\r\n"
    "{s2},other-lab,c-001,A,public,valid,,output:p,1\r\n"
    "{s2},other-lab,c-001,A,public,valid,,brier,0.0\r\n"
    "{s2},other-lab,c-002,B,private,valid,,output:p,0.125\r\n"
    "{s2},other-lab,c-002,B,private,valid,,brier,0.015625\r\n"
)


def _phase_with_two_submissions(session: Session) -> tuple[Phase, int, int]:
    challenge = Challenge(slug="finals", title="Finals")
    phase = Phase(challenge=challenge, slug="test", title="Test", ranking_metric="auroc",
                  metrics=[{"name": "auroc", "prediction": "p", "target": "t"}], split_column="split")
    session.add_all([challenge, phase])
    session.flush()
    old = TestSet(phase_id=phase.id, version=1, content_hash="1" * 64, storage_prefix="old",
                  metadata_columns=["site", "split"])
    current = TestSet(phase_id=phase.id, version=2, content_hash="2" * 64, storage_prefix="new",
                      metadata_columns=["site", "split"])
    session.add_all([old, current])
    session.flush()
    phase.current_test_set_id = current.id
    # Inserted out of key order: rows follow the case's id, as before.
    cases = {key: Case(test_set_id=current.id, case_key=key, meta=meta, inputs={"x": f"{key}.json"})
             for key, meta in (("c-001", {"site": "A", "split": "public"}),
                               ("c-002", {"split": "private", "site": "B"}),
                               ("c-003", {"split": "private"}))}
    old_case = Case(test_set_id=old.id, case_key="c-old", meta={"site": "Z", "split": "public"}, inputs={})
    session.add_all([*cases.values(), old_case])
    session.flush()
    lab, _ = create_user(session, "lab")
    other, _ = create_user(session, "other-lab")

    def submission(user: User, state: str = SubmissionState.SUCCEEDED) -> Submission:
        made = Submission(phase_id=phase.id, user_id=user.id, state=state, upload_key="k")
        session.add(made)
        session.flush()
        return made

    def run(made: Submission, test_set: TestSet, *outcomes: tuple[str, str, str, dict[str, Any],
                                                                   dict[str, Any]]) -> None:
        evaluation = EvaluationRun(submission_id=made.id, test_set_id=test_set.id)
        session.add(evaluation)
        session.flush()
        for key, status, message, prediction, values in outcomes:
            case = old_case if key == "c-old" else cases[key]
            session.add(CaseOutcome(run_id=evaluation.id, case_id=case.id, status=status, message=message,
                                    prediction=prediction, values=values))
        session.flush()

    first, second = submission(lab), submission(other)
    run(first, old, ("c-old", "valid", "", {"p": 0.9}, {"brier": 0.01}))  # an older test set: left out
    run(first, current,
        ("c-003", "missing", "no output", {"p": None}, {}),
        ("c-001", "valid", "", {"p": 0.25, "label": "yes"}, {"brier": 0.5625, "auroc_contribution": None, "count": 3}),
        ("c-002", "invalid", "value 'x, y' is not a number\nsee \"docs\"", {}, {}))
    run(second, current,
        ("c-002", "valid", "", {"p": 0.125}, {"brier": 0.015625}),
        ("c-001", "valid", "", {"p": 1}, {"brier": 0.0}))
    failed = submission(lab, SubmissionState.FAILED)  # not succeeded: left out
    run(failed, current, ("c-001", "valid", "", {"p": 0.5}, {"brier": 0.25}))
    session.commit()
    return phase, first.id, second.id


def _expected(first: int, second: int) -> str:
    return EXPECTED.format(s1=first, s2=second)


def test_the_long_table_is_byte_for_byte_the_pinned_one(session: Session, resources: Resources) -> None:
    phase, first, second = _phase_with_two_submissions(session)
    assert long_table_csv(session, phase) == _expected(first, second)
    with zipfile.ZipFile(io.BytesIO(export_zip(session, resources.store, phase))) as archive:
        assert archive.read("cases.csv").decode() == _expected(first, second)


def test_the_long_table_of_a_phase_without_a_test_set_is_its_header(session: Session) -> None:
    challenge = Challenge(slug="empty", title="Empty")
    phase = Phase(challenge=challenge, slug="test", title="Test", ranking_metric="auroc")
    session.add_all([challenge, phase])
    session.commit()
    assert long_table_csv(session, phase) == "submission_id,participant,case_id,status,message,metric,value\r\n"


@pytest.fixture
def postgres_session(tmp_path: Path, postgres_url: str) -> Iterator[Session]:
    settings = Settings.from_env(podium_environment(tmp_path, DATABASE_URL=postgres_url))
    upgrade(settings.database_url)
    resources = Resources(settings)
    try:
        with resources.session() as session:
            yield session
    finally:
        resources.close()


def test_the_long_table_is_the_same_on_postgresql(postgres_session: Session) -> None:
    phase, first, second = _phase_with_two_submissions(postgres_session)
    assert long_table_csv(postgres_session, phase) == _expected(first, second)


def test_the_long_table_reads_in_a_fixed_number_of_queries(session: Session) -> None:
    phase, _, _ = _phase_with_two_submissions(session)
    phase_id = phase.id
    session.expire_all()  # nothing cached: every row the table needs comes from the queries counted here
    phase = session.scalars(select(Phase).where(Phase.id == phase_id)).one()
    statements: list[str] = []
    engine = session.get_bind()
    assert isinstance(engine, Engine)

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        text = long_table_csv(session, phase)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert text.count("\r\n") == 12
    # the phase's current test set, then its cases and the outcomes: never one query per case or per row
    assert len(statements) <= 3, statements
