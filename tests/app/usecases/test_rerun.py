"""Organisers re-run a finished submission: its old results go at once, the new run's are the only ones, its
participant's limits do not move, and who may do it is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import transitions
from app.config import Settings
from app.errors import Conflict, Forbidden, NotFound
from app.models import CaseOutcome, EvaluationRun, Score, Submission, SubmissionState, TestSet
from app.resources import Resources
from app.tasks.worker import queued_job_count
from app.usecases.membership import add_organiser
from app.usecases.rerun import rerun_submission
from app.usecases.users import create_user
from tests.app.usecases.test_final_selection import _phase, _scored
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    drain_queue,
    get_submission,
    make_user,
    submit_archive,
)

BOARD = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard"
LIMITS = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/limits"


def _counts(resources: Resources, submission_id: int) -> tuple[int, int, int]:
    with resources.session() as session:
        runs = select(EvaluationRun.id).where(EvaluationRun.submission_id == submission_id).scalar_subquery()
        return (session.scalar(select(func.count()).select_from(EvaluationRun)
                               .where(EvaluationRun.submission_id == submission_id)) or 0,
                session.scalar(select(func.count()).select_from(Score).where(Score.run_id.in_(runs))) or 0,
                session.scalar(select(func.count()).select_from(CaseOutcome).where(CaseOutcome.run_id.in_(runs)))
                or 0)


def _organiser(resources: Resources, name: str = "lead") -> str:
    token = make_user(resources, name)
    with resources.session() as session:
        from app.models import Challenge

        add_organiser(session, session.scalars(select(Challenge).where(Challenge.slug == CHALLENGE)).one(), name)
    return token


def test_a_rerun_replaces_the_results_of_a_scored_submission(resources: Resources, settings: Settings,
                                                             client: FlaskClient,
                                                             baseline_archives) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    lab, lead = make_user(resources, "lab"), _organiser(resources)
    status, first = submit_archive(client, lab, baseline_archives["logistic-regression"].archive, "lr")
    assert status == 201, first
    drain_queue(settings)
    before = get_submission(client, lab, first["id"])
    assert before["state"] == "succeeded" and before["reruns"] == 0
    counts = _counts(resources, first["id"])
    assert counts[0] == 1 and counts[1] > 0 and counts[2] == 228
    limits = client.get(LIMITS, headers={"Authorization": f"Bearer {lab}"}).get_json()
    assert limits["used_total"] == 1

    # Its participant may not; the organiser may.
    refused = client.post(f"/api/v1/submissions/{first['id']}/rerun", headers={"Authorization": f"Bearer {lab}"})
    assert refused.status_code == 403
    answer = client.post(f"/api/v1/submissions/{first['id']}/rerun", headers={"Authorization": f"Bearer {lead}"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["state"] == "queued" and body["reruns"] == 1 and body["scores"] == {} and body["run"] is None
    assert body["finished_at"] is None and body["failure_message"] is None
    assert queued_job_count(settings) >= 1

    # While it waits: no old results anywhere, and not on the leaderboard.
    assert _counts(resources, first["id"]) == (0, 0, 0)
    assert resources.store.list(f"submissions/{first['id']}/outputs/") == []
    assert client.get(BOARD).get_json()["rows"] == []
    # A second re-run before it has finished is refused.
    again = client.post(f"/api/v1/submissions/{first['id']}/rerun", headers={"Authorization": f"Bearer {lead}"})
    assert again.status_code == 409 and "finished" in again.get_json()["error"]

    drain_queue(settings)
    after = get_submission(client, lab, first["id"])
    assert after["state"] == "succeeded" and after["reruns"] == 1
    assert after["scores"]["auroc"]["value"] == pytest.approx(before["scores"]["auroc"]["value"])
    assert _counts(resources, first["id"]) == counts  # exactly one result set
    rows = client.get(BOARD).get_json()["rows"]
    assert [r["submission_id"] for r in rows] == [first["id"]]
    with resources.session() as session:
        submission = session.get(Submission, first["id"])
        assert submission is not None and submission.attempts == 1 and submission.reruns == 1
    # Never counted against its participant.
    assert client.get(LIMITS, headers={"Authorization": f"Bearer {lab}"}).get_json()["used_total"] == 1


def test_a_failed_submission_can_be_rerun_from_the_page_and_fails_again_with_one_result(
        resources: Resources, settings: Settings, client: FlaskClient, crashing_archive: Path) -> None:
    from tests.app.test_authorization_matrix import sign_in

    apply_example(resources)
    crasher, lead = make_user(resources, "crasher"), _organiser(resources)
    status, submission = submit_archive(client, crasher, crashing_archive)
    assert status == 201
    drain_queue(settings)
    assert get_submission(client, crasher, submission["id"])["state"] == "failed"

    page = client.application.test_client()
    csrf = sign_in(page, lead)
    shown = page.get(f"/submissions/{submission['id']}")
    assert b'id="rerun"' in shown.data
    listing = page.get(f"/challenges/{CHALLENGE}/{PHASE}/submissions")
    assert f'id="rerun-{submission["id"]}"'.encode() in listing.data
    answer = page.post(f"/submissions/{submission['id']}/rerun",
                       data={"csrf": csrf, "next": f"/challenges/{CHALLENGE}/{PHASE}/submissions"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/{PHASE}/submissions")
    queued = get_submission(client, crasher, submission["id"])
    assert queued["state"] == "queued" and queued["failure_message"] is None
    drain_queue(settings)
    again = get_submission(client, crasher, submission["id"])
    assert again["state"] == "failed" and again["reruns"] == 1 and "exited with code 3" in again["failure_message"]
    assert _counts(resources, submission["id"])[0] == 1
    # The participant's own page shows no re-run button.
    own = client.application.test_client()
    sign_in(own, crasher)
    assert b'id="rerun"' not in own.get(f"/submissions/{submission['id']}").data


def test_who_may_rerun_and_what_is_refused(session: Session, store) -> None:  # type: ignore[no-untyped-def]
    phase = _phase(session, split=False)
    lab, _ = create_user(session, "lab")
    stranger, _ = create_user(session, "stranger")
    lead, _ = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    done = _scored(session, phase, lab, 0.9, 0.9)
    done.upload_key = f"submissions/{done.id}/upload.tar"
    session.commit()
    queued: list[int] = []

    with pytest.raises(NotFound):
        rerun_submission(session, store, queued.append, done.id, stranger)
    with pytest.raises(Forbidden):
        rerun_submission(session, store, queued.append, done.id, lab)
    with pytest.raises(Conflict, match="no longer stored"):  # the key, but no archive behind it
        rerun_submission(session, store, queued.append, done.id, lead)
    done.upload_key = None
    session.commit()
    with pytest.raises(Conflict, match="no longer stored"):
        rerun_submission(session, store, queued.append, done.id, lead)
    assert queued == [] and session.get(Submission, done.id).state == SubmissionState.SUCCEEDED  # type: ignore[union-attr]

    store.put_bytes(f"submissions/{done.id}/upload.tar", b"archive")
    done.upload_key = f"submissions/{done.id}/upload.tar"
    session.commit()
    rerun = rerun_submission(session, store, queued.append, done.id, lead)
    assert queued == [done.id] and rerun.job_queued and rerun.submission.state == SubmissionState.QUEUED
    with pytest.raises(Conflict, match="only a finished"):
        rerun_submission(session, store, queued.append, done.id, lead)

    def broken_queue(_: int) -> None:
        raise ConnectionError("redis is down")

    session.execute(Submission.__table__.update().where(Submission.id == done.id)
                    .values(state=SubmissionState.FAILED))
    session.commit()
    session.expire_all()
    kept = rerun_submission(session, store, broken_queue, done.id, lead)
    assert not kept.job_queued and kept.submission.state == SubmissionState.QUEUED and kept.submission.reruns == 2


def test_the_rerun_transition_moves_only_finished_submissions(session: Session) -> None:
    phase = _phase(session, split=False)
    lab, _ = create_user(session, "lab")
    submission = Submission(phase_id=phase.id, user_id=lab.id, state=SubmissionState.RUNNING, attempts=2,
                            infrastructure_faults=1, lease_owner="w", failure_is_infrastructure=True)
    session.add(submission)
    session.commit()
    assert not transitions.rerun(session, submission.id)
    submission.state, submission.failure_message, submission.lease_owner = SubmissionState.FAILED, "boom", None
    session.commit()
    assert transitions.rerun(session, submission.id)
    session.commit()
    session.refresh(submission)
    assert submission.state == SubmissionState.QUEUED and submission.attempts == 0
    assert submission.infrastructure_faults == 0 and submission.failure_message is None
    assert submission.reruns == 1 and submission.finished_at is None
    assert submission.failure_is_infrastructure  # still free in its entrant's limits


def test_a_rerun_redoes_the_ranked_version_and_keeps_the_runs_on_other_versions(  # type: ignore[no-untyped-def]
        session: Session, store) -> None:
    phase = _phase(session, split=False)
    lab, _ = create_user(session, "lab")
    lead, _ = create_user(session, "lead")
    add_organiser(session, phase.challenge, "lead")
    done = _scored(session, phase, lab, 0.9, 0.9)
    newer = TestSet(phase_id=phase.id, version=2, content_hash="1" * 64, storage_prefix="y")
    session.add(newer)
    session.flush()
    reevaluated = EvaluationRun(submission_id=done.id, test_set_id=newer.id)  # a re-evaluation on v2
    session.add(reevaluated)
    session.flush()
    session.add(Score(run_id=reevaluated.id, metric="auroc", value=0.7))
    store.put_bytes(f"submissions/{done.id}/upload.tar", b"archive")
    done.upload_key = f"submissions/{done.id}/upload.tar"
    session.commit()

    rerun_submission(session, store, lambda _: None, done.id, lead)
    runs = session.execute(select(EvaluationRun.test_set_id, func.count(Score.id)).outerjoin(Score)
                           .where(EvaluationRun.submission_id == done.id).group_by(EvaluationRun.test_set_id)).all()
    assert runs == [(newer.id, 1)]  # v1's run and scores went (it runs again); v2's stayed
