"""Organisers hide a submission from the leaderboard (a rule broken, a duplicate account), or show it again.

A hidden submission keeps its runs and scores; it is left out of the leaderboard, the final selection's
candidates and the phase's analysis. Its participant sees that it was hidden, and why.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import Forbidden, InvalidFields, NotFound
from app.models import Submission, User
from app.models._types import utcnow
from app.permissions import is_organiser
from app.queries.entrants import shares_submission

MAX_REASON = 500


def organised_submission(session: Session, submission_id: int, actor: User, *, refusal: str) -> Submission:
    """A submission an organiser acts on: its own participant (and team-mates) get a 403 with `refusal`, anyone else
    a 404, as if it did not exist."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(f"no submission {submission_id}")
    if not is_organiser(actor, submission.phase):
        if shares_submission(session, submission, actor):
            raise Forbidden(refusal)
        raise NotFound(f"no submission {submission_id} of yours")
    return submission


def set_hidden(session: Session, submission_id: int, actor: User, *, hidden: bool, reason: str = "") -> Submission:
    """Hide (with a reason the participant reads) or show again. Organisers and admins only. Flushes."""
    submission = organised_submission(session, submission_id, actor,
                                      refusal="only the challenge's organisers hide or show submissions")
    reason = " ".join(reason.split())[:MAX_REASON]
    if hidden:
        if not reason:
            raise InvalidFields({"reason": "Say why it is hidden: its participant reads the reason."})
        submission.hidden_at, submission.hidden_reason, submission.hidden_by_id = utcnow(), reason, actor.id
    else:
        submission.hidden_at, submission.hidden_reason, submission.hidden_by_id = None, None, None
    session.flush()
    return submission
