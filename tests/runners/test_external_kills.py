"""A run stopped by something other than Podium is an infrastructure fault, never the participant's.

Another installation's housekeeping, or an operator, may `docker kill`, `docker stop` or `docker rm -f` a
container while it runs. The engine's own events tell such a kill from a container that exits with code 137
by itself. Real engine, no mocks: the interference comes from another thread, as it would from another process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from runners.docker_runner import DockerRunner, RunnerError, RunResult
from runners.sandbox import SandboxPolicy
from tests.fixtures.docker_engine import wait_for_running

pytestmark = pytest.mark.docker

POLICY = SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=128, cpus=1, pids=16, tmp_mb=1, output_mb=1,
                                   log_kb=16)

Interference = Callable[[docker.DockerClient, Container], None]


class _Interferer(threading.Thread):
    """Waits until the runner's container runs, then does something to it, as another process would."""

    def __init__(self, client: docker.DockerClient, scope: str, action: Interference, delay: float) -> None:
        super().__init__(name="interferer", daemon=True)
        self._client, self._scope, self._action, self._delay = client, scope, action, delay
        self.done = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            container = wait_for_running(self._client, self._scope)
            time.sleep(self._delay)
            self._action(self._client, container)
            self.done = True
        except BaseException as exc:  # checked by the test thread
            self.error = exc

    def finish(self) -> None:
        self.join(30)
        assert not self.is_alive() and self.error is None and self.done, self.error


def _run_while(runner: DockerRunner, image: str, io_dirs: tuple[Path, Path], command: list[str],
               action: Interference, delay: float = 0.2) -> RunResult:
    interferer = _Interferer(runner.client, runner.scope, action, delay)
    interferer.start()
    try:
        return runner.run(image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=POLICY, command=command)
    finally:
        interferer.finish()


def _kill(client: docker.DockerClient, container: Container) -> None:
    client.api.kill(container.id)


def _stop(client: docker.DockerClient, container: Container) -> None:
    client.api.stop(container.id, timeout=1)  # sleep as PID 1 ignores SIGTERM: SIGKILL a second later


def _restart(client: docker.DockerClient, container: Container) -> None:
    client.api.restart(container.id, timeout=0)


def _force_remove(client: docker.DockerClient, container: Container) -> None:
    client.api.remove_container(container.id, force=True)


@pytest.mark.parametrize("action", [_kill, _stop, _restart], ids=["docker-kill", "docker-stop", "docker-restart"])
def test_a_kill_from_outside_is_an_infrastructure_fault(action: Interference, runner: DockerRunner,
                                                        busybox_image: str, io_dirs: tuple[Path, Path]) -> None:
    started = time.monotonic()
    result = _run_while(runner, busybox_image, io_dirs, ["sleep", "600"], action)

    assert result.killed_externally and result.is_infrastructure_fault and not result.succeeded
    assert not result.timed_out and not result.oom_killed
    assert time.monotonic() - started < 30
    message = result.failure_message()
    assert message is not None and "something other than Podium" in message
    assert "exited with code" not in message and "limit" not in message


def test_a_graceful_exit_on_an_outside_stop_is_still_no_success(runner: DockerRunner, busybox_image: str,
                                                                io_dirs: tuple[Path, Path]) -> None:
    """Stopped from outside, the container exits 0 on SIGTERM; its run was still cut short."""
    script = "trap 'echo interrupted >&2; exit 0' TERM; sleep 600 & wait"
    result = _run_while(runner, busybox_image, io_dirs, ["sh", "-c", script], _stop, delay=1.0)

    assert result.exit_code == 0 and result.stderr == b"interrupted\n"
    assert result.killed_externally and not result.succeeded and not result.timed_out


@pytest.mark.parametrize("command", [
    ["sh", "-c", "echo 'out of patience' >&2; exit 137"],
    ["sh", "-c", "echo 'out of patience' >&2; sleep 600 & kill -KILL $!; wait $!"],  # SIGKILL from inside
    ["python3", "-c", "import sys; sys.stderr.write('out of patience\\n'); sys.exit(137)"],
    ["python3", "-c", "import os; os.write(2, b'out of patience\\n'); os._exit(137)"],
], ids=["sh-exit", "sh-inner-sigkill", "python-sys-exit", "python-os-exit"])
def test_exiting_137_by_itself_is_the_participants_own(command: list[str], runner: DockerRunner,
                                                       request: pytest.FixtureRequest,
                                                       io_dirs: tuple[Path, Path]) -> None:
    image = request.getfixturevalue("python_base_image" if command[0] == "python3" else "busybox_image")
    result = runner.run(image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=POLICY, command=command)

    assert result.exit_code == 137 and not result.succeeded
    assert not result.killed_externally and not result.is_infrastructure_fault
    assert not result.timed_out and not result.oom_killed
    message = result.failure_message()
    assert message is not None and message.startswith("the container exited with code 137: ")
    assert b"out of patience" in result.stderr


def test_a_container_removed_mid_run_is_a_runner_error(runner: DockerRunner, busybox_image: str,
                                                       io_dirs: tuple[Path, Path]) -> None:
    started = time.monotonic()
    with pytest.raises(RunnerError, match="removed by something other than Podium"):
        _run_while(runner, busybox_image, io_dirs, ["sleep", "600"], _force_remove)
    assert time.monotonic() - started < 30
    assert runner.client.containers.list(all=True, filters={"label": f"podium.scope={runner.scope}"}) == []


def test_an_undisturbed_run_is_not_killed_externally(runner: DockerRunner, busybox_image: str,
                                                     io_dirs: tuple[Path, Path]) -> None:
    result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=POLICY,
                        command=["sh", "-c", "sleep 1; echo fine"])
    assert result.succeeded and result.stdout == b"fine\n" and not result.killed_externally
