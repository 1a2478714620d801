"""A phase's test set versions, its re-evaluations' progress, and the comparison of its algorithms between two versions.

`Phase.current_test_set_id` is the version the phase ranks on (new submissions run on it); the others are kept with
their runs (docs/challenges.md, "Test-set versions and re-evaluation").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import EvaluationRun, Phase, Score, Submission, SubmissionState, Team, TestSet, User
from app.models.reevaluation import Reevaluation, ReevaluationRun, ReevaluationRunState
from app.queries.entrants import Entrant


@dataclass(frozen=True)
class VersionLine:
    """One version of a phase's test set, as the organiser page and the API list it."""

    version: int
    test_set_id: int
    case_count: int
    created_at: datetime
    current: bool  # the version the phase ranks on
    scored_runs: int  # submissions with scores on it

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "case_count": self.case_count,
                "created_at": self.created_at.isoformat(timespec="seconds"), "current": self.current,
                "scored_runs": self.scored_runs}


def phase_versions(session: Session, phase: Phase) -> list[VersionLine]:
    """Every version of the phase's test set, oldest first."""
    scored = dict(session.execute(
        select(EvaluationRun.test_set_id, func.count(func.distinct(EvaluationRun.submission_id)))
        .join(Score, Score.run_id == EvaluationRun.id).join(TestSet, TestSet.id == EvaluationRun.test_set_id)
        .where(TestSet.phase_id == phase.id).group_by(EvaluationRun.test_set_id)).tuples().all())
    test_sets = session.scalars(select(TestSet).where(TestSet.phase_id == phase.id).order_by(TestSet.version)).all()
    return [VersionLine(t.version, t.id, t.case_count, t.created_at, t.id == phase.current_test_set_id,
                        int(scored.get(t.id, 0))) for t in test_sets]


def version_test_set(session: Session, phase: Phase, version: int | None) -> TestSet:
    """The phase's test set of that version (None: the one it ranks on); NotFound naming the versions there are."""
    if version is None:
        if phase.current_test_set is None:
            raise NotFound(f"phase {phase.slug} has no test set yet")
        return phase.current_test_set
    found = session.scalar(select(TestSet).where(TestSet.phase_id == phase.id, TestSet.version == version))
    if found is None:
        versions = session.scalars(select(TestSet.version).where(TestSet.phase_id == phase.id)
                                   .order_by(TestSet.version)).all()
        have = ", ".join(f"v{v}" for v in versions) or "none yet"
        raise NotFound(f"phase {phase.slug} has no test set version {version} (versions: {have})")
    return found


def has_scored_run(session: Session, test_set_id: int | None) -> bool:
    """Whether any submission has succeeded (has scores) on this version: the phase's leaderboard stands on it."""
    if test_set_id is None:
        return False
    return session.scalar(select(EvaluationRun.id).join(Score, Score.run_id == EvaluationRun.id)
                          .join(Submission, Submission.id == EvaluationRun.submission_id)
                          .where(EvaluationRun.test_set_id == test_set_id,
                                 Submission.state == SubmissionState.SUCCEEDED).limit(1)) is not None


def reevaluation_run_needs_gpu(session: Session, row_id: int) -> bool:
    """Whether a re-evaluation row's phase asks for GPUs (its job goes to the GPU queue); False for an unknown id."""
    gpus = session.scalar(select(Phase.gpus).join(Reevaluation, Reevaluation.phase_id == Phase.id)
                          .join(ReevaluationRun, ReevaluationRun.reevaluation_id == Reevaluation.id)
                          .where(ReevaluationRun.id == row_id))
    return bool(gpus)


@dataclass(frozen=True)
class ReevaluationLine:
    """A re-evaluation and how far it got."""

    id: int
    version: int
    budget: int
    selection: str
    requested_by: str | None
    created_at: datetime
    counts: dict[str, int]  # per ReevaluationRunState
    failures: list[tuple[int, str]] = field(default_factory=list)  # (submission id, why), failed rows

    @property
    def finished(self) -> bool:
        return not (self.counts.get(ReevaluationRunState.PENDING) or self.counts.get(ReevaluationRunState.RUNNING))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "budget": self.budget, "selection": self.selection,
                "requested_by": self.requested_by, "created_at": self.created_at.isoformat(timespec="seconds"),
                "counts": {state.value: self.counts.get(state, 0) for state in ReevaluationRunState},
                "finished": self.finished,
                "failures": [{"submission_id": sid, "message": why} for sid, why in self.failures]}


def reevaluations(session: Session, phase: Phase, *, reevaluation_id: int | None = None) -> list[ReevaluationLine]:
    """The phase's re-evaluations, newest first (organisers only: the caller checks)."""
    query = (select(Reevaluation, TestSet.version, User.username).join(TestSet, TestSet.id == Reevaluation.test_set_id)
             .outerjoin(User, User.id == Reevaluation.requested_by_id).where(Reevaluation.phase_id == phase.id)
             .order_by(Reevaluation.id.desc()))
    if reevaluation_id is not None:
        query = query.where(Reevaluation.id == reevaluation_id)
    lines = []
    for reevaluation, version, username in session.execute(query).all():
        rows = session.scalars(select(ReevaluationRun).where(ReevaluationRun.reevaluation_id == reevaluation.id)
                               .order_by(ReevaluationRun.id)).all()
        counts = Counter(str(row.state) for row in rows)
        failures = [(row.submission_id, row.message or "") for row in rows if row.state == ReevaluationRunState.FAILED]
        lines.append(ReevaluationLine(reevaluation.id, version, reevaluation.budget, reevaluation.selection, username,
                                      reevaluation.created_at, dict(counts), failures))
    return lines


# ---- comparing two versions ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class ComparisonRow:
    """One algorithm (a submission) scored on both versions: each metric on A and on B, and B - A."""

    submission_id: int
    participant: str
    comment: str
    a: dict[str, Cell] = field(default_factory=dict)
    b: dict[str, Cell] = field(default_factory=dict)

    def difference(self, metric: str) -> float | None:
        a, b = self.a.get(metric), self.b.get(metric)
        if a is None or b is None or a.value is None or b.value is None:
            return None
        return b.value - a.value


@dataclass
class Comparison:
    challenge: str
    phase: str
    version_a: int
    version_b: int
    ranking_metric: str
    metrics: list[dict[str, str | bool]]
    subset: str
    rows: list[ComparisonRow]
    only_a: int = 0  # submissions scored on A only (not yet re-evaluated on B)
    only_b: int = 0

    def as_dict(self) -> dict[str, Any]:
        def cell(c: Cell | None) -> dict[str, float | None] | None:
            return None if c is None else {"value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high}

        return {"challenge": self.challenge, "phase": self.phase, "version_a": self.version_a,
                "version_b": self.version_b, "ranking_metric": self.ranking_metric, "metrics": self.metrics,
                "subset": self.subset, "only_a": self.only_a, "only_b": self.only_b,
                "rows": [{"submission_id": r.submission_id, "participant": r.participant, "comment": r.comment,
                          "metrics": {str(m["name"]): {"a": cell(r.a.get(str(m["name"]))),
                                                       "b": cell(r.b.get(str(m["name"]))),
                                                       "difference": r.difference(str(m["name"]))}
                                      for m in self.metrics}}
                         for r in self.rows]}


def compare_versions(session: Session, phase: Phase, a: TestSet, b: TestSet) -> Comparison:
    """Every shown submission scored on both versions (the caller checks the viewer may read the phase's results):
    each metric with its CI on A and on B and the difference B - A, ordered by the ranking metric on A."""
    from app.queries.leaderboard import shown_metrics, visible_subset

    subset = visible_subset(phase)
    metrics = shown_metrics(phase)
    names = {str(m["name"]) for m in metrics} | {phase.ranking_metric}
    found = session.execute(
        select(Submission.id, Submission.user_id, Submission.team_id, Submission.comment, User.username, Team.name,
               EvaluationRun.test_set_id, Score.metric, Score.value, Score.ci_low, Score.ci_high)
        .join(User, User.id == Submission.user_id).outerjoin(Team, Team.id == Submission.team_id)
        .join(EvaluationRun, EvaluationRun.submission_id == Submission.id)
        .join(Score, Score.run_id == EvaluationRun.id)
        .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED,
               Submission.hidden_at.is_(None), EvaluationRun.test_set_id.in_((a.id, b.id)),
               Score.subset == subset, Score.metric.in_(names))).all()
    rows: dict[int, ComparisonRow] = {}
    for sid, user_id, team_id, comment, username, team, test_set_id, metric, value, low, high in found:
        row = rows.setdefault(sid, ComparisonRow(sid, Entrant(user_id, username, team_id, team).name, comment))
        (row.a if test_set_id == a.id else row.b)[metric] = Cell(value, low, high)
    both = [row for row in rows.values() if row.a and row.b]
    descending = phase.ranking_order == "descending"

    def key(row: ComparisonRow) -> tuple[float, int]:
        cell = row.a.get(phase.ranking_metric)
        value = cell.value if cell is not None and cell.value is not None else float("-inf" if descending else "inf")
        return (-value if descending else value, row.submission_id)

    if phase.ranking_metric not in {str(m["name"]) for m in metrics}:
        metrics = [*metrics, {"name": phase.ranking_metric, "title": phase.ranking_metric,
                              "higher_is_better": descending}]
    return Comparison(phase.challenge.slug, phase.slug, a.version, b.version, phase.ranking_metric, metrics, subset,
                      sorted(both, key=key), only_a=sum(1 for r in rows.values() if r.a and not r.b),
                      only_b=sum(1 for r in rows.values() if r.b and not r.a))


def reevaluation_target(session: Session, row_id: int) -> tuple[int, int | None] | None:
    """A re-evaluation row's phase and test set version (None when it is the one the phase ranks on); None for an
    unknown row."""
    found = session.execute(select(Reevaluation.phase_id, Reevaluation.test_set_id, Phase.current_test_set_id)
                            .join(ReevaluationRun, ReevaluationRun.reevaluation_id == Reevaluation.id)
                            .join(Phase, Phase.id == Reevaluation.phase_id)
                            .where(ReevaluationRun.id == row_id)).first()
    if found is None:
        return None
    phase_id, test_set_id, current = found
    return phase_id, None if test_set_id == current else test_set_id
