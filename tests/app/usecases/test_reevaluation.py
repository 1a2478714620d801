"""Test-set versions and re-evaluations without a worker: the rows' transitions (budget, claim, lease, faults), which
version a phase ranks on, and what the use case refuses. The whole path with a worker: tests/integration/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import transitions
from app.errors import Conflict, Forbidden, InvalidFields, NotFound
from app.models import (
    ChallengeOrganiser,
    Phase,
    Reevaluation,
    ReevaluationRun,
    ReevaluationRunState,
    Score,
    TestSet,
    User,
)
from app.models._types import utcnow
from app.pipeline.reevaluation import reclaim_expired
from app.usecases.reevaluation import adopt_new_version, start_reevaluation, switch_version
from app.usecases.users import create_user
from tests.fixtures.scored import succeeded_run
from tests.integration.helpers import apply_example

R = ReevaluationRunState


def _phase(session: Session) -> Phase:
    return session.scalars(select(Phase)).one()


def _new_version(session: Session, phase: Phase) -> TestSet:
    test_set = TestSet(phase_id=phase.id, version=2, content_hash="f" * 64, storage_prefix="x/v2", case_count=1)
    session.add(test_set)
    session.flush()
    return test_set


def _scored(session: Session, phase: Phase, user: User) -> int:
    submission, run = succeeded_run(session, phase, user)
    session.add(Score(run_id=run.id, metric="auroc", value=0.9))
    session.flush()
    return submission.id


@pytest.fixture
def example(resources):  # type: ignore[no-untyped-def]
    apply_example(resources)
    with resources.session() as session:
        organiser, _ = create_user(session, "organiser")
        phase = _phase(session)
        session.add(ChallengeOrganiser(challenge_id=phase.challenge_id, user_id=organiser.id))
        create_user(session, "stranger")
        participant, _ = create_user(session, "participant")
        ids = [_scored(session, phase, participant) for _ in range(3)]
    return ids


def _user(session: Session, name: str) -> User:
    return session.scalars(select(User).where(User.username == name)).one()


def test_a_new_version_is_kept_beside_a_scored_one_and_switched_by_organisers(resources, example) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        phase = _phase(session)
        first = phase.current_test_set_id
        v2 = _new_version(session, phase)
        assert not adopt_new_version(session, phase, v2)  # v1 has scores: the leaderboard stays on it
        assert phase.current_test_set_id == first
        with pytest.raises(Forbidden):
            switch_version(session, phase, 2, _user(session, "stranger"))
        with pytest.raises(NotFound, match="versions: v1, v2"):
            switch_version(session, phase, 7, _user(session, "organiser"))
        assert switch_version(session, phase, 2, _user(session, "organiser")).id == v2.id
    with resources.session() as session:
        assert _phase(session).current_test_set.version == 2


def test_a_new_version_becomes_current_while_nothing_is_scored(resources) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    with resources.session() as session:
        phase = _phase(session)
        v2 = _new_version(session, phase)
        assert adopt_new_version(session, phase, v2) and phase.current_test_set_id == v2.id


def test_the_use_case_refuses_what_it_cannot_do(resources, example) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        phase = _phase(session)
        _new_version(session, phase)
        organiser = _user(session, "organiser")
        queued: list[int] = []

        def start(actor: User | None = organiser, **kwargs):  # type: ignore[no-untyped-def]
            arguments = {"version": 2, "budget": 2, "selection": "selected", "submission_ids": example} | kwargs
            return start_reevaluation(session, queued.append, phase, actor, **arguments)

        with pytest.raises(Forbidden):
            start(_user(session, "stranger"))
        with pytest.raises(NotFound):
            start(version=9)
        with pytest.raises(InvalidFields, match="budget"):
            start(budget=0)
        with pytest.raises(InvalidFields, match="nothing is selected"):
            start(submission_ids=[])
        with pytest.raises(InvalidFields, match="not succeeded"):
            start(submission_ids=[example[0], 999])
        with pytest.raises(InvalidFields, match="choose 'final'"):
            start(selection="everything")
        with pytest.raises(Conflict, match="scored on v1 already"):
            start(version=1)
        assert session.scalar(select(Reevaluation.id)) is None and queued == []

        started = start(selection="final")  # each participant's final submissions: two of the three (the phase's 2)
        assert (started.version, started.submissions, started.jobs_queued) == (2, 2, 2)
        assert len(queued) == 2
        rows = session.scalars(select(ReevaluationRun)).all()
        assert {row.submission_id for row in rows} <= set(example)
        assert all(row.state == R.PENDING and row.queued_at is not None for row in rows)


def test_turns_claims_and_faults_keep_to_the_budget(resources, example) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        phase = _phase(session)
        v2 = _new_version(session, phase)
        reevaluation = Reevaluation(phase_id=phase.id, test_set_id=v2.id, budget=2, selection="selected")
        reevaluation.runs = [ReevaluationRun(submission_id=sid) for sid in example]
        session.add(reevaluation)
        session.flush()
        rid = reevaluation.id
        first, second, third = (row.id for row in reevaluation.runs)

        assert transitions.take_reevaluation_turns(session, rid, 2) == [first, second]
        assert transitions.take_reevaluation_turns(session, rid, 2) == []  # queued rows count against the budget
        for row_id in (first, second):
            assert transitions.claim_reevaluation_run(session, row_id, owner=f"w{row_id}", lease_seconds=30, budget=2)
        assert not transitions.claim_reevaluation_run(session, first, owner="again", lease_seconds=30, budget=2)
        # A third job (two reconcilers at once): its claim is refused while two run.
        session.execute(ReevaluationRun.__table__.update().where(ReevaluationRun.id == third)
                        .values(queued_at=utcnow()))
        assert not transitions.claim_reevaluation_run(session, third, owner="w3", lease_seconds=30, budget=2)
        assert not transitions.finish_reevaluation_run(session, first, owner="intruder", done=True)
        assert transitions.finish_reevaluation_run(session, first, owner=f"w{first}", done=True)
        assert transitions.claim_reevaluation_run(session, third, owner="w3", lease_seconds=30, budget=2)

        # The platform's faults: back to pending (not queued) until the budget of faults is spent.
        assert transitions.release_reevaluation_run(session, second, owner=f"w{second}", max_faults=2, message="x")
        row = session.get(ReevaluationRun, second)
        session.refresh(row)
        assert row is not None and (row.state, row.queued_at, row.infrastructure_faults) == (R.PENDING, None, 1)
        assert transitions.take_reevaluation_turns(session, rid, 2) == [second]
        assert transitions.claim_reevaluation_run(session, second, owner="w2b", lease_seconds=30, budget=2)
        session.execute(ReevaluationRun.__table__.update().where(ReevaluationRun.id == second)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))  # its worker died
    assert reclaim_expired(resources) == [second]
    with resources.session() as session:
        row = session.get(ReevaluationRun, second)
        assert row is not None and (row.state, row.infrastructure_faults, row.claimed_by) == (R.PENDING, 2, None)
        assert resources.settings.max_infrastructure_faults > 2
        assert session.get(ReevaluationRun, third).state == R.RUNNING  # type: ignore[union-attr]


def test_the_reconciler_gives_back_lost_turns_and_tops_up(resources, example) -> None:  # type: ignore[no-untyped-def]
    from app.pipeline.reevaluation import reconcile_reevaluations

    with resources.session() as session:
        phase = _phase(session)
        v2 = _new_version(session, phase)
        reevaluation = Reevaluation(phase_id=phase.id, test_set_id=v2.id, budget=2, selection="selected")
        reevaluation.runs = [ReevaluationRun(submission_id=sid) for sid in example]
        session.add(reevaluation)
        session.flush()
        first, second, third = (row.id for row in reevaluation.runs)
        assert transitions.take_reevaluation_turns(session, reevaluation.id, 2) == [first, second]
        assert transitions.claim_reevaluation_run(session, first, owner="dead", lease_seconds=30, budget=2)
        session.execute(ReevaluationRun.__table__.update().where(ReevaluationRun.id == first)
                        .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    queued: list[int] = []
    # The first's worker died; the second's job was lost with Redis: both get their turn again, within the budget.
    assert reconcile_reevaluations(resources, enqueue=queued.append, job_pending=lambda row_id: False) == queued
    assert queued == [first, second]
    with resources.session() as session:
        states = {row.id: (row.state, row.queued_at is not None) for row in session.scalars(select(ReevaluationRun))}
    assert states == {first: (R.PENDING, True), second: (R.PENDING, True), third: (R.PENDING, False)}
    # Jobs that still wait keep their turn: nothing more is queued.
    assert reconcile_reevaluations(resources, enqueue=queued.append, job_pending=lambda row_id: True) == []


def test_a_row_s_job_is_pending_while_queued_and_lost_once_gone(settings) -> None:  # type: ignore[no-untyped-def]
    from app.tasks.queues import (
        make_reevaluation_enqueuer,
        redis_connection,
        reevaluation_job_key,
        reevaluation_job_pending,
        submission_queue,
    )

    assert not reevaluation_job_pending(settings, 41)  # never queued
    make_reevaluation_enqueuer(settings, lambda row_id: False)(41)
    assert reevaluation_job_pending(settings, 41)
    submission_queue(settings, False).empty()  # Redis lost it
    assert not reevaluation_job_pending(settings, 41)
    redis_connection(settings).delete(reevaluation_job_key(settings, 41))
