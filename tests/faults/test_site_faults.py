"""Exactly once across sites (docs/sites.md): a site worker killed with -9 in the middle of its part loses its lease;
the part goes back to pending and runs again alone when the site's worker returns, while the other site's finished
part is kept. Real worker processes, Redis, SQLite, the sites' SeaweedFS and the Docker engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from app import create_app
from app.models import SitePartState
from runners.images import save_image
from tests.faults.conftest import wait_for
from tests.fixtures.docker_engine import build_image, remove_image
from tests.fixtures.site_storage import SiteS3
from tests.fixtures.sites_run import SiteWorkers, site_parts, state_of, two_sites
from tests.integration.helpers import make_user, submit_archive

pytestmark = pytest.mark.docker

# Slow only at site-b (its case ids start with "b"): long enough to be killed mid-run.
SLOW_AT_B = """\
import json, os, time
cases = json.load(open("/input/cases.json"))
if any(case["case_id"].startswith("b") for case in cases):
    time.sleep(8)
for case in cases:
    folder = os.path.join("/output", case["case_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "likelihood.json"), "w") as handle:
        json.dump((case["inputs"]["features"]["radius"] % 5) / 5, handle)
"""


@pytest.fixture(scope="module")
def slow_at_b_archive(docker_client: docker.DockerClient, python_base_image: str,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tag = "podium-test/slow-at-b:latest"
    build_image(docker_client, f'FROM {python_base_image}\nCOPY algo.py /algo.py\nCMD ["python3", "/algo.py"]\n',
                {"algo.py": SLOW_AT_B}, tag)
    archive = tmp_path_factory.mktemp("slow-at-b") / "slow-at-b.tar.gz"
    save_image(docker_client, tag, archive)
    yield archive
    remove_image(docker_client, tag)


def _container_of_part(client: docker.DockerClient, part_id: int, scope: str) -> bool:
    return bool(client.containers.list(filters={"label": [f"podium.site-part={part_id}", f"podium.scope={scope}"]}))


def test_a_site_worker_killed_mid_part_is_retried_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str,
        slow_at_b_archive: Path, site_workers: SiteWorkers, docker_client: docker.DockerClient) -> None:
    settings, env, resources, site_env = two_sites(tmp_path, monkeypatch, site_s3, site_prefix)
    client = create_app(settings).test_client()
    status, submission = submit_archive(client, make_user(resources, "vendor"), slow_at_b_archive,
                                        challenge="sites-demo", phase="test")
    assert status == 201, submission
    sid = submission["id"]
    site_workers.start(env)
    site_workers.start(site_env("site-a"), "--site", "site-a")
    doomed = site_workers.start(site_env("site-b"), "--site", "site-b")
    wait_for(lambda: "site-b" in site_parts(resources, sid)
             and _container_of_part(docker_client, site_parts(resources, sid)["site-b"].id, settings.runner_scope),
             120, "site-b's container to start")
    doomed.kill9()
    wait_for(lambda: site_parts(resources, sid)["site-b"].state == SitePartState.PENDING, 60,
             "the central reconciler to take site-b's part back when its lease expires")
    assert site_parts(resources, sid)["site-b"].infrastructure_faults == 1
    assert state_of(resources, sid) == "running"

    site_workers.start(site_env("site-b"), "--site", "site-b")  # the site's worker comes back
    wait_for(lambda: state_of(resources, sid) == "succeeded", 120, "the submission to be pooled")
    parts = site_parts(resources, sid)
    assert {name: (p.state, p.attempts) for name, p in parts.items()} == {"site-a": ("done", 1), "site-b": ("done", 2)}
