"""Fault injection on real processes: workers run as subprocesses and die by real signals."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from app.config import Settings
from runners.images import save_image
from tests.conftest import REPO_ROOT, podium_environment
from tests.fixtures.docker_engine import build_image, remove_image

SLOW_SECONDS = 6
SLOW_ALGORITHM = f"""\
import json, os, time
time.sleep({SLOW_SECONDS})
for case in json.load(open("/input/cases.json")):
    folder = os.path.join("/output", case["case_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "malignancy-likelihood.json"), "w") as handle:
        json.dump(0.5, handle)
"""


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class WorkerProcess:
    """`podium worker` in its own process group, so kill -9 takes its work horse too."""

    def __init__(self, env: dict[str, str], log_path: Path, args: list[str] | None = None) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", *(args or [])], cwd=REPO_ROOT,
                                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def kill9(self) -> None:
        """SIGKILL the worker and every descendant (RQ's work horse starts its own process group)."""
        family = [self.process.pid, *_descendants(self.process.pid)]
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for number, worker in enumerate(workers):
        worker.stop()
        print(f"--- the end of worker {number}'s log ---\n{worker.log()}")  # shown when the test failed


FAST_RECOVERY = {"LEASE_SECONDS": "3", "RECONCILE_SECONDS": "1", "RETRY_BACKOFF_SECONDS": "1"}


def fault_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> tuple[Settings, dict]:
    env = podium_environment(tmp_path, **{**FAST_RECOVERY, **overrides})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(env), env


@pytest.fixture(scope="session")
def slow_archive(docker_client: docker.DockerClient, python_base_image: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A valid algorithm that takes SLOW_SECONDS, long enough to be interrupted mid-run."""
    tag = "podium-test/slow:latest"
    build_image(docker_client, f'FROM {python_base_image}\nCOPY slow.py /slow.py\nCMD ["python3", "/slow.py"]\n',
                {"slow.py": SLOW_ALGORITHM}, tag)
    archive = tmp_path_factory.mktemp("slow") / "slow.tar.gz"
    save_image(docker_client, tag, archive)
    yield archive
    remove_image(docker_client, tag)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private Redis with no persistence (like the machine's), restartable on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), 10, "redis to start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
