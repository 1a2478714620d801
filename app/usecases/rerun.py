"""Organisers run a finished submission again (a fixed metric, a new evaluator, a platform failure).

The submission keeps its id, its archive, its place in the history and its place (or not) in its entrant's
limits: a re-run never counts against them. Its previous results (runs with their per-case outcomes and
scores, and the outputs it wrote) are removed in the transaction that queues it, so the leaderboard never
shows stale scores while it runs and, once it has run, it has exactly one result set. docs/results.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import transitions
from app.errors import Conflict
from app.models import CaseOutcome, EvaluationRun, Score, Submission, SubmissionShard, User
from app.storage import ArtifactStore, keys
from app.usecases.moderation import organised_submission
from app.usecases.submissions import Enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rerun:
    submission: Submission
    job_queued: bool  # False: the queue was unavailable; the reconciler queues it (nothing to do again)


def rerun_submission(session: Session, store: ArtifactStore, enqueue: Enqueue, submission_id: int,
                     actor: User) -> Rerun:
    """Queue a succeeded or failed submission again. Organisers of its challenge and admins only. Commits."""
    submission = organised_submission(session, submission_id, actor, refusal="only the challenge's organisers "
                                      "re-run submissions; submit a new one instead")
    if submission.state not in transitions.RERUNNABLE:
        raise Conflict(f"submission {submission_id} is {submission.state.value}; only a finished (succeeded or "
                       "failed) submission can be re-run: wait for it to finish")
    if submission.upload_key is None or not store.exists(submission.upload_key):
        raise Conflict(f"submission {submission_id}'s container archive is no longer stored, so it cannot be "
                       "run again; its participant can submit it anew")
    # Its run on the version the phase ranks on is redone; its runs on other versions (re-evaluations) stay.
    ranked = submission.phase.current_test_set_id
    on_ranked = (EvaluationRun.submission_id == submission_id, EvaluationRun.test_set_id == ranked)
    runs = select(EvaluationRun.id).where(*on_ranked).scalar_subquery()
    if not transitions.rerun(session, submission_id):
        session.rollback()
        raise Conflict(f"submission {submission_id} changed meanwhile (it was re-run already); reload and try "
                       "again")
    session.execute(delete(CaseOutcome).where(CaseOutcome.run_id.in_(runs)))
    session.execute(delete(Score).where(Score.run_id.in_(runs)))
    session.execute(delete(EvaluationRun).where(*on_ranked))
    # A sharded run's shards too: a done shard would otherwise be kept, its outputs removed below.
    session.execute(delete(SubmissionShard).where(SubmissionShard.submission_id == submission_id))
    # The outputs it wrote last time, before the commit lets a worker start it (logs are overwritten).
    try:
        store.delete_prefix(keys.submission_output(submission_id, ""))
    except Exception:  # noqa: BLE001 - the results leave the database regardless; files are only files
        log.warning("submission %s: old outputs not removed", submission_id, exc_info=True)
    session.commit()
    try:
        enqueue(submission_id)
        job_queued = True
    except Exception:  # noqa: BLE001 - the row says queued: the reconciler queues it when the queue is back
        log.warning("submission %s: re-run stored but not yet queued (queue unavailable)", submission_id,
                    exc_info=True)
        job_queued = False
    session.refresh(submission)
    return Rerun(submission, job_queued)
