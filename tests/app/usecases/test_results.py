"""Publishing a phase's results, and the leaderboard's columns: what each viewer reads."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.cli.leaderboard_text import format_leaderboard
from app.errors import Forbidden, ServiceError
from app.models import Phase, Score, Submission, User
from app.queries.analyses import analysis_for
from app.queries.leaderboard import leaderboard_for, results_visible
from app.queries.submission_summary import submission_summary
from app.usecases.membership import add_organiser
from app.usecases.results import set_results_published
from app.usecases.users import create_user
from tests.app.usecases.test_final_selection import _phase
from tests.fixtures.scored import succeeded_run

METRICS = [{"name": "auroc", "prediction": "p", "target": "t"},
           {"name": "average_precision", "prediction": "p", "target": "t"}]


def _two_metrics(session: Session) -> Phase:
    phase = _phase(session, split=False)
    phase.metrics = METRICS
    session.flush()
    return phase


def _scored(session: Session, phase: Phase, user: User, auroc: float, ap: float) -> Submission:
    submission, run = succeeded_run(session, phase, user)
    session.add_all([Score(run_id=run.id, metric="auroc", subset="all", value=auroc),
                     Score(run_id=run.id, metric="average_precision", subset="all", value=ap)])
    session.flush()
    return submission


@pytest.fixture
def contest(session: Session) -> tuple[Phase, dict[str, User], Submission]:
    phase = _two_metrics(session)
    people = {name: create_user(session, name)[0] for name in ("lab", "other", "lead", "stranger")}
    add_organiser(session, phase.challenge, "lead")
    mine = _scored(session, phase, people["lab"], 0.70, 0.95)
    _scored(session, phase, people["other"], 0.90, 0.60)
    session.commit()
    return phase, people, mine


def test_hidden_results_are_for_organisers_only(session: Session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, people, mine = contest
    with pytest.raises(Forbidden):
        set_results_published(session, phase, people["lab"], published=False)
    set_results_published(session, phase, people["lead"], published=False)
    session.commit()

    for viewer in (None, people["lab"], people["stranger"]):
        assert not results_visible(phase, viewer)
        board = leaderboard_for(session, phase, viewer)
        assert board.rows == [] and board.as_dict()["published"] is False
        assert analysis_for(session, phase, viewer) is None
    organisers_board = leaderboard_for(session, phase, people["lead"])
    assert [r.participant for r in organisers_board.rows] == ["other", "lab"]
    assert organisers_board.as_dict()["published"] is False  # they see the rows, and that others do not

    own = submission_summary(session, mine, people["lab"])
    assert own["state"] == "succeeded" and own["scores"] == {} and own["scores_withheld"]
    assert submission_summary(session, mine, people["lead"])["scores"]["auroc"]["value"] == 0.70
    text = format_leaderboard(leaderboard_for(session, phase, None).as_dict())
    assert "have not published" in text and "0.7000" not in text

    set_results_published(session, phase, people["lead"], published=True)
    session.commit()
    assert len(leaderboard_for(session, phase, None).rows) == 2
    assert submission_summary(session, mine, people["lab"])["scores"]["auroc"]["value"] == 0.70


def test_the_leaderboard_shows_only_its_columns_in_order(session: Session, contest) -> None:  # type: ignore[no-untyped-def]
    phase, _, _ = contest
    phase.leaderboard_columns = ["average_precision"]  # the ranking metric (auroc) is not a column
    session.commit()
    board = leaderboard_for(session, phase, None)
    assert [m["name"] for m in board.metrics] == ["average_precision"]
    assert [r.participant for r in board.rows] == ["other", "lab"]  # still ranked by auroc
    assert all(set(r.scores) == {"average_precision"} for r in board.rows)
    assert board.as_dict()["ranking_metric"] == "auroc"
    text = format_leaderboard(board.as_dict())
    assert "average_precision [95% CI]" in text and "auroc [95% CI]" not in text
    assert [r.participant for r in leaderboard_for(session, phase, None, "average_precision").rows] == ["lab",
                                                                                                       "other"]

    phase.leaderboard_columns = ["average_precision", "auroc"]
    session.commit()
    assert [m["name"] for m in leaderboard_for(session, phase, None).metrics] == ["average_precision", "auroc"]
    phase.leaderboard_columns = ["auroc"]
    session.commit()
    with pytest.raises(ServiceError, match="sorts by auroc"):  # a metric that is not a column
        leaderboard_for(session, phase, None, "average_precision")
