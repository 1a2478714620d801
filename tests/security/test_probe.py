"""One hostile container probes the network, the hidden data, the host's files and the kernel.

The probe (tests/security/probe.py) writes its predictions only when every attempt failed, so the
submission succeeds exactly when the sandbox held; its report (stdout, kept by the platform) says how
each attempt was stopped, and the host side confirms that nothing arrived.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import docker
import pytest
from werkzeug.serving import make_server

from app import create_app
from app.config import Settings
from app.pipeline.staging import stage_ground_truth
from runners.sandbox import SandboxPolicy
from tests.conftest import EXAMPLE_CHALLENGE
from tests.security.images import HostileImages
from tests.security.instance import Platform

pytestmark = pytest.mark.docker

LOOPBACK_SERVICES = {"tcp 127.0.0.1:6379 (redis)", "tcp 127.0.0.1:5432 (postgresql)",
                     "tcp 127.0.0.1:8333 (s3 (seaweedfs))", "tcp 127.0.0.1:9000 (s3 (minio))",
                     "tcp 127.0.0.1:5000 (web server)", "tcp 127.0.0.1:2375 (docker api)"}
ATTACKS = LOOPBACK_SERVICES | {
    "tcp port scan of 127.0.0.1 and ::1",
    "tcp to the worker's own addresses",
    "dns lookup",
    "raw socket (AF_INET, SOCK_RAW)",
    "packet socket (AF_PACKET)",
    "vsock socket to the hypervisor (created, never connected)",
    "network interfaces and unix sockets of the host",
    "search the file system for ground truth and other submissions' files",
    "search every file's content for the canary planted next to the hidden data",
    "docker socket",
    "read other runs' inputs and outputs",
    "secrets in the environment",
    "write outside /output and /tmp",
    "device nodes (mknod)",
    "run programs written to /tmp, /dev/shm or /output",
    "setuid-root binary from the image",
    "run as root (the image says USER 0:0)",
    "capabilities, no_new_privs and seccomp",
    "kernel interfaces: user namespaces, mount, bpf, perf, keyrings, userfaultfd, io_uring, modules",
}


@contextmanager
def web_server(settings: Settings) -> Iterator[tuple[int, list[str]]]:
    """The real web app on a loopback port of the worker's machine, counting the requests it gets."""
    app = create_app(settings)
    seen: list[str] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        thread.join(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _plant(platform: Platform, canary: bytes) -> Path:
    """The canary next to everything a participant must never see: storage, data folder, staged truth."""
    test_set = platform.test_set()
    store = platform.resources.store
    store.put_bytes(f"{test_set.storage_prefix}/ground_truth/canary.bin", canary)
    (platform.settings.data_dir / "canary.bin").write_bytes(canary)
    truth = stage_ground_truth(store, storage_prefix=test_set.storage_prefix, content_hash=test_set.content_hash,
                               case_ids=test_set.case_ids, truth_paths=["malignant.json"],
                               cache_root=platform.settings.worker_cache_dir)
    (truth / "canary.bin").write_bytes(canary)
    return truth


def _report(platform: Platform, submission_id: int) -> dict[str, dict[str, Any]]:
    lines = platform.log(submission_id, "stdout").splitlines()
    report = [json.loads(line) for line in lines if line.startswith(b"{")]
    return {entry["attack"]: entry for entry in report}


def test_a_probing_container_finds_no_way_out(platform: Platform, hostile: HostileImages, baseline_archives,  # type: ignore[no-untyped-def]
                                             canary: bytes, worker_addresses: list[str],
                                             docker_client: docker.DockerClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_in_worker = {"AWS_SECRET_ACCESS_KEY": canary.decode(),
                         "DATABASE_URL": f"postgresql://podium:{canary.decode()}@127.0.0.1:5432/podium",
                         "REDIS_URL": "redis://127.0.0.1:6379/0"}
    for name, value in secrets_in_worker.items():
        monkeypatch.setenv(name, value)
    probe = hostile.probe({"host_ips": worker_addresses, "canary_sha256": hashlib.sha256(canary).hexdigest()})
    truth_dir = _plant(platform, canary)
    neighbour = platform.submit(platform.participant("neighbour"), baseline_archives["single-feature"].archive)
    attacker = platform.submit(platform.participant("attacker"), probe.archive)

    with web_server(platform.settings) as (port, requests_seen):
        with urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
            assert response.status == 200  # reachable from the worker's machine ...
        platform.drain()
    assert requests_seen == ["/ping"]  # ... and not one request from the container
    assert _listening(6379) and _listening(5432)  # Redis and PostgreSQL were there to be found

    result = platform.result(attacker)
    report = _report(platform, attacker)
    assert set(report) == ATTACKS
    assert {name: entry["detail"] for name, entry in report.items() if not entry["blocked"]} == {}
    assert result["state"] == "succeeded", result["failure_message"]
    assert result["failure_message"] is None and result["run"]["cases_valid"] == 228
    assert platform.log(attacker, "stdout").endswith(f"CONTAINED: {len(ATTACKS)} attacks, all blocked\n".encode())

    # How each attempt was stopped.
    for name in LOOPBACK_SERVICES:
        assert report[name]["detail"] == "ECONNREFUSED", name  # the container's own loopback: nobody there
    assert report["tcp port scan of 127.0.0.1 and ::1"]["detail"] == "no open port on loopback"
    if worker_addresses:
        assert report["tcp to the worker's own addresses"]["detail"] == '["ENETUNREACH"]'
    assert "ENETUNREACH" in report["dns lookup"]["detail"]
    for name in ("raw socket (AF_INET, SOCK_RAW)", "packet socket (AF_PACKET)",
                 "vsock socket to the hypervisor (created, never connected)"):
        assert report[name]["detail"] == "EPERM", name
    assert report["network interfaces and unix sockets of the host"]["detail"] == "interfaces ['lo'], 0 unix sockets"
    assert set(json.loads(report["device nodes (mknod)"]["detail"]).values()) == {"EPERM"}
    assert set(json.loads(report["run programs written to /tmp, /dev/shm or /output"]["detail"]).values()) == {
        "EACCES"}
    assert report["setuid-root binary from the image"]["detail"] == "effective uid 65534"
    assert report["run as root (the image says USER 0:0)"]["detail"].startswith("uid 65534 gid 65534")
    assert set(json.loads(report["kernel interfaces: user namespaces, mount, bpf, perf, keyrings, userfaultfd, "
                                 "io_uring, modules"]["detail"]).values()) == {"EPERM"}
    writes = json.loads(report["write outside /output and /tmp"]["detail"])
    assert set(writes.values()) <= {"EROFS", "EACCES", "ENOENT"}, writes
    assert {writes[key] for key in ("/input/probe", "rename /input/cases.json", "chmod /input/cases.json",
                                    "utime /input/cases.json", "/probe", "/usr/lib/probe")} == {"EROFS"}

    # The environment is the image's and the runner's, with no trace of the worker's secrets.
    environment = json.loads(report["secrets in the environment"]["detail"])
    image_env = {item.split("=", 1)[0] for item in docker_client.images.get(probe.image_id).attrs["Config"]["Env"]}
    runner_env = set(SandboxPolicy(1, 64 << 20, 10**9, 1, 1, 1, 1).environment())
    assert set(environment) <= image_env | runner_env | {"HOSTNAME", "LC_CTYPE"}  # LC_CTYPE: Python's own
    dumped = json.dumps(environment)
    assert canary.decode() not in dumped and platform.settings.secret_key not in dumped

    # The hidden data and the shared input cache are as they were; the neighbour was scored normally.
    assert (truth_dir / "canary.bin").read_bytes() == canary
    inputs = EXAMPLE_CHALLENGE / "data" / "test" / "inputs"
    cached = next((platform.settings.worker_cache_dir / "inputs").iterdir())
    for case in platform.test_set().case_ids:
        assert (cached / case / "nuclei-features.json").read_bytes() == (
            inputs / case / "nuclei-features.json").read_bytes()
    neighbour_result = platform.result(neighbour)
    assert neighbour_result["state"] == "succeeded", neighbour_result["failure_message"]
    assert neighbour_result["run"]["cases_valid"] == 228
