"""Submission state transitions, compare-and-set in the database.

`UPDATE submissions SET state = :new WHERE id = :id AND state = :expected` succeeds for exactly one
caller, so a job delivered twice, or two workers racing, do no harm.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Submission, SubmissionState
from app.models._types import utcnow

S = SubmissionState

ALLOWED_TRANSITIONS: dict[SubmissionState, frozenset[SubmissionState]] = {
    S.RECEIVED: frozenset({S.VALIDATING, S.FAILED, S.CANCELLED}),
    S.VALIDATING: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SCORING, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.SCORING: frozenset({S.SUCCEEDED, S.QUEUED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def transition(session: Session, submission_id: int, expected: SubmissionState | tuple[SubmissionState, ...],
               new: SubmissionState, *, owner: str | None = None, commit: bool = True, **fields: Any) -> bool:
    """Move a submission from `expected` to `new`; False when it was not in `expected` (someone else won).

    Commits at once (unless commit=False, to join a larger transaction), so that the new state is
    visible to other processes. With `owner`, the update also requires that attempt to hold the lease.
    """
    expected_states = expected if isinstance(expected, tuple) else (expected,)
    for state in expected_states:
        if new not in ALLOWED_TRANSITIONS[state]:
            raise IllegalTransition(f"a submission cannot go from {state.value} to {new.value}")
    values: dict[str, Any] = {"state": new, "updated_at": utcnow(), **fields}
    if new.is_final:
        values.setdefault("finished_at", utcnow())
    conditions = [Submission.id == submission_id, Submission.state.in_(expected_states)]
    if owner is not None:  # only the attempt holding the lease may move it on
        conditions.append(Submission.lease_owner == owner)
    result = session.execute(
        update(Submission).where(*conditions).values(**values).execution_options(synchronize_session=False)
    )
    if commit:
        session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]
