"""Fixtures shared by the runner tests: a runner of this test's own scope, and its /input and /output folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from runners.docker_runner import DockerRunner


@pytest.fixture
def runner(docker_client: docker.DockerClient, runner_scope: str) -> Iterator[DockerRunner]:
    """A runner whose containers carry this test's scope; none may be left behind when the test ends.

    Only this scope is looked at: other test sessions may be running theirs on the same engine."""
    yield DockerRunner(docker_client, scope=runner_scope)
    leftovers = docker_client.containers.list(all=True, filters={"label": f"podium.scope={runner_scope}"})
    for container in leftovers:
        container.remove(force=True)
    assert leftovers == [], "a container of this test's scope was left behind"


@pytest.fixture
def io_dirs(tmp_path: Path) -> tuple[Path, Path]:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    return input_dir, output_dir
