"""The leaderboard cache (app/queries/leaderboard_cache.py): a board is built once per state of its phase's results,
and every change a reader must see (a new score, a hidden submission, a phase setting) makes a new one."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.models import Case, CaseOutcome, EvaluationRun, Phase, Score, Submission, User
from app.queries.leaderboard import Leaderboard, leaderboard_for
from app.queries.leaderboard_cache import forget_all
from app.usecases.membership import add_organiser
from app.usecases.moderation import set_hidden
from app.usecases.users import create_user
from tests.app.usecases.test_final_selection import _phase
from tests.fixtures.scored import succeeded_run


def _scored(session: Session, phase: Phase, user: User, auroc: float) -> Submission:
    submission, run = succeeded_run(session, phase, user)
    session.add(Score(run_id=run.id, metric="auroc", subset="all", value=auroc))
    session.flush()
    return submission


def _order(board: Leaderboard) -> list[tuple[str, float | None]]:
    return [(row.participant, row.scores["auroc"].value) for row in board.rows]


@pytest.fixture
def phase(session: Session) -> Phase:
    forget_all()
    found = _phase(session, split=False)
    for name in ("lab", "other", "lead"):
        create_user(session, name)
    add_organiser(session, found.challenge, "lead")
    _scored(session, found, session.query(User).filter_by(username="lab").one(), 0.70)
    _scored(session, found, session.query(User).filter_by(username="other").one(), 0.90)
    session.commit()
    return found


def test_an_unchanged_phase_is_read_from_the_cache(session: Session, phase: Phase) -> None:
    first = leaderboard_for(session, phase, None)
    second = leaderboard_for(session, phase, None)
    assert second.rows is first.rows  # the same built rows, no second build
    assert _order(second) == [("other", 0.90), ("lab", 0.70)]


def test_a_new_score_is_on_the_board_at_once(session: Session, phase: Phase) -> None:
    before = leaderboard_for(session, phase, None)
    newcomer, _ = create_user(session, "newcomer")
    _scored(session, phase, newcomer, 0.95)
    session.commit()
    after = leaderboard_for(session, phase, None)
    assert after.rows is not before.rows
    assert _order(after) == [("newcomer", 0.95), ("other", 0.90), ("lab", 0.70)]
    # a better submission of someone already on the board replaces their row
    _scored(session, phase, session.query(User).filter_by(username="lab").one(), 0.99)
    session.commit()
    assert _order(leaderboard_for(session, phase, None)) == [("lab", 0.99), ("newcomer", 0.95), ("other", 0.90)]


def test_a_hidden_submission_leaves_the_board_and_comes_back(session: Session, phase: Phase) -> None:
    leaderboard_for(session, phase, None)
    lead = session.query(User).filter_by(username="lead").one()
    best = session.query(Submission).join(User, User.id == Submission.user_id).filter(User.username == "other").one()
    set_hidden(session, best.id, lead, hidden=True, reason="a copy of someone else's work")
    session.commit()
    assert _order(leaderboard_for(session, phase, None)) == [("lab", 0.70)]
    set_hidden(session, best.id, lead, hidden=False)
    session.commit()
    assert _order(leaderboard_for(session, phase, None)) == [("other", 0.90), ("lab", 0.70)]


def test_a_phase_setting_change_rebuilds_the_board(session: Session, phase: Phase) -> None:
    assert _order(leaderboard_for(session, phase, None)) == [("other", 0.90), ("lab", 0.70)]
    phase.ranking_order = "ascending"  # what the phase's edit page changes (app/usecases/challenge_edit.py)
    session.commit()
    assert _order(leaderboard_for(session, phase, None)) == [("lab", 0.70), ("other", 0.90)]
    phase.results_published = False  # participants no longer read rows; organisers still do
    session.commit()
    assert leaderboard_for(session, phase, None).rows == []
    lead = session.query(User).filter_by(username="lead").one()
    organisers = leaderboard_for(session, phase, lead)
    assert _order(organisers) == [("lab", 0.70), ("other", 0.90)] and organisers.published is False


def test_per_case_times_are_read_for_the_runs_that_have_them(session: Session, phase: Phase) -> None:
    """A batch run's outcomes carry no times and are not read (a big board's build, bench/bench_leaderboard.py); a
    per-case run's are, whatever the other rows."""
    cases = [Case(test_set_id=phase.current_test_set_id, case_key=f"c{n}") for n in range(3)]
    session.add_all(cases)
    session.flush()
    runs = {run.submission.user.username: run for run in session.query(EvaluationRun)}
    for case, wall in zip(cases, (1.0, 2.0, 4.0), strict=True):
        session.add(CaseOutcome(run_id=runs["other"].id, case_id=case.id, status="valid", wall_seconds=wall,
                                cpu_seconds=wall, peak_memory_mb=10.0))
        session.add(CaseOutcome(run_id=runs["lab"].id, case_id=case.id, status="valid"))
    session.commit()
    rows = {row.participant: row for row in leaderboard_for(session, phase, None).rows}
    assert rows["other"].seconds_per_case_median == 2.0 and rows["other"].seconds_per_case_p95 is not None
    assert rows["lab"].seconds_per_case_median is None and rows["lab"].seconds_per_case_p95 is None
