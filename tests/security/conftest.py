"""Fixtures of the hostile-submission suite: hostile images (built once per session) and a platform per test.

Leftover checks: after each test, no work folder, spooled upload, mounted /output area or container of
its submissions may remain; after the session, no container, platform tag or image of the hostile images,
and no /output area under the session's temporary folders.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from app.config import Settings
from app.resources import Resources
from runners.docker_runner import SCOPE_ENV
from runners.output_area import AREA_PREFIX, mounted_areas
from tests.security.images import HostileImages
from tests.security.instance import Platform


@pytest.fixture(scope="session")
def hostile(docker_client: docker.DockerClient, busybox_image: str, python_base_image: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileImages]:
    images = HostileImages(docker_client, busybox_image, python_base_image, tmp_path_factory.mktemp("hostile"))
    yield images
    leftovers = images.leftovers()
    held = images.remove_all()
    base = tmp_path_factory.getbasetemp()
    areas = [str(p) for p in mounted_areas() if base in p.parents]
    areas += [str(p) for p in base.rglob(f"{AREA_PREFIX}*")]  # unmounted but not removed
    assert (leftovers, held, areas) == ([], [], []), "the hostile-submission suite left things behind"


@pytest.fixture(scope="session")
def canary() -> bytes:
    """Random bytes planted next to the hidden data; the probe looks for their SHA-256 in every file."""
    return secrets.token_hex(32).encode()


@pytest.fixture(scope="session")
def worker_addresses() -> list[str]:
    """This machine's own non-loopback IPv4 address (a UDP connect sends no packet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return []
        address = probe.getsockname()[0]
    return [] if address.startswith(("0.", "127.")) else [address]


@pytest.fixture
def platform(resources: Resources, settings: Settings, docker_client: docker.DockerClient, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    # Other test sessions share this engine; with a scope of its own, their housekeeping (orphaned
    # containers) leaves this test's containers alone, and this test's leaves theirs.
    monkeypatch.setenv(SCOPE_ENV, f"security-{secrets.token_hex(6)}")
    instance = Platform(resources, settings)
    yield instance
    containers = [c.name for sid in instance.submissions
                  for c in docker_client.containers.list(all=True, filters={"label": f"podium.submission={sid}"})]
    assert (instance.leftovers(tmp_path), containers) == ([], []), "the platform left things behind"


def root_only(reason: str = "the capped /output needs a worker running as root") -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason=reason)
