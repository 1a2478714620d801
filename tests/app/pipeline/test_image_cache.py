"""Loaded algorithm images are kept on the worker's engine after their runs, keyed by their verified config digest,
and evicted by size and age (runners/image_cache.py, app/pipeline/run.py). Real Docker engine and local storage."""

from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest

from app.pipeline.plan import AttemptPlan
from app.pipeline.run import load_image
from app.storage import StorageError
from app.storage.local import LocalStore
from runners.docker_runner import DockerRunner
from runners.image_cache import ImageCache
from tests.app.pipeline.test_image_reuse import _plan
from tests.fixtures.docker_engine import ImageFactory

pytestmark = pytest.mark.docker


def _unique_image(image_factory: ImageFactory, busybox_image: str) -> str:
    return image_factory(f'FROM {busybox_image}\nLABEL nonce="{uuid.uuid4().hex}"\nCMD ["true"]\n')


def _upload_plan(submission_id: int, image_id: str | None, key: str, tag: str) -> AttemptPlan:
    """An attempt at an upload stored at `key`, an archive whose image carries `tag` (as `docker save TAG` does)."""
    return dataclasses.replace(_plan(submission_id, image_id), upload_key=key, image_tags=[tag])


def _archive_only(docker_client: docker.DockerClient, tag: str, store: LocalStore, key: str, tmp_path: Path) -> str:
    """Save the image to the store as an upload, then remove it from the engine: only the archive holds it."""
    image_id = docker_client.images.get(tag).id
    archive = tmp_path / f"{uuid.uuid4().hex}.tar"
    subprocess.run(["docker", "save", "-o", str(archive), tag], check=True)
    store.put_file(key, archive)
    docker_client.images.remove(tag)
    assert image_id is not None
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
    return image_id


def test_a_loaded_image_is_kept_and_the_next_run_skips_the_load_until_it_is_evicted(
        docker_client: docker.DockerClient, runner_scope: str, image_factory: ImageFactory, busybox_image: str,
        tmp_path: Path) -> None:
    runner = DockerRunner(docker_client, scope=runner_scope)
    store = LocalStore(tmp_path / "store")
    tag = _unique_image(image_factory, busybox_image)
    image_id = _archive_only(docker_client, tag, store, "up/1.tar", tmp_path)
    cache = ImageCache(docker_client, tmp_path / "images", scope=runner_scope, max_bytes=1 << 40,
                       max_age_seconds=3600)
    loaded = load_image(store, runner, _upload_plan(1, image_id, "up/1.tar", tag), tmp_path, cache=cache)
    assert loaded.image_id == image_id and loaded.verified
    loaded.release()
    assert runner.has_image(image_id)  # kept: its cache tag holds it
    [entry] = cache.entries()
    assert entry.image_id == image_id and entry.bytes > 0
    first_use = entry.last_used

    # The next submission of the same image: no download (the store has no such key), no docker load.
    again = load_image(LocalStore(tmp_path / "empty"), runner, _plan(2, image_id), tmp_path, cache=cache)
    again.release()
    assert cache.entries()[0].last_used > first_use

    tight = ImageCache(docker_client, tmp_path / "images", scope=runner_scope, max_bytes=1, max_age_seconds=3600)
    assert tight.evict() == [image_id]
    assert tight.entries() == []
    assert not runner.has_image(image_id), docker_client.images.get(image_id).tags
    with pytest.raises(StorageError):  # gone: the next run must fetch the archive again
        load_image(LocalStore(tmp_path / "empty"), runner, _plan(3, image_id), tmp_path, cache=cache)


def test_the_least_recently_used_go_first_and_old_ones_go_at_any_size(
        docker_client: docker.DockerClient, runner_scope: str, image_factory: ImageFactory, busybox_image: str,
        tmp_path: Path) -> None:
    tags = [_unique_image(image_factory, busybox_image) for _ in range(3)]
    ids = [docker_client.images.get(tag).id or "" for tag in tags]
    roomy = ImageCache(docker_client, tmp_path / "images", scope=runner_scope, max_bytes=1 << 40,
                       max_age_seconds=3600)
    for image_id in ids:
        roomy.keep(image_id)
        time.sleep(0.01)
    roomy.touch(ids[0])  # the oldest is used again: now the second is the least recently used
    sizes = {e.image_id: e.bytes for e in roomy.entries()}
    two = ImageCache(docker_client, tmp_path / "images", scope=runner_scope,
                     max_bytes=sizes[ids[0]] + sizes[ids[2]], max_age_seconds=3600)
    assert two.evict() == [ids[1]]
    cache_tags = [t for t in docker_client.images.get(ids[1]).tags if t.startswith("podium-cache-")]
    assert cache_tags == []  # its cache tag went; the factory's own tag keeps the image for the fixture
    assert {e.image_id for e in two.entries()} == {ids[0], ids[2]}

    aged = ImageCache(docker_client, tmp_path / "images", scope=runner_scope, max_bytes=1 << 40, max_age_seconds=0)
    time.sleep(0.01)
    assert sorted(aged.evict()) == sorted([ids[0], ids[2]]) and aged.entries() == []


def test_an_image_whose_digest_was_not_verified_is_not_kept(
        docker_client: docker.DockerClient, runner_scope: str, image_factory: ImageFactory, busybox_image: str,
        tmp_path: Path) -> None:
    runner = DockerRunner(docker_client, scope=runner_scope)
    store = LocalStore(tmp_path / "store")
    tag = _unique_image(image_factory, busybox_image)
    image_id = _archive_only(docker_client, tag, store, "up/9.tar", tmp_path)
    cache = ImageCache(docker_client, tmp_path / "images", scope=runner_scope, max_bytes=1 << 40,
                       max_age_seconds=3600)
    # An upload whose layers could not be checked: no digest stored.
    loaded = load_image(store, runner, _upload_plan(9, None, "up/9.tar", tag), tmp_path, cache=cache)
    assert loaded.image_id == image_id and not loaded.verified
    loaded.release()
    assert cache.entries() == [] and not runner.has_image(image_id)
