"""The compose stack (deploy/compose.yaml, scripts/stack.sh) on this machine: PostgreSQL, Redis, SeaweedFS, the
`db upgrade` one-off, the web site under gunicorn and a worker with its own Docker engine, all from images built
here. One submission goes through it the way an operator and a participant would: the example challenge applied
with `podium challenge apply` inside the web container, a baseline archive uploaded through the REST API, scored
by the stack's worker in its own engine, read back from the leaderboard.

The stack is this module's own: a unique compose project on free loopback ports, with its own env file; it is
torn down with its volumes at the end, failed or not. Image builds happen before the clock of the stack starts,
and are cached (scripts/build-stack-images.sh builds nothing when its inputs are unchanged). The figures it
measures (seconds from upload to scored, memory of each service idle and under the submission) are printed: run
with -s to read them (docs/operations.md, "The stack").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.cli.baselines import BaselineArchive
from tests.conftest import EXAMPLE_CHALLENGE
from tests.integration.helpers import CHALLENGE, PHASE, prepared_challenge

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = ["bash", str(REPO_ROOT / "scripts" / "stack.sh")]
SCORED_WITHIN_SECONDS = 240
FINAL_STATES = {"succeeded", "failed", "cancelled"}


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports p below 50000 with p and p + 10000 free (SeaweedFS serves gRPC on port + 10000)."""
    chosen: list[int] = []
    while len(chosen) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = 20000 + probe.getsockname()[1] % 25000
        pair = {port, port + 10000}
        if not pair & {p for c in chosen for p in (c, c + 10000)} and all(_is_free(p) for p in pair):
            chosen.append(port)
    return chosen


@dataclass(frozen=True)
class Stack:
    """A running stack: how to reach its site and how to run scripts/stack.sh against it."""

    url: str
    environment: dict[str, str]

    def run(self, *args: str, timeout: float = 300, stdin: str | None = None) -> str:
        result = subprocess.run([*STACK, *args], cwd=REPO_ROOT, env=self.environment, input=stdin,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"scripts/stack.sh {' '.join(args)} failed ({result.returncode}):\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def container(self, service: str) -> str:
        return self.run("compose", "ps", "-q", service).split()[0]

    def logs(self) -> str:
        result = subprocess.run([*STACK, "compose", "logs", "--no-color", "--tail", "40"], cwd=REPO_ROOT,
                                env=self.environment, capture_output=True, text=True, timeout=60)
        return result.stdout[-8000:]


@pytest.fixture(scope="module")
def stack_images() -> None:
    """Every image of the stack, built or found up to date (outside the stack's own time)."""
    started = time.monotonic()
    result = subprocess.run(["bash", "scripts/build-stack-images.sh"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=1500)
    if result.returncode != 0:
        pytest.fail(f"build-stack-images.sh failed:\n{result.stderr[-4000:]}")
    print(f"stack images ready in {time.monotonic() - started:.0f} s:\n{result.stderr.strip()}")


@pytest.fixture(scope="module")
def stack(stack_images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    web, db, redis, s3, master, volume, filer = free_ports(7)
    run_id = uuid.uuid4().hex[:10]
    environment = {
        **os.environ,
        "PODIUM_STACK_PROJECT": f"podium-test-stack-{run_id}",
        "PODIUM_STACK_ENV_FILE": str(tmp_path_factory.mktemp("stack") / "stack.env"),
        "PODIUM_STACK_SKIP_BUILD": "1",
        "PODIUM_STACK_WEB_PORT": str(web), "PODIUM_STACK_DB_PORT": str(db), "PODIUM_STACK_REDIS_PORT": str(redis),
        "PODIUM_STACK_S3_PORT": str(s3), "PODIUM_STACK_WEED_MASTER_PORT": str(master),
        "PODIUM_STACK_WEED_VOLUME_PORT": str(volume), "PODIUM_STACK_WEED_FILER_PORT": str(filer),
        "PODIUM_STACK_WEB_WORKERS": "2",
    }
    environment.pop("PODIUM_PUBLIC_URL", None)
    running = Stack(f"http://127.0.0.1:{web}", environment)
    started = time.monotonic()
    try:
        running.run("up", "1", timeout=400)
        print(f"stack up in {time.monotonic() - started:.0f} s")
        yield running
    finally:
        # No grace period: the data goes with the volumes anyway (SeaweedFS alone takes 15 s to stop gracefully).
        subprocess.run([*STACK, "down", "--volumes", "--timeout", "2"], cwd=REPO_ROOT, env=environment,
                       capture_output=True, timeout=300)


def memory_by_service(stack: Stack) -> dict[str, float]:
    """MiB of memory in use by each of the stack's containers (worker: its engine and its runs included)."""
    ids = stack.run("compose", "ps", "-q").split()
    result = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", *ids],
                            capture_output=True, text=True, timeout=120, check=True)
    usage = {}
    for line in result.stdout.splitlines():
        row = json.loads(line)
        used = row["MemUsage"].split("/")[0].strip()
        number, unit = float(used.rstrip("KMGiBk")), used.lstrip("0123456789.")
        usage[row["Name"]] = number * {"KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024,
                                       "GB": 1024, "B": 1 / 1024**2}.get(unit, 1)
    return usage


def test_one_submission_through_the_stack(stack: Stack, baseline_archives: dict[str, BaselineArchive]) -> None:
    idle = memory_by_service(stack)

    # The organiser applies the example challenge inside the web container.
    web = stack.container("web")
    folder = prepared_challenge(EXAMPLE_CHALLENGE)
    subprocess.run(["docker", "cp", str(folder), f"{web}:/tmp/challenge"], check=True, timeout=120)
    applied = stack.run("compose", "exec", "-T", "web", "podium", "challenge", "apply", "/tmp/challenge")
    assert CHALLENGE in applied
    token = stack.run("compose", "exec", "-T", "web", "podium", "user", "create", "stack-tester").split()[-1]
    headers = {"Authorization": f"Bearer {token}"}

    # A participant uploads a baseline through the API, as the CLI does.
    archive = baseline_archives["logistic-regression"].archive
    started = time.monotonic()
    with archive.open("rb") as body:
        response = requests.post(
            f"{stack.url}/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/submissions", params={"comment": "stack"},
            data=body, headers={**headers, "Content-Type": "application/octet-stream"}, timeout=120,
        )
    assert response.status_code == 201, response.text
    submission_id = response.json()["id"]

    under_load: dict[str, float] = {}
    submission: dict[str, Any] = {}
    while time.monotonic() - started < SCORED_WITHIN_SECONDS:
        submission = requests.get(f"{stack.url}/api/v1/submissions/{submission_id}", headers=headers,
                                  timeout=30).json()
        if submission.get("state") in FINAL_STATES:
            break
        if not under_load and submission.get("state") == "running":
            under_load = memory_by_service(stack)
        time.sleep(0.5)
    scored_after = time.monotonic() - started
    assert submission.get("state") == "succeeded", f"{submission}\n{stack.logs()}"
    assert submission["run"]["exit_code"] == 0
    assert submission["run"]["cases_valid"] == 228

    board = requests.get(f"{stack.url}/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/leaderboard", timeout=30)
    assert board.status_code == 200, board.text
    rows = board.json()["rows"]
    assert [row["participant"] for row in rows] == ["stack-tester"]
    assert rows[0]["submission_id"] == submission_id
    assert 0.9 < rows[0]["scores"]["auroc"]["value"] <= 1.0

    # The run happened in the worker's own engine: the submission's image was loaded there.
    images = stack.run("compose", "exec", "-T", "worker", "docker", "images", "--format", "{{.Repository}}")
    assert images.split(), "the worker's own engine holds no image: the run did not happen there"

    print(f"upload to scored through the stack: {scored_after:.1f} s")
    for name in sorted(idle):
        print(f"memory {name}: idle {idle[name]:.0f} MiB, during the run {under_load.get(name, float('nan')):.0f} MiB")
