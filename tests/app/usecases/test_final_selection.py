"""Final submissions: the private leaderboard ranks the submissions chosen blind to private scores, never the
best private score of all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models import (
    Challenge,
    FinalRule,
    Phase,
    Score,
    ScoreSubset,
    Submission,
    TestSet,
    User,
)
from app.models._types import utcnow
from app.queries.leaderboard import build_leaderboard
from app.usecases.final_selection import select_final
from app.usecases.users import create_user
from tests.fixtures.scored import succeeded_run

# submission -> (public AUROC, private AUROC). The lucky one is worst in public and best in private.
SCORES = {"lucky": (0.70, 0.95), "best-public": (0.90, 0.80), "latest": (0.85, 0.85)}


def _phase(session: Session, *, split: bool = True, final_rule: str = FinalRule.BEST_PUBLIC) -> Phase:
    challenge = Challenge(slug="finals", title="Finals")
    phase = Phase(challenge=challenge, slug="test", title="Test", ranking_metric="auroc",
                  metrics=[{"name": "auroc", "prediction": "p", "target": "t"}],
                  split_column="split" if split else None, final_submissions=1, final_rule=final_rule,
                  closes_at=utcnow() + timedelta(days=1))
    session.add_all([challenge, phase])
    session.flush()
    test_set = TestSet(phase_id=phase.id, version=1, content_hash="0" * 64, storage_prefix="x")
    session.add(test_set)
    session.flush()
    phase.current_test_set_id = test_set.id
    session.flush()
    return phase


def _scored(session: Session, phase: Phase, user: User, public: float, private: float) -> Submission:
    submission, run = succeeded_run(session, phase, user)
    for subset, value in ((ScoreSubset.PUBLIC, public), (ScoreSubset.PRIVATE, private)):
        session.add(Score(run_id=run.id, metric="auroc", subset=subset.value, value=value))
    session.flush()
    return submission


@pytest.fixture
def contest(session: Session) -> tuple[Phase, User, dict[str, Submission], User]:
    phase = _phase(session)
    lab, _ = create_user(session, "lab")
    other, _ = create_user(session, "other-lab")
    mine = {name: _scored(session, phase, lab, *values) for name, values in SCORES.items()}
    _scored(session, phase, other, 0.60, 0.60)
    session.commit()
    return phase, lab, mine, other


def _close(session: Session, phase: Phase) -> None:
    session.execute(update(Phase).where(Phase.id == phase.id).values(closes_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    session.refresh(phase)


def _private_row(session: Session, phase: Phase, username: str) -> tuple[int, float | None]:
    board = build_leaderboard(session, phase)
    assert board.subset == ScoreSubset.PRIVATE
    row = next(r for r in board.rows if r.participant == username)
    return row.submission_id, row.scores["auroc"].value


def test_without_a_selection_the_best_public_submission_competes_not_the_best_private(session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, _, mine, _ = contest
    open_board = build_leaderboard(session, phase)
    assert open_board.subset == ScoreSubset.PUBLIC
    _close(session, phase)
    assert _private_row(session, phase, "lab") == (mine["best-public"].id, 0.80)  # not the lucky 0.95
    assert "otherwise their best on the public part" in build_leaderboard(session, phase).selection


def test_a_selected_final_submission_is_the_one_that_competes(session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, lab, mine, _ = contest
    select_final(session, mine["latest"].id, lab, final=True)
    _close(session, phase)
    assert _private_row(session, phase, "lab") == (mine["latest"].id, 0.85)


def test_the_latest_rule(session: Session) -> None:
    phase = _phase(session, final_rule=FinalRule.LATEST)
    lab, _ = create_user(session, "lab")
    made = [_scored(session, phase, lab, *values) for values in SCORES.values()]
    session.commit()
    _close(session, phase)
    assert _private_row(session, phase, "lab") == (made[-1].id, 0.85)


def test_selection_rules(session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, lab, mine, other = contest
    chosen = select_final(session, mine["lucky"].id, lab, final=True)
    assert chosen.selected_final
    with pytest.raises(Conflict, match="already selected 1"):  # this phase allows one
        select_final(session, mine["latest"].id, lab, final=True)
    assert not select_final(session, mine["lucky"].id, lab, final=False).selected_final
    with pytest.raises(NotFound):
        select_final(session, mine["lucky"].id, other, final=True)
    _close(session, phase)
    with pytest.raises(Forbidden, match="closed"):
        select_final(session, mine["latest"].id, lab, final=True)


def test_a_phase_without_a_private_part_has_nothing_to_select(session: Session) -> None:
    phase = _phase(session, split=False)
    lab, _ = create_user(session, "lab")
    made = _scored(session, phase, lab, 0.7, 0.7)
    session.commit()
    with pytest.raises(Conflict, match="no private part"):
        select_final(session, made.id, lab, final=True)


def test_select_and_unselect_through_the_api(client: FlaskClient, session, contest) -> None:  # type: ignore[no-untyped-def]
    _, lab, mine, _ = contest
    from app.usecases.users import issue_token

    token = issue_token(session, lab.username)
    session.commit()
    url = f"/api/v1/submissions/{mine['latest'].id}/final"
    selected = client.post(url, headers={"Authorization": f"Bearer {token}"})
    assert selected.status_code == 200 and selected.get_json()["selected_final"] is True
    again = client.post(f"/api/v1/submissions/{mine['lucky'].id}/final", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 409 and "unselect one first" in again.get_json()["error"]
    unselected = client.delete(url, headers={"Authorization": f"Bearer {token}"})
    assert unselected.status_code == 200 and unselected.get_json()["selected_final"] is False
