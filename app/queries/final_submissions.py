"""Final submissions: which of a participant's submissions enter a private leaderboard.

Choosing each participant's best *private* score after the fact is the overfitting a public/private split
exists to prevent. As on Kaggle and EvalAI, participants select up to `phase.final_submissions` of their
submissions while the phase runs, seeing only public scores; the private leaderboard ranks only those. A
participant who selected none gets the phase's `final_rule`: their best on the public part, or their latest.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EvaluationRun, FinalRule, Phase, Score, ScoreSubset, Submission, SubmissionState


def final_rule_text(phase: Phase) -> str:
    pick = ("their best on the public part" if phase.final_rule == FinalRule.BEST_PUBLIC
            else "their latest")
    return (f"each participant's (or team's) final submissions: up to {phase.final_submissions} they selected, "
            f"otherwise {pick} ({phase.final_submissions}); ranked by the best of those")


def final_submission_ids(session: Session, phase: Phase) -> set[int]:
    """The submissions that enter the phase's private leaderboard, for every entrant (participant or team)."""
    succeeded = session.execute(
        select(Submission.id, Submission.user_id, Submission.team_id, Submission.selected_final, Submission.created_at)
        .join(EvaluationRun, (EvaluationRun.submission_id == Submission.id)
              & (EvaluationRun.test_set_id == phase.current_test_set_id))
        .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED,
               Submission.hidden_at.is_(None))
    ).all()
    public = _public_ranking_values(session, phase, [row.id for row in succeeded])
    by_entrant: dict[tuple[str, int], list[tuple[int, bool, object]]] = defaultdict(list)
    for row in succeeded:
        entrant = ("team", row.team_id) if row.team_id is not None else ("user", row.user_id)
        by_entrant[entrant].append((row.id, row.selected_final, row.created_at))
    limit = max(1, phase.final_submissions)
    descending = phase.ranking_order == "descending"
    chosen: set[int] = set()
    for submissions in by_entrant.values():
        selected = [sid for sid, is_final, _ in submissions if is_final]
        if selected:
            chosen.update(sorted(selected)[-limit:])  # the latest selections, if the phase's number fell since
        elif phase.final_rule == FinalRule.LATEST:
            chosen.update(sid for sid, _, _ in sorted(submissions, key=lambda s: s[0])[-limit:])
        else:
            def public_key(entry: tuple[int, bool, object]) -> tuple[float, int]:
                value = public.get(entry[0])
                if value is None:
                    return (float("inf"), entry[0])
                return (-value if descending else value, entry[0])
            chosen.update(sid for sid, _, _ in sorted(submissions, key=public_key)[:limit])
    return chosen


def _public_ranking_values(session: Session, phase: Phase, submission_ids: list[int]) -> dict[int, float]:
    if not submission_ids:
        return {}
    rows = session.execute(
        select(EvaluationRun.submission_id, Score.value)
        .join(Score, Score.run_id == EvaluationRun.id)
        .where(EvaluationRun.submission_id.in_(submission_ids),
               EvaluationRun.test_set_id == phase.current_test_set_id,
               Score.metric == phase.ranking_metric, Score.subset == ScoreSubset.PUBLIC)
    ).all()
    return {sid: value for sid, value in rows if value is not None}
