"""The platform image (scripts/build-platform-image.sh) runs each of Podium's roles with no network at all.

Containers get network "none", so Redis reaches them over a unix socket: a private redis-server for this module,
its folder bind-mounted. SQLite and file storage live in a named volume at the image's data folder. Every
container, the volume and the Redis server are this module's own (unique names and a run label) and are removed
at the end; no other container is touched.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from redis import Redis
from rq import Worker

from app.db_migrations import head_revision

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"podium/platform:{VERSION}"
DATA_DIR = "/var/lib/podium"  # PODIUM_DATA_DIR in the image
REDIS_DIR = "/run/podium-redis"  # where the Redis socket's folder is mounted in the containers
RUN_ID = uuid.uuid4().hex[:12]
NAME_PREFIX = f"podium-test-platform-{RUN_ID}"
LABELS = {"podium-test": "platform-image", "podium-test-run": RUN_ID}
READY_PROBE = """\
import urllib.error, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:5000/ready", timeout=5) as response:
        print(response.status, response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
"""


@dataclass(frozen=True)
class Deployment:
    """What the containers of one deployment share: the image, the settings and the mounts."""

    image: str
    environment: dict[str, str]
    volumes: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def platform_image(docker_client: docker.DockerClient, python_base_image: str) -> str:
    """The image, built (or found up to date) by the script; a second run is cached."""
    started = time.monotonic()
    result = subprocess.run(["bash", "scripts/build-platform-image.sh"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=1500)
    if result.returncode != 0:
        pytest.fail(f"build-platform-image.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    print(f"built {IMAGE} in {time.monotonic() - started:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def redis_socket() -> Iterator[Path]:
    """A private redis-server listening only on a unix socket (no TCP port), in a folder of its own."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.fail("redis-server is not installed (scripts/ensure-services.sh installs it)")
    folder = Path(tempfile.mkdtemp(prefix="podium-test-redis-"))
    folder.chmod(0o755)  # the containers' unprivileged user must reach the socket
    socket = folder / "redis.sock"
    process = subprocess.Popen(
        [redis_server, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "777", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(Exception), Redis(unix_socket_path=str(socket)) as redis:
                if redis.ping():
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the private redis-server did not start")
            time.sleep(0.1)
        yield socket
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def deployment(docker_client: docker.DockerClient, platform_image: str,
               redis_socket: Path) -> Iterator[Deployment]:
    """Settings and mounts shared by the containers; removes every container and the volume at the end."""
    volume = docker_client.volumes.create(name=f"{NAME_PREFIX}-data", labels=LABELS)
    environment = {
        "PODIUM_REDIS_URL": f"unix://{REDIS_DIR}/{redis_socket.name}",
        "PODIUM_STORAGE_URL": f"file://{DATA_DIR}/storage",
        "PODIUM_QUEUE": f"podium-test-{RUN_ID}",
        "PODIUM_SECRET_KEY": "test-secret",
    }
    volumes = {volume.name: {"bind": DATA_DIR, "mode": "rw"},
               str(redis_socket.parent): {"bind": REDIS_DIR, "mode": "rw"}}
    try:
        yield Deployment(platform_image, environment, volumes)
    finally:
        for container in docker_client.containers.list(all=True, filters={"label": f"podium-test-run={RUN_ID}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def start(client: docker.DockerClient, deployment: Deployment, role: str, *command: str) -> Container:
    container: Container = client.containers.run(
        deployment.image, list(command), name=f"{NAME_PREFIX}-{role}", labels=LABELS, detach=True,
        network_mode="none", environment=deployment.environment, volumes=deployment.volumes,
    )
    return container


def logs(container: Container) -> str:
    return container.logs(stdout=True, stderr=True).decode(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def upgraded(docker_client: docker.DockerClient, deployment: Deployment) -> str:
    """`podium db upgrade` in a container, on the empty SQLite database of the data volume; what it printed."""
    container = start(docker_client, deployment, "upgrade", "db", "upgrade")
    status = container.wait(timeout=300)
    printed = container.logs(stdout=True, stderr=False).decode()
    assert status["StatusCode"] == 0, f"podium db upgrade failed:\n{logs(container)}"
    container.remove()
    return printed


def test_db_upgrade_in_a_container_reaches_head(upgraded: str) -> None:
    assert upgraded.strip().splitlines()[-1] == f"database at revision {head_revision()}"


def test_web_answers_ready_inside_its_container(docker_client: docker.DockerClient,
                                               deployment: Deployment, upgraded: str) -> None:
    web = start(docker_client, deployment, "web", "web")
    assert web.attrs["HostConfig"]["NetworkMode"] == "none"
    uid = web.exec_run(["id", "-u"])
    assert uid.output.decode().strip() not in ("", "0"), "the image runs as root"
    deadline = time.monotonic() + 120
    answer = ""
    while time.monotonic() < deadline:
        web.reload()
        if web.status != "running":
            pytest.fail(f"podium web stopped ({web.status}):\n{logs(web)}")
        result = web.exec_run(["python", "-c", READY_PROBE])
        answer = result.output.decode(errors="replace").strip()
        if result.exit_code == 0 and answer.startswith("200 "):
            break
        time.sleep(1)
    else:
        pytest.fail(f"/ready did not answer 200 within 120 s; last answer: {answer!r}\n{logs(web)}")
    assert '"ready":true' in answer.replace(" ", "")


def test_worker_registers_with_rq(docker_client: docker.DockerClient, deployment: Deployment,
                                  upgraded: str, redis_socket: Path) -> None:
    worker = start(docker_client, deployment, "worker", "worker")
    queue_name = deployment.environment["PODIUM_QUEUE"]
    deadline = time.monotonic() + 120
    with Redis(unix_socket_path=str(redis_socket)) as redis:
        while time.monotonic() < deadline:
            worker.reload()
            if worker.status != "running":
                pytest.fail(f"podium worker stopped ({worker.status}):\n{logs(worker)}")
            if any(queue_name in registered.queue_names() for registered in Worker.all(connection=redis)):
                break
            time.sleep(1)
        else:
            pytest.fail(f"no RQ worker on queue {queue_name} within 120 s:\n{logs(worker)}")
