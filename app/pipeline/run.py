"""Run step: load the participant's image into the engine, run it in the sandbox, release what the load added."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.pipeline.plan import AttemptPlan
from app.storage import ArtifactStore
from runners.docker_runner import DockerRunner, RunResult
from runners.image_cache import ImageCache

log = logging.getLogger(__name__)
SUBMISSION_LABEL = "podium.submission"


def worker_image_cache(settings: Settings, runner: DockerRunner) -> ImageCache:
    """This worker's cache of loaded images (docs/operations.md, "Images the engine already holds")."""
    return ImageCache(runner.client, settings.worker_cache_dir / "images", scope=runner.scope,
                      max_bytes=settings.image_cache_mb * 1024 * 1024,
                      max_age_seconds=settings.image_cache_days * 86_400.0)


@dataclass
class LoadedImage:
    """An image this attempt loaded; release() removes exactly what the load added to the engine, after handing a
    verified image (its id is the upload's checked config digest) to the worker's image cache."""

    runner: DockerRunner
    submission_id: int
    image_id: str
    tags_added: list[str] = field(default_factory=list)
    cache: ImageCache | None = None
    verified: bool = False
    load_seconds: float | None = None  # how long making it ready took (a download and docker load, or a label)

    def release(self) -> None:
        try:
            if self.cache is not None and self.verified:
                self.cache.keep(self.image_id)
            self.runner.release_image(str(self.submission_id))
            self.runner.untag(self.tags_added)
        except Exception:  # noqa: BLE001 - cleanup must not hide the real outcome
            log.warning("could not remove the image of submission %s", self.submission_id, exc_info=True)


def load_image(store: ArtifactStore, runner: DockerRunner, plan: AttemptPlan, work_dir: Path,
               cache: ImageCache | None = None) -> LoadedImage:
    """Raises runners.docker_runner.ImageLoadError (the participant's fault) or RunnerError (the platform's).

    An image the engine already holds is not loaded again: an image's id on the engine is the digest of its config,
    which names every layer by the digest of its content, so an engine image whose id equals the digest of the
    uploaded archive's config (computed when the upload was checked) is that image, layer for layer. It is only
    labelled for this submission (a resubmission, or a baseline image built on this engine: no download, no
    `docker load`)."""
    started = time.monotonic()
    digest = plan.image_config_digest
    if digest and runner.has_image(digest):
        runner.label_image(digest, str(plan.submission_id))
        log.info("submission %s: image %s is on the engine already; not loaded again", plan.submission_id, digest)
        if cache is not None:
            cache.touch(digest)
        return LoadedImage(runner, plan.submission_id, digest, cache=cache, verified=True,
                           load_seconds=time.monotonic() - started)
    archive = work_dir / "image.tar"
    store.download_to(plan.upload_key, archive)
    existing = runner.existing_tags(plan.image_tags)
    tags_added = [t for t in plan.image_tags if t not in existing]
    image_id = runner.load_image(archive, label=str(plan.submission_id))
    archive.unlink()
    return LoadedImage(runner, plan.submission_id, image_id, tags_added, cache=cache,
                       verified=digest is not None and image_id == digest, load_seconds=time.monotonic() - started)


def run_container(runner: DockerRunner, plan: AttemptPlan, image: LoadedImage, *, input_dir: Path,
                  output_dir: Path) -> RunResult:
    return runner.run(image.image_id, input_dir=input_dir, output_dir=output_dir, policy=plan.policy,
                      name=f"podium-{plan.submission_id}-{uuid.uuid4().hex[:8]}",
                      labels={SUBMISSION_LABEL: str(plan.submission_id)})


def stop_containers(runner: DockerRunner, submission_id: int) -> None:
    """Stop and remove this submission's containers (a cancel, or a dead attempt's leftovers)."""
    runner.cleanup({SUBMISSION_LABEL: str(submission_id)})
