"""save_image names the archive's image by the tag it was asked to save, whatever other tags the image carries."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import docker
import pytest

from runners.images import save_image
from tests.fixtures.docker_engine import ImageFactory

pytestmark = pytest.mark.docker


def test_the_archive_names_the_requested_tag(docker_client: docker.DockerClient, image_factory: ImageFactory,
                                             busybox_image: str, tmp_path: Path) -> None:
    tag = image_factory(f'FROM {busybox_image}\nLABEL purpose="save"\nCMD ["true"]\n')
    other = "aaa-podium-test/another-name:first"  # sorts first, as a worker's cache tag (podium-cache-...) may
    docker_client.api.tag(tag, "aaa-podium-test/another-name", "first")
    try:
        save_image(docker_client, tag, tmp_path / "a.tar.gz")
        with tarfile.open(tmp_path / "a.tar.gz") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == [tag]
    finally:
        docker_client.images.remove(other)
