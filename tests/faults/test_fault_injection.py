"""A submission survives worker crashes and service restarts and is scored exactly once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest
from sqlalchemy import func, select

from app import create_app
from app.models import EvaluationRun, Score, Submission, SubmissionState
from app.resources import Resources
from tests.conftest import migrate
from tests.faults.conftest import SLOW_SECONDS, fault_settings, wait_for
from tests.fixtures.seaweedfs import start_seaweedfs
from tests.integration.helpers import apply_example, make_user, submit_archive

S = SubmissionState


def _prepare(settings, archive: Path, count: int = 1) -> tuple[Resources, list[int]]:  # type: ignore[no-untyped-def]
    migrate(settings.database_url)
    resources = Resources(settings)
    apply_example(resources)
    client = create_app(settings).test_client()
    token = make_user(resources, "survivor")
    ids = []
    for _ in range(count):
        status, body = submit_archive(client, token, archive)
        assert status == 201, body
        ids.append(body["id"])
    return resources, ids


def _submission(resources: Resources, submission_id: int) -> Submission:
    with resources.session() as session:
        return session.get(Submission, submission_id)


def _assert_scored_once(resources: Resources, submission_id: int) -> Submission:
    submission = _submission(resources, submission_id)
    assert submission.state == S.SUCCEEDED, submission.failure_message
    with resources.session() as session:
        runs = session.scalars(select(EvaluationRun).where(EvaluationRun.submission_id == submission_id)).all()
        assert len(runs) == 1
        assert session.scalar(select(func.count(Score.id)).where(Score.run_id == runs[0].id)) == 2
        assert runs[0].cases_valid == 228
    return submission


def _containers_of(client: docker.DockerClient, submission_id: int, scope: str) -> list:  # type: ignore[type-arg]
    """This test's containers of the submission: another test session (or an earlier one, interrupted) on the same
    engine numbers its submissions from 1 too, and may have left an exited container behind."""
    return client.containers.list(all=True, filters={"label": [f"podium.submission={submission_id}",
                                                               f"podium.scope={scope}"]})


def test_kill_9_of_a_worker_mid_run(tmp_path, monkeypatch, slow_archive, start_worker, docker_client) -> None:  # type: ignore[no-untyped-def]
    settings, env = fault_settings(tmp_path, monkeypatch)
    resources, [sid] = _prepare(settings, slow_archive)
    first = start_worker(env)
    wait_for(lambda: len(_containers_of(docker_client, sid, settings.runner_scope)) == 1, 60,
             "the container to start")
    first.kill9()
    orphan = _containers_of(docker_client, sid, settings.runner_scope)
    assert len(orphan) == 1  # the engine keeps running the dead worker's container

    start_worker(env)
    wait_for(lambda: _submission(resources, sid).state.is_final, 180, "the submission to finish elsewhere")
    submission = _assert_scored_once(resources, sid)
    assert submission.attempts == 2 and submission.infrastructure_faults == 1
    assert not submission.failure_is_infrastructure
    wait_for(lambda: _containers_of(docker_client, sid, settings.runner_scope) == [], 20,
             "the orphaned container to go")
    runs = settings.worker_cache_dir / "runs"
    wait_for(lambda: list(runs.iterdir()) == [], 20, "the work folders of both attempts to go")


def test_redis_restart_loses_no_queued_submission(tmp_path, monkeypatch, private_redis, slow_archive,  # type: ignore[no-untyped-def]
                                                  start_worker) -> None:
    settings, env = fault_settings(tmp_path, monkeypatch, REDIS_URL=private_redis.url)
    resources, ids = _prepare(settings, slow_archive, count=2)
    private_redis.stop()
    private_redis.start()  # an empty Redis: the queue is gone
    start_worker(env)
    wait_for(lambda: all(_submission(resources, i).state.is_final for i in ids), 120, "both submissions")
    for submission_id in ids:
        _assert_scored_once(resources, submission_id)


def test_an_s3_outage_is_retried_until_storage_returns(tmp_path, monkeypatch, slow_archive,  # type: ignore[no-untyped-def]
                                                       start_worker) -> None:
    s3 = start_seaweedfs(tmp_path / "s3")
    try:
        settings, env = fault_settings(tmp_path, monkeypatch, STORAGE_URL="s3://podium-faults",
                                       S3_ENDPOINT_URL=s3.endpoint, MAX_INFRASTRUCTURE_FAULTS="10")
        resources, [sid] = _prepare(settings, slow_archive)
        s3.stop()
        start_worker(env)
        wait_for(lambda: _submission(resources, sid).infrastructure_faults >= 1, 60, "a storage fault")
        assert _submission(resources, sid).state in (S.QUEUED, S.RUNNING)
        s3.start()
        wait_for(lambda: _submission(resources, sid).state.is_final, 120, "the submission to finish")
        submission = _assert_scored_once(resources, sid)
        assert submission.infrastructure_faults >= 1
    finally:
        s3.stop()


def test_an_s3_outage_past_the_retry_budget_fails_as_the_platforms_fault(tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                        slow_archive, start_worker) -> None:
    s3 = start_seaweedfs(tmp_path / "s3")
    try:
        settings, env = fault_settings(tmp_path, monkeypatch, STORAGE_URL="s3://podium-faults",
                                       S3_ENDPOINT_URL=s3.endpoint, MAX_INFRASTRUCTURE_FAULTS="2")
        resources, [sid] = _prepare(settings, slow_archive)
        s3.stop()
        start_worker(env)
        wait_for(lambda: _submission(resources, sid).state.is_final, 120, "the retry budget to run out")
        submission = _submission(resources, sid)
        assert submission.state == S.FAILED and submission.failure_is_infrastructure
        assert submission.infrastructure_faults == 2
        assert submission.failure_message.startswith(
            "the platform failed while evaluating this submission (storage was unavailable)")
    finally:
        s3.stop()


def test_a_docker_engine_restart_during_a_run(tmp_path, monkeypatch, slow_archive, start_worker,  # type: ignore[no-untyped-def]
                                              docker_client) -> None:
    settings, env = fault_settings(tmp_path, monkeypatch, MAX_INFRASTRUCTURE_FAULTS="5")
    resources, [sid] = _prepare(settings, slow_archive)
    start_worker(env)
    wait_for(lambda: len(_containers_of(docker_client, sid, settings.runner_scope)) == 1, 60,
             "the container to start")
    subprocess.run(["pkill", "-KILL", "-x", "dockerd"], check=True)  # the engine crashes mid-run
    wait_for(lambda: subprocess.run(["pgrep", "-x", "dockerd"]).returncode != 0, 60, "dockerd to stop")
    subprocess.run(["bash", "scripts/ensure-docker.sh"], check=True, cwd=Path(__file__).resolve().parents[2])
    wait_for(lambda: _submission(resources, sid).state.is_final, 180, "the submission to finish")
    submission = _assert_scored_once(resources, sid)
    assert submission.infrastructure_faults >= 1


@pytest.fixture
def postgres_cluster() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    return versions[0]


def test_a_postgresql_restart_during_a_run(tmp_path, monkeypatch, postgres_url, postgres_cluster,  # type: ignore[no-untyped-def]
                                           slow_archive, start_worker, docker_client) -> None:
    settings, env = fault_settings(tmp_path, monkeypatch, DATABASE_URL=postgres_url, LEASE_SECONDS="30")
    resources, [sid] = _prepare(settings, slow_archive)
    start_worker(env)
    wait_for(lambda: len(_containers_of(docker_client, sid, settings.runner_scope)) == 1, 60,
             "the container to start")
    resources.engine.dispose()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", postgres_cluster, "main", "restart"],
                   check=True, timeout=120)
    wait_for(lambda: _submission(resources, sid).state.is_final, 120 + SLOW_SECONDS, "the submission to finish")
    _assert_scored_once(resources, sid)
