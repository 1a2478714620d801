"""Installations sharing one engine: each one's housekeeping touches only its own containers."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from runners.docker_runner import ROLE_LABEL, SCOPE_ENV, SCOPE_LABEL, DockerRunner, RunResult, in_scope
from runners.orphans import remove_orphans
from runners.sandbox import SandboxPolicy
from tests.fixtures.docker_engine import wait_for_running

pytestmark = pytest.mark.docker


@pytest.fixture
def scopes() -> tuple[str, str]:
    return f"test-a-{uuid.uuid4().hex[:8]}", f"test-b-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def parked(docker_client: docker.DockerClient, busybox_image: str,
           scopes: tuple[str, str]) -> Iterator[dict[str, docker.models.containers.Container]]:
    """A never-started algorithm container of submission 7 in each scope."""
    made = {scope: docker_client.containers.create(busybox_image, ["true"], network_mode="none",
                                                   labels={ROLE_LABEL: "algorithm", "podium.submission": "7",
                                                           SCOPE_LABEL: scope})
            for scope in scopes}
    yield made
    for container in made.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _exists(client: docker.DockerClient, container: docker.models.containers.Container) -> bool:
    return bool(client.containers.list(all=True, filters={"id": container.id}))


def test_a_scope_is_always_explicit(docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCOPE_ENV, "staging")  # never a fallback: a forgotten scope fails loudly instead
    with pytest.raises(TypeError):
        DockerRunner(docker_client)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DockerRunner(docker_client, "auto", "staging")  # type: ignore[call-arg,misc]  # keyword only
    with pytest.raises(TypeError):
        DockerRunner.from_env()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        remove_orphans(docker_client, lambda _sid: False)  # type: ignore[call-arg]
    for bad in ["", "  ", None]:
        with pytest.raises(ValueError, match="scope"):
            DockerRunner(docker_client, scope=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="scope"):
            DockerRunner.from_env(scope=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="scope"):
            remove_orphans(docker_client, lambda _sid: False, scope=bad)  # type: ignore[arg-type]
    assert DockerRunner(docker_client, scope="production").scope == "production"
    assert in_scope({SCOPE_LABEL: "staging"}, "staging")
    assert not in_scope({SCOPE_LABEL: "staging"}, "production") and not in_scope({}, "staging")


def test_cleanup_and_orphan_removal_stay_in_their_scope(docker_client: docker.DockerClient,
                                                        scopes: tuple[str, str], parked) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = scopes
    assert DockerRunner(docker_client, scope=mine).cleanup({"podium.submission": "7"}) == 1
    assert not _exists(docker_client, parked[mine]) and _exists(docker_client, parked[theirs])

    assert remove_orphans(docker_client, lambda _sid: False, scope=mine) == []  # theirs is not mine
    assert _exists(docker_client, parked[theirs])
    assert remove_orphans(docker_client, lambda _sid: False, scope=theirs) == [7]
    assert not _exists(docker_client, parked[theirs])


def test_runs_are_labelled_with_the_scope(docker_client: docker.DockerClient, busybox_image: str,
                                          scopes: tuple[str, str], tmp_path: Path) -> None:
    scope = scopes[0]
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    policy = SandboxPolicy.from_limits(time_limit_seconds=30, memory_mb=64, cpus=1, pids=16, tmp_mb=1,
                                       output_mb=1, log_kb=16)
    runner = DockerRunner(docker_client, scope=scope)
    thread = threading.Thread(target=runner.run, args=(busybox_image,), daemon=True,
                              kwargs=dict(input_dir=tmp_path / "in", output_dir=tmp_path / "out", policy=policy,
                                          command=["sleep", "3"]))
    thread.start()
    seen = []
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        seen = docker_client.containers.list(filters={"label": f"{SCOPE_LABEL}={scope}"})
        time.sleep(0.2)
    thread.join(30)
    assert len(seen) == 1 and seen[0].labels[ROLE_LABEL] == "algorithm"


def test_housekeeping_never_touches_a_running_container_of_another_scope(
        docker_client: docker.DockerClient, busybox_image: str, scopes: tuple[str, str], tmp_path: Path) -> None:
    """Installation B runs submission 7 while installation A, whose database holds no live submission 7,
    cleans up and sweeps orphans on the same engine: B's run is untouched and ends as it would alone."""
    a, b = scopes
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    policy = SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=64, cpus=1, pids=16, tmp_mb=1,
                                       output_mb=1, log_kb=16)
    outcome: list[RunResult | BaseException] = []

    def run_b() -> None:
        try:
            outcome.append(DockerRunner(docker_client, scope=b).run(
                busybox_image, input_dir=tmp_path / "in", output_dir=tmp_path / "out", policy=policy,
                labels={"podium.submission": "7"}, command=["sh", "-c", "sleep 3; echo done"]))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run_b, daemon=True)
    thread.start()
    running = wait_for_running(docker_client, b)
    runner_a = DockerRunner(docker_client, scope=a)
    assert runner_a.cleanup({ROLE_LABEL: "algorithm"}) == 0
    assert runner_a.cleanup({"podium.submission": "7"}) == 0
    assert remove_orphans(docker_client, lambda _sid: False, scope=a) == []
    running.reload()
    assert running.status == "running"
    thread.join(60)
    assert not thread.is_alive() and len(outcome) == 1
    result = outcome[0]
    assert isinstance(result, RunResult), result
    assert result.succeeded and result.stdout == b"done\n"
    assert not result.killed_externally and not result.is_infrastructure_fault
