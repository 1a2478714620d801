"""Test-set versions: which one a phase ranks on, switching it, and re-evaluating submissions on another version.

A phase keeps every version of its test set. A new version (challenge apply, or a .zip uploaded on the site) becomes
the one the phase ranks on only while nothing has been scored on the current one (`adopt_new_version`); otherwise
the leaderboard stays on its version and the organiser chooses when to switch (`switch_version`). A re-evaluation
(`start_reevaluation`) runs the phase's final submissions, or the ones an organiser selected, on a version, as new
runs beside their old ones, never more than `budget` at once (app/pipeline/reevaluation.py runs each).
docs/challenges.md, "Test-set versions and re-evaluation".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import transitions
from app.errors import Conflict, Forbidden, InvalidFields
from app.models import EvaluationRun, Phase, Score, Submission, SubmissionState, TestSet, User
from app.models.reevaluation import Reevaluation, ReevaluationRun, ReevaluationSelection
from app.permissions import is_organiser
from app.queries.final_submissions import final_submission_ids
from app.queries.test_set_versions import has_scored_run, version_test_set

log = logging.getLogger(__name__)
MAX_BUDGET = 64  # runs at once: more than any installation's workers


def adopt_new_version(session: Session, phase: Phase, test_set: TestSet) -> bool:
    """Make a new (or re-applied) version the one the phase ranks on when nothing was scored on the current one (the
    first version, or no succeeded run yet); returns whether it is current now. Otherwise the phase keeps ranking on
    its version: the caller tells the organiser how to switch (`switch_hint`)."""
    if phase.current_test_set_id in (None, test_set.id) or not has_scored_run(session, phase.current_test_set_id):
        phase.current_test_set_id = test_set.id
        return True
    return False


def switch_hint(phase: Phase, test_set: TestSet) -> str:
    """What the organiser reads when a new version was kept beside the one the phase ranks on."""
    current = phase.current_test_set.version if phase.current_test_set is not None else "?"
    slug = f"{phase.challenge.slug}/{phase.slug}"
    return (f"test set v{test_set.version} is stored, but phase {phase.slug} still ranks on v{current} (submissions "
            f"are scored on it); re-evaluate submissions on v{test_set.version}, then switch with "
            f"`podium challenge use-version {slug} {test_set.version}` or on the phase's test set page")


def switch_version(session: Session, phase: Phase, version: int, actor: User | None) -> TestSet:
    """Rank the phase on another version of its test set (new submissions run on it from now on). Organisers of its
    challenge and admins only (actor None: the operator's CLI). Commits."""
    if actor is not None and not is_organiser(actor, phase):
        raise Forbidden("only the challenge's organisers choose the test set version a phase ranks on")
    test_set = version_test_set(session, phase, version)
    phase.current_test_set_id = test_set.id
    session.commit()
    log.info("phase %s: ranks on test set v%s now", phase.id, test_set.version)
    return test_set


@dataclass(frozen=True)
class StartedReevaluation:
    reevaluation_id: int
    version: int
    submissions: int  # rows made
    skipped: int  # selected submissions already scored on that version (left as they are)
    jobs_queued: int  # the first turns, within the budget (0: the queue was unavailable; the reconciler queues them)


def start_reevaluation(session: Session, enqueue: Callable[[int], None] | None, phase: Phase, actor: User | None, *,
                       version: int, budget: int, selection: str,
                       submission_ids: list[int] | None = None) -> StartedReevaluation:
    """Run the phase's final submissions (selection "final") or the given ones ("selected") on a version of its test
    set, at most `budget` at once. Only succeeded, shown submissions of the phase; one already scored on that version
    is skipped. Organisers and admins only (actor None: the operator's CLI). Commits, then queues the first turns."""
    if actor is not None and not is_organiser(actor, phase):
        raise Forbidden("only the challenge's organisers re-evaluate submissions")
    problems: dict[str, str] = {}
    if not isinstance(budget, int) or budget < 1 or budget > MAX_BUDGET:
        problems["budget"] = f"the budget is how many runs may go at once: a whole number from 1 to {MAX_BUDGET}"
    if selection not in tuple(ReevaluationSelection):
        problems["selection"] = "choose 'final' (the phase's final submissions) or 'selected' (the ones you tick)"
    if problems:
        raise InvalidFields(problems)
    test_set = version_test_set(session, phase, version)
    if phase.submission_kind != "container":
        raise Conflict(f"phase {phase.slug} takes {phase.submission_kind} submissions; only containers can be run "
                       "again on another version")
    candidates = _succeeded(session, phase)
    if selection == ReevaluationSelection.FINAL:
        chosen = sorted(final_submission_ids(session, phase) & candidates)
    else:
        wanted = sorted(set(submission_ids or []))
        unknown = [sid for sid in wanted if sid not in candidates]
        if unknown:
            raise InvalidFields({"submissions": f"submission(s) {', '.join(map(str, unknown))} are not succeeded, "
                                                f"shown submissions of phase {phase.slug}"})
        chosen = wanted
    if not chosen:
        raise InvalidFields({"submissions": "nothing is selected: tick the submissions to re-evaluate, or choose the "
                                            "phase's final submissions"})
    scored = _scored_on(session, test_set.id, chosen)
    todo = [sid for sid in chosen if sid not in scored]
    if not todo:
        raise Conflict(f"every selected submission is scored on v{test_set.version} already")
    reevaluation = Reevaluation(phase_id=phase.id, test_set_id=test_set.id, budget=budget, selection=selection,
                                requested_by_id=None if actor is None else actor.id)
    reevaluation.runs = [ReevaluationRun(submission_id=sid) for sid in todo]
    session.add(reevaluation)
    session.flush()
    turns = transitions.take_reevaluation_turns(session, reevaluation.id, budget)
    session.commit()
    queued = queue_turns(session, enqueue, turns)
    log.info("phase %s: re-evaluation %s of %s submission(s) on v%s, budget %s", phase.id, reevaluation.id,
             len(todo), test_set.version, budget)
    return StartedReevaluation(reevaluation.id, test_set.version, len(todo), len(scored), queued)


def queue_turns(session: Session, enqueue: Callable[[int], None] | None, turns: list[int]) -> int:
    """Queue a job for each row given a turn (already committed); a row whose job could not be queued gets its turn
    back (the reconciler queues it later). Returns how many were queued."""
    queued = 0
    for row_id in turns:
        try:
            if enqueue is None:
                raise RuntimeError("no queue")
            enqueue(row_id)
            queued += 1
        except Exception:  # noqa: BLE001 - the row stays pending: the reconciler's top-up queues it
            log.warning("re-evaluation run %s: not queued (queue unavailable)", row_id, exc_info=True)
            transitions.forget_reevaluation_job(session, row_id)
            session.commit()
    return queued


def _succeeded(session: Session, phase: Phase) -> set[int]:
    return set(session.scalars(select(Submission.id).where(
        Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED,
        Submission.hidden_at.is_(None), Submission.upload_key.is_not(None))))


def _scored_on(session: Session, test_set_id: int, submission_ids: list[int]) -> set[int]:
    return set(session.scalars(select(EvaluationRun.submission_id).join(Score, Score.run_id == EvaluationRun.id)
                               .where(EvaluationRun.test_set_id == test_set_id,
                                      EvaluationRun.submission_id.in_(submission_ids))))
