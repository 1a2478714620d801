"""Building and saving images on the local engine (example algorithms, test images)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import docker
import docker.errors

from runners.docker_runner import RunnerError


def build_image(client: docker.DockerClient, context_dir: Path, tag: str) -> str:
    """`docker build` with no network (no registry is needed: bases must already be local)."""
    try:
        image, _logs = client.images.build(path=str(context_dir), tag=tag, rm=True, forcerm=True,
                                           network_mode="none", pull=False)
    except docker.errors.BuildError as exc:
        lines = [entry.get("stream", "") or entry.get("error", "") for entry in exc.build_log]
        tail = "".join(lines).strip().splitlines()[-10:]
        raise RunnerError(f"building {tag} from {context_dir} failed: {exc.msg}\n" + "\n".join(tail)) from exc
    if image.id is None:  # never happens: the engine always reports an image's id
        raise RunnerError(f"the Docker engine reported no id for the image built as {tag}")
    return image.id


def save_image(client: docker.DockerClient, tag: str, archive: Path, *, compress: bool = True) -> int:
    """`docker save TAG | gzip > archive`, streamed; returns the archive's size in bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".part")
    # named=tag, not True: True names the image's first tag, which may be another one it carries (a worker's image
    # cache tag, say), and the archive would then load under that name.
    image = client.images.get(tag)
    reference = tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"
    chunks = image.save(named=reference if reference in image.tags else True)
    with (gzip.open(partial, "wb", compresslevel=3) if compress else partial.open("wb")) as out:
        for chunk in chunks:
            out.write(chunk)
    partial.replace(archive)
    return archive.stat().st_size


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def copy_context(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, dirs_exist_ok=True)
