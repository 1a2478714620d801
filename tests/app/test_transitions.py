"""The submission state machine: named compare-and-set transitions."""

import pytest

from app import transitions
from app.models import Challenge, Phase, Submission, SubmissionState
from app.transitions import ALLOWED_TRANSITIONS, IllegalTransition
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


def _queued(session, sid: int) -> None:  # type: ignore[no-untyped-def]
    assert transitions.start_validation(session, sid)
    assert transitions.queue_upload(session, sid, upload_key="k", image_config_digest="sha256:x", image_tags="")


def test_a_transition_succeeds_once(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        assert transitions.start_validation(session, sid)
        assert not transitions.start_validation(session, sid)
        assert transitions.queue_upload(session, sid, upload_key="k", image_config_digest="d", image_tags="")
        assert transitions.start_attempt(session, sid, owner="a", lease_seconds=60)
    # A second worker racing for the same job loses.
    with resources.session() as other:
        assert not transitions.start_attempt(other, sid, owner="b", lease_seconds=60)
        assert other.get(Submission, sid).state == S.RUNNING


def test_no_transition_commits_the_callers_session(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        assert transitions.start_validation(session, sid)
        session.rollback()
        assert session.get(Submission, sid).state == S.RECEIVED


def test_final_states_get_a_finish_time_and_stay_final(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        assert transitions.start_validation(session, sid)
        assert transitions.refuse_upload(session, sid, "bad")
        session.commit()
        submission = session.get(Submission, sid)
        session.refresh(submission)
        assert submission.finished_at is not None and submission.failure_message == "bad"
        assert not submission.failure_is_infrastructure
        assert not transitions.queue_upload(session, sid, upload_key="k", image_config_digest="d", image_tags="")
        assert not transitions.cancel(session, sid, message="too late")
        with pytest.raises(IllegalTransition):
            transitions._compare_and_set(session, sid, (S.FAILED,), S.QUEUED, {})


def test_illegal_transitions_are_refused_before_touching_the_database(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        with pytest.raises(IllegalTransition, match="from received to succeeded"):
            transitions._compare_and_set(session, sid, (S.RECEIVED,), S.SUCCEEDED, {})
        assert session.get(Submission, sid).state == S.RECEIVED


def test_every_final_state_is_reachable_and_final() -> None:
    reachable = {new for targets in ALLOWED_TRANSITIONS.values() for new in targets}
    assert {S.SUCCEEDED, S.FAILED, S.CANCELLED} <= reachable
    assert all(not ALLOWED_TRANSITIONS[state] for state in S if state.is_final)


def test_only_the_lease_holder_moves_a_running_submission_on(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        _queued(session, sid)
        assert transitions.start_attempt(session, sid, owner="holder", lease_seconds=60)
        assert not transitions.begin_scoring(session, sid, owner="zombie")
        assert not transitions.fail(session, sid, owner="zombie", message="x")
        assert transitions.begin_scoring(session, sid, owner="holder")
        assert transitions.succeed(session, sid, owner="holder")
        session.commit()
        submission = session.get(Submission, sid)
        session.refresh(submission)
        assert submission.state == S.SUCCEEDED and submission.lease_owner is None
        assert submission.lease_expires_at is None and submission.finished_at is not None


def test_a_cancel_takes_the_lease_from_a_running_attempt(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        sid = _submission(session)
        _queued(session, sid)
        assert transitions.start_attempt(session, sid, owner="holder", lease_seconds=60)
        assert transitions.cancel(session, sid, message="cancelled by you")
        assert not transitions.renew_lease(session, sid, owner="holder", lease_seconds=60)
        assert not transitions.holds_lease(session, sid, owner="holder")
        assert not transitions.begin_scoring(session, sid, owner="holder")
        session.commit()
        submission = session.get(Submission, sid)
        session.refresh(submission)
        assert submission.state == S.CANCELLED and submission.lease_owner is None
        assert submission.failure_message == "cancelled by you"
