"""Every submission of a phase, for its organisers: who (and for which team), when, its state, the ranking score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EvaluationRun, Phase, Score, ScoreSubset, Submission, SubmissionState, Team, User


@dataclass(frozen=True)
class SubmissionLine:
    id: int
    username: str
    team: str | None
    state: SubmissionState
    created_at: datetime
    comment: str
    failure_is_infrastructure: bool
    selected_final: bool
    score: float | None  # the ranking metric on all cases of the current test set
    hidden_reason: str | None  # None: shown on the leaderboard


def phase_submissions(session: Session, phase: Phase, *, limit: int = 500) -> list[SubmissionLine]:
    """The phase's newest `limit` submissions, newest first (organisers only: the caller checks)."""
    score = (select(Score.value)
             .join(EvaluationRun, EvaluationRun.id == Score.run_id)
             .where(EvaluationRun.submission_id == Submission.id,
                    EvaluationRun.test_set_id == phase.current_test_set_id,
                    Score.metric == phase.ranking_metric, Score.subset == ScoreSubset.ALL)
             .order_by(EvaluationRun.id.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(Submission, User.username, Team.name, score)
        .join(User, User.id == Submission.user_id)
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id)
        .order_by(Submission.id.desc()).limit(limit)).all()
    return [SubmissionLine(s.id, username, team, s.state, s.created_at, s.comment, s.failure_is_infrastructure,
                           s.selected_final, value, s.hidden_reason if s.hidden_at else None)
            for s, username, team, value in rows]
