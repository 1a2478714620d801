"""Compare-and-set state transitions."""

import pytest

from app.models import Challenge, Phase, Submission, SubmissionState
from app.transitions import IllegalTransition, transition
from app.usecases.users import create_user

S = SubmissionState


def _submission(session) -> int:  # type: ignore[no-untyped-def]
    user, _ = create_user(session, "ada")
    challenge = Challenge(slug="c", title="C")
    phase = Phase(challenge=challenge, slug="p", title="P", ranking_metric="auroc")
    session.add_all([challenge, phase])
    session.flush()
    submission = Submission(phase_id=phase.id, user_id=user.id)
    session.add(submission)
    session.commit()
    return submission.id


def test_a_transition_succeeds_once(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        assert transition(session, sid, S.RECEIVED, S.VALIDATING)
        assert not transition(session, sid, S.RECEIVED, S.VALIDATING)
        assert transition(session, sid, S.VALIDATING, S.QUEUED)
        assert transition(session, sid, S.QUEUED, S.RUNNING)
    # A second worker racing for the same job loses.
    with resources.session() as other:
        assert not transition(other, sid, S.QUEUED, S.RUNNING)
        assert other.get(Submission, sid).state == S.RUNNING


def test_final_states_get_a_finish_time_and_stay_final(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        assert transition(session, sid, S.RECEIVED, S.FAILED, failure_message="bad")
        submission = session.get(Submission, sid)
        session.refresh(submission)
        assert submission.finished_at is not None and submission.failure_message == "bad"
        with pytest.raises(IllegalTransition):
            transition(session, sid, S.FAILED, S.QUEUED)


def test_illegal_transitions_are_refused_before_touching_the_database(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        with pytest.raises(IllegalTransition, match="from received to succeeded"):
            transition(session, sid, S.RECEIVED, S.SUCCEEDED)
        assert session.get(Submission, sid).state == S.RECEIVED
