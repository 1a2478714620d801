"""An image the engine already holds is not downloaded or loaded again (app/pipeline/run.py): it is recognised by
its id, the digest of its config that the upload's check computed. Real Docker engine and local storage."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from app.pipeline.plan import AttemptPlan
from app.pipeline.run import load_image
from app.storage import StorageError
from app.storage.local import LocalStore
from runners.docker_runner import SUBMISSION_REPOSITORY, DockerRunner
from runners.sandbox import SandboxPolicy
from tests.fixtures.docker_engine import ImageFactory


def _plan(submission_id: int, digest: str | None) -> AttemptPlan:
    policy = SandboxPolicy.from_limits(time_limit_seconds=30, memory_mb=64, cpus=1, pids=16, tmp_mb=1, output_mb=1,
                                       log_kb=16)
    return AttemptPlan(submission_id=submission_id, owner="test", upload_key="submissions/nowhere/image.tar.gz",
                       image_tags=[], image_config_digest=digest, test_set_id=1, storage_prefix="", content_hash="",
                       cases=[], inputs=[], outputs=[], ground_truth=[], metrics=[], evaluator=None,
                       case_metadata={}, missing_cases="fail", split_column=None, cluster_by=None, policy=policy)


def test_an_image_on_the_engine_is_labelled_not_loaded(docker_client: docker.DockerClient, runner_scope: str,
                                                       image_factory: ImageFactory, busybox_image: str,
                                                       tmp_path: Path) -> None:
    tag = image_factory(f"FROM {busybox_image}\nCMD [\"true\"]\n")
    image_id = docker_client.images.get(tag).id
    assert image_id is not None and image_id.startswith("sha256:")
    runner = DockerRunner(docker_client, scope=runner_scope)
    store = LocalStore(tmp_path / "store")  # holds no upload: a download would fail
    loaded = load_image(store, runner, _plan(987654, image_id), tmp_path)
    assert loaded.image_id == image_id and loaded.tags_added == []
    assert docker_client.images.get(f"{SUBMISSION_REPOSITORY}:987654").id == image_id
    loaded.release()
    assert f"{SUBMISSION_REPOSITORY}:987654" not in docker_client.images.get(tag).tags  # only the label goes
    assert runner.has_image(image_id)


@pytest.mark.parametrize("digest", [None, "sha256:" + "0" * 64])
def test_an_image_the_engine_lacks_is_downloaded_and_loaded(docker_client: docker.DockerClient, runner_scope: str,
                                                            tmp_path: Path, digest: str | None) -> None:
    runner = DockerRunner(docker_client, scope=runner_scope)
    assert digest is None or not runner.has_image(digest)
    with pytest.raises(StorageError):  # it went for the archive
        load_image(LocalStore(tmp_path / "store"), runner, _plan(987655, digest), tmp_path)
