"""Sharded runs (limits.shards, app/pipeline/shards.py): the test set in parts run by several workers at once, merged
into one result; a failed shard is reported precisely, and one lost for the platform's reasons is retried alone.
Real workers (processes, and a burst worker in this process), Redis, SQLite, local storage and the Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from app import create_app
from app.models import Challenge, EvaluationRun, Phase, Submission, SubmissionShard
from app.pipeline.shards import partition
from app.resources import Resources
from app.tasks.worker import run_worker
from tests.faults.conftest import _descendants, fault_settings, wait_for
from tests.integration.helpers import CHALLENGE, apply_example, make_user, submit_archive

pytestmark = pytest.mark.docker


def _shards(resources: Resources, count: int) -> None:
    with resources.session() as session:
        challenge_id = session.scalar(select(Challenge.id).where(Challenge.slug == CHALLENGE))
        session.execute(update(Phase).where(Phase.challenge_id == challenge_id).values(shards=count))


def _rows(resources: Resources, submission_id: int) -> list[SubmissionShard]:
    with resources.session() as session:
        rows = session.scalars(select(SubmissionShard).where(SubmissionShard.submission_id == submission_id)
                               .order_by(SubmissionShard.shard)).all()
        session.expunge_all()
        return list(rows)


def _submission(resources: Resources, submission_id: int) -> Submission:
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        session.expunge(submission)
        return submission


def test_the_parts_are_contiguous_and_even() -> None:
    keys = [f"c{i:03d}" for i in range(10)]
    assert partition(keys, 3) == [keys[0:4], keys[4:7], keys[7:10]]
    assert partition(keys[:2], 3) == [keys[0:1], keys[1:2], []]


def test_a_sharded_run_scores_exactly_as_one_run(resources: Resources, settings, baseline_archives,  # type: ignore[no-untyped-def]
                                                 monkeypatch) -> None:
    apply_example(resources)
    client = create_app(settings).test_client()
    archive = baseline_archives["logistic-regression"].archive
    status, whole = submit_archive(client, make_user(resources, "whole"), archive)
    assert status == 201, whole
    run_worker(settings, burst=True)
    _shards(resources, 3)
    status, parts = submit_archive(client, make_user(resources, "parts"), archive)
    assert status == 201, parts
    run_worker(settings, burst=True)  # this worker coordinates and, alone, runs every shard itself

    board = client.get(f"/api/v1/challenges/{CHALLENGE}/phases/test/leaderboard").get_json()
    rows = {row["participant"]: row["scores"] for row in board["rows"]}
    assert rows["parts"] == rows["whole"]  # every metric, value and interval: the same 228 predictions
    shards = _rows(resources, parts["id"])
    assert [(s.shard, s.state, s.attempts, s.exit_code) for s in shards] == [(i, "done", 1, 0) for i in range(3)]
    with resources.session() as session:
        run = session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == parts["id"]))
        assert run is not None and run.cases_valid == 228 and run.exit_code == 0
        assert run.container_seconds == pytest.approx(sum(s.wall_seconds or 0 for s in shards))
    log = resources.store.get_bytes(f"submissions/{parts['id']}/logs/stdout.txt").decode()
    assert "==> shard 1 of 3 (cases" in log and "==> shard 3 of 3 (cases" in log


def test_a_failing_shard_fails_the_submission_naming_its_cases(resources: Resources, settings,  # type: ignore[no-untyped-def]
                                                               crashing_archive: Path) -> None:
    apply_example(resources)
    _shards(resources, 2)
    client = create_app(settings).test_client()
    status, created = submit_archive(client, make_user(resources, "lab"), crashing_archive)
    assert status == 201, created
    run_worker(settings, burst=True)
    submission = _submission(resources, created["id"])
    assert submission.state == "failed" and not submission.failure_is_infrastructure  # the participant's fault
    assert (submission.failure_message or "").startswith("shard 1 of 2 (cases ")
    assert "exited with code 3" in (submission.failure_message or "")


def test_shards_run_on_two_workers_and_one_lost_with_its_worker_is_retried_alone(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch, slow_archive, start_worker) -> None:
    settings, env = fault_settings(tmp_path, monkeypatch)
    resources = Resources(settings)
    try:
        from tests.conftest import migrate

        migrate(settings.database_url)
        apply_example(resources)
        _shards(resources, 2)
        status, created = submit_archive(create_app(settings).test_client(), make_user(resources, "lab"),
                                         slow_archive)
        assert status == 201, created
        sid = created["id"]
        workers = [start_worker(env), start_worker(env)]

        def both_running() -> bool:
            rows = _rows(resources, sid)
            return len(rows) == 2 and all(r.state == "running" for r in rows)

        wait_for(both_running, 90, "both shards to run")
        rows = _rows(resources, sid)
        hosts = {(r.claimed_by or "").split("/")[0] for r in rows}
        assert len(hosts) == 2, rows  # two work horses, one per worker process, each with a shard at once
        coordinator = (_submission(resources, sid).lease_owner or "").split("/")[0]
        helped = next(r for r in rows if (r.claimed_by or "").split("/")[0] != coordinator)
        helper_pid = int((helped.claimed_by or "").split("/")[0].rsplit(":", 1)[1])
        victim = next(w for w in workers if helper_pid in _descendants(w.process.pid))
        victim.kill9()  # the helping worker dies mid-shard: its lease runs out, the coordinator takes the shard over

        wait_for(lambda: _submission(resources, sid).state.is_final, 120, "the submission to finish")
        assert _submission(resources, sid).state == "succeeded"
        final = {r.shard: r for r in _rows(resources, sid)}
        assert final[helped.shard].attempts == 2 and final[helped.shard].infrastructure_faults == 1
        other = final[1 - helped.shard]
        assert other.attempts == 1 and other.infrastructure_faults == 0  # kept, not run again
        with resources.session() as session:
            run = session.scalar(select(EvaluationRun).where(EvaluationRun.submission_id == sid))
            assert run is not None and run.cases_valid == 228
    finally:
        resources.close()
