"""Errors at the edges of a request: each defect of issue 8 that a participant met at the web or API edge.

Real parts only: SQLite, a local store, a real Redis (and a port where none listens, for "Redis down").
"""

from __future__ import annotations

import html
import io
from datetime import timedelta
from pathlib import Path

import pytest
from rq.job import Job
from sqlalchemy import func, select, update

from app import create_app
from app.config import Settings
from app.models import Phase, Submission, SubmissionState
from app.models._types import utcnow
from app.pipeline.recovery import reconcile
from app.resources import Resources
from app.tasks.queues import JOB_TIMEOUT_SECONDS, job_pending, latest_job_key, make_enqueuer, redis_connection
from app.usecases.membership import add_organiser
from app.usecases.submission_limits import limit_status
from tests.integration.helpers import CHALLENGE, PHASE, apply_example, make_user, submit_archive

S = SubmissionState
SUBMIT_URL = f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions"


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes that remembers how much of it the server read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the body by seeking; that reads nothing
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = max(0, min(len(buffer), self.size - self.position))
        buffer[:n] = b"\0" * n
        self.position += n
        self.read_bytes += n
        return n


def _submission_count(resources: Resources) -> int:
    with resources.session() as session:
        return session.scalar(select(func.count(Submission.id))) or 0


def _close_phase(resources: Resources) -> None:
    with resources.session() as session:
        session.execute(update(Phase).values(closes_at=utcnow() - timedelta(hours=1)))


@pytest.fixture
def example(resources: Resources) -> Resources:
    apply_example(resources)
    return resources


def test_redis_down_at_submit_answers_202_and_the_reconciler_queues_it_once(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings, crashing_archive: Path) -> None:
    """Defect 1: the row was committed as queued, then the API answered 500 and the participant retried."""
    down = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    client = create_app(down, enqueue=make_enqueuer(down)).test_client()
    token = make_user(example, "patient-vendor")
    status, body = submit_archive(client, token, crashing_archive)
    assert status == 202, body
    assert body["state"] == "queued"
    assert _submission_count(example) == 1
    # Redis is back: the reconciler queues it, exactly once.
    report = reconcile(example, enqueue=make_enqueuer(settings), job_pending=lambda sid: job_pending(settings, sid))
    assert report.enqueued == [body["id"]]
    report = reconcile(example, enqueue=make_enqueuer(settings), job_pending=lambda sid: job_pending(settings, sid))
    assert report.enqueued == []


def test_a_storage_failure_while_receiving_fails_as_the_platforms_fault(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings, crashing_archive: Path) -> None:
    """Defect 2: the row stayed `validating` forever and counted against the participant."""
    # The local store cannot create submissions/<id>/: a plain file sits where the folder must go.
    blocker = Path(settings.storage_url.removeprefix("file://")) / "submissions"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    client = create_app(settings, enqueue=lambda _: None).test_client()
    token = make_user(example, "unlucky")
    status, body = submit_archive(client, token, crashing_archive)
    assert status == 503, body
    assert "not your fault" in body["error"]
    with example.session() as session:
        submission = session.scalars(select(Submission)).one()
        assert submission.state == S.FAILED and submission.failure_is_infrastructure
        assert limit_status(session, submission.phase, submission.user).used_today == 0


def test_closed_phase_and_bad_token_are_refused_before_the_body_is_read(example: Resources, settings: Settings) -> None:
    """Defect 4: permission, phase-open and limit checks ran only after spooling up to 4 GiB."""
    client = create_app(settings, enqueue=lambda _: None).test_client()
    token = make_user(example, "late-comer")
    _close_phase(example)
    body = CountingStream(64 * 1024**2)
    response = client.post(SUBMIT_URL, input_stream=body,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                                    "Content-Length": str(body.size)})
    assert response.status_code == 403 and "closed" in response.get_json()["error"]
    assert body.read_bytes == 0
    assert _submission_count(example) == 0
    assert not any((settings.data_dir / "tmp" / "uploads").glob("*"))

    readers = CountingStream(8 * 1024**2)
    response = client.put(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/readers", input_stream=readers,
                          headers={"Content-Type": "text/csv", "Content-Length": str(readers.size)})
    assert response.status_code == 401
    assert readers.read_bytes == 0


def test_an_upload_declared_larger_than_the_phase_allows_is_refused_unread(example: Resources,
                                                                           settings: Settings) -> None:
    client = create_app(settings, enqueue=lambda _: None).test_client()
    token = make_user(example, "big-model")
    with example.session() as session:
        limit = session.scalars(select(Phase)).first().max_upload_mb * 1024**2  # type: ignore[union-attr]
    body = CountingStream(limit + 2 * 1024**2)
    response = client.post(SUBMIT_URL, input_stream=body,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                                    "Content-Length": str(body.size)})
    assert response.status_code == 413 and "limit" in response.get_json()["error"]
    assert body.read_bytes == 0


def _web_client(example: Resources, settings: Settings, name: str):  # type: ignore[no-untyped-def]
    client = create_app(settings, enqueue=lambda _: None).test_client()
    token = make_user(example, name)
    page = client.get("/login")
    csrf = page.get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/login", data={"token": token, "csrf": csrf}).status_code == 302
    return client, csrf


def test_the_web_form_answers_a_mistyped_phase_and_a_too_large_upload_with_a_page(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings) -> None:
    """Defect 3: both were a 500."""
    client, csrf = _web_client(example, settings, "web-user")
    page = client.get(f"/challenges/{CHALLENGE}/no-such-phase/submit")
    assert page.status_code == 404
    assert "No phase 'no-such-phase'" in html.unescape(page.get_data(as_text=True))
    page = client.get(f"/challenges/{CHALLENGE}/no-such-phase/leaderboard")
    assert page.status_code == 404 and "<title>" in page.get_data(as_text=True)

    small = create_app(settings.with_overrides(max_upload_bytes=1024 * 1024), enqueue=lambda _: None).test_client()
    for cookie in client._cookies.values():  # the same signed-in session
        small.set_cookie(cookie.key, cookie.value)
    page = small.post(f"/challenges/{CHALLENGE}/{PHASE}/submit",
                      data={"csrf": csrf, "image": (io.BytesIO(b"\0" * (3 * 1024**2)), "big.tar")},
                      content_type="multipart/form-data")
    assert page.status_code == 413
    assert "larger than this server accepts" in page.get_data(as_text=True)
    assert _submission_count(example) == 0


def test_a_participant_cancels_a_queued_submission_in_the_browser_form(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings, crashing_archive: Path) -> None:
    client, csrf = _web_client(example, settings, "second-thoughts")
    with crashing_archive.open("rb") as handle:
        page = client.post(f"/challenges/{CHALLENGE}/{PHASE}/submit",
                           data={"csrf": csrf, "image": (handle, "algorithm.tar.gz")},
                           content_type="multipart/form-data")
    assert page.status_code == 302
    submission_url = page.headers["Location"]
    assert 'id="cancel"' in client.get(submission_url).get_data(as_text=True)
    page = client.post(submission_url + "/cancel", data={"csrf": csrf})
    assert page.status_code == 302
    text = client.get(submission_url).get_data(as_text=True)
    assert "cancelled" in text and 'id="cancel"' not in text
    with example.session() as session:
        assert session.scalars(select(Submission)).one().state == S.CANCELLED


def test_cancel_through_the_api_is_for_the_owner_and_the_organisers(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings, crashing_archive: Path) -> None:
    client = create_app(settings, enqueue=lambda _: None).test_client()
    owner, stranger = make_user(example, "owner"), make_user(example, "stranger")
    status, body = submit_archive(client, owner, crashing_archive)
    assert status == 201, body
    url = f"/api/v1/submissions/{body['id']}/cancel"
    assert client.post(url, headers={"Authorization": f"Bearer {stranger}"}).status_code == 404
    response = client.post(url, headers={"Authorization": f"Bearer {owner}"})
    assert response.status_code == 200 and response.get_json()["state"] == "cancelled"
    again = client.post(url, headers={"Authorization": f"Bearer {owner}"})
    assert again.status_code == 409 and "already cancelled" in again.get_json()["error"]
    # A cancelled submission still took its place; the participant sees what is left.
    limits = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/limits",
                        headers={"Authorization": f"Bearer {owner}"}).get_json()
    assert limits["used_today"] == 1 and limits["remaining_today"] == limits["per_day"] - 1
    assert limits["next_frees_at"] is not None


def test_the_job_timeout_outlasts_the_longest_run_a_phase_may_allow(settings: Settings) -> None:
    """Defect 5: RQ's job timeout (6 h) was shorter than a phase's longest time limit (24 h)."""
    from app.challenge_yaml import MAX_TIME_LIMIT_SECONDS, Limits

    assert Limits.model_fields["time_limit_seconds"].metadata[-1].le == MAX_TIME_LIMIT_SECONDS
    make_enqueuer(settings, needs_gpu=lambda _: False)(4242)
    connection = redis_connection(settings)
    job_id = connection.get(latest_job_key(settings, 4242)).decode()
    job = Job.fetch(job_id, connection=connection)
    # The participant's container and the organiser's evaluator may each run for the phase's time limit.
    assert job.timeout == JOB_TIMEOUT_SECONDS >= 2 * MAX_TIME_LIMIT_SECONDS
    job.delete()
    connection.delete(latest_job_key(settings, 4242))


def test_the_leaderboard_title_is_text_only(example: Resources, settings: Settings) -> None:
    """Defect 7: the rank figure's markup was inside <title>."""
    from flask import render_template

    from app.queries.leaderboard import build_leaderboard
    from app.queries.phases import get_phase

    app = create_app(settings, enqueue=lambda _: None)

    class WithRankFigure:
        figures = {"ranks.svg": "analyses/x/ranks.svg"}
        document: dict[str, object] = {}
        created_at = utcnow()

    with app.test_request_context(), example.session() as session:
        phase = get_phase(session, CHALLENGE, PHASE)
        page = render_template("leaderboard.html", phase=phase, board=build_leaderboard(session, phase),
                               ranking={}, uncertainty={}, paired={}, analysis=WithRankFigure(),
                               version_links=[], version_arg={})
    title = page.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and "figure" not in title
    assert page.count("ranks.svg") == 1 and page.index("ranks.svg") > page.index("</title>")


def test_readers_upload_with_the_queue_down_is_stored_and_answered(example: Resources, settings: Settings) -> None:
    """The readers file is stored; the analysis follows when the reconciler sees the changed settings."""
    down = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
    client = create_app(down, enqueue=lambda _: None).test_client()
    token = make_user(example, "organiser-on-call")
    with example.session() as session:
        phase = session.scalars(select(Phase)).first()
        assert phase is not None
        add_organiser(session, phase.challenge, "organiser-on-call")
        case = phase.current_test_set.cases[0].case_key  # type: ignore[union-attr]
    response = client.put(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/readers",
                          data=f"case_id,reader,score\n{case},r1,1\n".encode(),
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    assert response.status_code == 200, response.get_json()
    with example.session() as session:
        assert (session.scalars(select(Phase)).first().analysis or {}).get("readers_key")  # type: ignore[union-attr]


def test_control_bytes_never_reach_the_database_in_a_comment(  # type: ignore[no-untyped-def]
        example: Resources, settings: Settings, crashing_archive: Path) -> None:
    client = create_app(settings, enqueue=lambda _: None).test_client()
    status, body = submit_archive(client, make_user(example, "nul-byte"), crashing_archive, "a\0b\x1bc")
    assert status == 201, body
    assert body["comment"] == "abc"
