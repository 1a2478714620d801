"""A cancel stops a running container; a kill that Podium did not order is never the participant's fault.

Both on real processes: a `podium worker` subprocess, the Docker engine, SQLite and Redis.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.models import EvaluationRun, Submission, SubmissionState
from app.usecases.membership import add_organiser
from app.usecases.submissions import cancel_submission
from app.usecases.users import user_for_token
from tests.faults.conftest import fault_settings, wait_for
from tests.faults.test_fault_injection import _containers_of, _prepare, _submission

S = SubmissionState


def test_cancelling_a_running_submission_stops_its_container(tmp_path, monkeypatch, slow_archive, start_worker,  # type: ignore[no-untyped-def]
                                                             docker_client) -> None:
    settings, env = fault_settings(tmp_path, monkeypatch)  # lease 3 s: the heartbeat beats every second
    resources, [sid] = _prepare(settings, slow_archive)
    worker = start_worker(env)
    wait_for(lambda: len(_containers_of(docker_client, sid, settings.runner_scope)) == 1, 60,
             "the container to start")
    with resources.session() as session:
        owner = session.get(Submission, sid).user
        cancelled_at = time.monotonic()
        cancel_submission(session, sid, owner)
    wait_for(lambda: _containers_of(docker_client, sid, settings.runner_scope) == [], 10,
             "the cancelled container to stop")
    assert time.monotonic() - cancelled_at < 5  # well before the algorithm's own 6 s would end
    time.sleep(2)  # the attempt notices and stops without writing
    submission = _submission(resources, sid)
    assert submission.state == S.CANCELLED and submission.failure_message == "cancelled by you"
    assert submission.lease_owner is None and not submission.failure_is_infrastructure
    with resources.session() as session:
        assert session.scalar(select(func.count(EvaluationRun.id))
                              .where(EvaluationRun.submission_id == sid)) == 0
    assert worker.process.poll() is None, worker.log()  # the worker goes on serving others


def test_a_container_killed_from_outside_is_retried_free_of_charge(tmp_path, monkeypatch, slow_archive,  # type: ignore[no-untyped-def]
                                                                  start_worker, docker_client) -> None:
    """Defect 9: another installation's housekeeping killed a run; exit 137 was blamed on the participant."""
    settings, env = fault_settings(tmp_path, monkeypatch)
    resources, [sid] = _prepare(settings, slow_archive)
    start_worker(env)
    wait_for(lambda: len(_containers_of(docker_client, sid, settings.runner_scope)) == 1, 60,
             "the container to start")
    time.sleep(1)
    _containers_of(docker_client, sid, settings.runner_scope)[0].kill()  # as `docker kill` from someone else would
    wait_for(lambda: _submission(resources, sid).state.is_final, 90, "the submission to finish")
    submission = _submission(resources, sid)
    assert submission.state == S.SUCCEEDED, submission.failure_message
    assert submission.attempts == 2 and submission.infrastructure_faults == 1
    assert not submission.failure_is_infrastructure and submission.failure_message is None


def test_only_the_owner_or_an_organiser_may_cancel(tmp_path, monkeypatch, slow_archive) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from app.errors import NotFound
    from tests.integration.helpers import make_user

    settings, _ = fault_settings(tmp_path, monkeypatch)
    resources, [sid] = _prepare(settings, slow_archive)
    stranger_token = make_user(resources, "stranger")
    with resources.session() as session:
        stranger = user_for_token(session, stranger_token)
        assert stranger is not None
        with pytest.raises(NotFound):
            cancel_submission(session, sid, stranger)
        submission = session.get(Submission, sid)
        add_organiser(session, submission.phase.challenge, "stranger")
        session.commit()
        cancelled = cancel_submission(session, sid, stranger)
        assert cancelled.state == S.CANCELLED and cancelled.failure_message == "cancelled by organiser stranger"
