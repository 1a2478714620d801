"""Per-case mode stops every case run: a cancel (the attempt's lease lost) and a run killed from outside Podium
(the platform's fault) end the runs still going and start no more; no container of the submission is left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from app.pipeline.per_case import run_cases
from app.pipeline.persist import LeaseLost
from app.pipeline.plan import AttemptPlan, CasePlan
from app.pipeline.run import SUBMISSION_LABEL, LoadedImage, stop_containers
from runners.docker_runner import DockerRunner, RunnerError
from runners.sandbox import SandboxPolicy
from tests.fixtures.docker_engine import new_runner_scope

pytestmark = pytest.mark.docker
SUBMISSION = 990_001
CASES = ["c1", "c2", "c3", "c4", "c5", "c6"]


@pytest.fixture
def runner(docker_client: docker.DockerClient) -> Iterator[DockerRunner]:
    scope = new_runner_scope()
    yield DockerRunner(docker_client, scope=scope)
    for container in docker_client.containers.list(all=True, filters={"label": f"podium.scope={scope}"}):
        container.remove(force=True)


def _plan() -> AttemptPlan:
    policy = SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=64, cpus=1.0, pids=16, tmp_mb=4,
                                       output_mb=1, log_kb=16)
    return AttemptPlan(submission_id=SUBMISSION, owner="test", upload_key="", image_tags=[], image_config_digest=None,
                       test_set_id=0, storage_prefix="", content_hash="", cases=[CasePlan(i, c, {}) for i, c in
                                                                                  enumerate(CASES)],
                       inputs=[], outputs=[], ground_truth=[], metrics=[], evaluator=None, case_metadata={},
                       missing_cases="fail", split_column=None, cluster_by=None, policy=policy, run_mode="per-case",
                       cases_in_parallel=2)


def _inputs(tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    for case in CASES:
        (root / case).mkdir(parents=True)
    return root


def _running(client: docker.DockerClient, runner: DockerRunner, count: int) -> list[docker.models.containers.Container]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.containers.list(filters={"label": [f"podium.scope={runner.scope}",
                                                          f"{SUBMISSION_LABEL}={SUBMISSION}"], "status": "running"})
        if len(found) >= count:
            return found
        time.sleep(0.05)
    pytest.fail(f"{count} case runs did not start")


def _image(client: docker.DockerClient, runner: DockerRunner, image_factory) -> LoadedImage:  # type: ignore[no-untyped-def]
    tag = image_factory('FROM podium-test/busybox:latest\nENTRYPOINT ["sleep", "30"]\n')
    return LoadedImage(runner, SUBMISSION, client.images.get(tag).id or "")


@pytest.mark.parametrize("how", ["cancel", "outside kill"])
def test_every_case_run_stops(how: str, docker_client: docker.DockerClient, runner: DockerRunner, tmp_path: Path,
                              busybox_image: str, image_factory) -> None:  # type: ignore[no-untyped-def]
    image = _image(docker_client, runner, image_factory)
    lost = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def attempt() -> None:
        try:
            run_cases(runner, _plan(), image, inputs_root=_inputs(tmp_path), work_dir=tmp_path,
                      lease_lost=lost.is_set)
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    thread = threading.Thread(target=attempt)
    started = time.monotonic()
    thread.start()
    running = _running(docker_client, runner, 2)
    assert len(running) == 2  # cases_in_parallel
    if how == "cancel":  # what the heartbeat does when the lease is lost: mark it, stop the submission's containers
        lost.set()
        stop_containers(runner, SUBMISSION)
    else:
        running[0].kill()
    thread.join(60)
    assert not thread.is_alive()
    assert time.monotonic() - started < 25  # not 3 x 30 s: the runs still going were stopped, no more started
    expected = LeaseLost if how == "cancel" else RunnerError
    assert isinstance(outcome["error"], expected), outcome
    left = docker_client.containers.list(all=True, filters={"label": f"podium.scope={runner.scope}"})
    assert left == []
    # Only the first two cases ever got an output folder: nothing started after the stop.
    assert sorted(p.name for p in (tmp_path / "output").iterdir() if not p.name.startswith(".")) == ["c1", "c2"]
