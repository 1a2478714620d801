"""Build a challenge's baseline algorithm containers and save them as upload-ready archives.

Each folder under `<challenge>/baselines/` with a Dockerfile is one baseline (folders whose names start with "_"
or "." are not). Its build context is, in this order, later files replacing earlier ones:

    <challenges>/_shared/container/    files every baseline of the challenges beside it may use (mha.py)
    <challenge>/baselines/_shared/     files the challenge's baselines share (a template's scaffolding)
    <challenge>/baselines/<name>/      the baseline's own files

so that code the baselines share is written once on disk while each image still holds its own copy where its
Dockerfile puts it. A `train.py TRAIN_CSV OUT_DIR` in the baseline's folder, where there is one, is run next (on
the host, with scikit-learn) to write the model into the build context. The imaging examples' baselines have
none (nothing is trained).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runners.docker_runner import DockerRunner
from runners.images import build_image, copy_context, save_image

BASE_IMAGE = "podium/python-base:bookworm"
SHARED_FOLDER = "_shared"
SHARED_PREFIXES = ("_", ".")


@dataclass
class BaselineArchive:
    name: str
    tag: str
    archive: Path
    bytes: int


def build_baselines(challenge_dir: Path, out_dir: Path, runner: DockerRunner,
                    train_csv: Path | None = None) -> list[BaselineArchive]:
    challenge_dir = challenge_dir.resolve()
    train_csv = train_csv or challenge_dir / "data" / "public" / "train.csv"
    built = []
    for folder in baseline_folders(challenge_dir):
        tag = f"podium-baseline/{challenge_dir.name}-{folder.name}:latest"
        with tempfile.TemporaryDirectory(prefix="podium-build-") as context:
            context_dir = Path(context)
            write_build_context(folder, context_dir)
            if (folder / "train.py").is_file():
                subprocess.run([sys.executable, str(folder / "train.py"), str(train_csv), str(context_dir)],
                               check=True)
            build_image(runner.client, context_dir, tag)
        archive = out_dir / f"{folder.name}.tar.gz"
        size = save_image(runner.client, tag, archive)
        built.append(BaselineArchive(folder.name, tag, archive, size))
    return built


def baseline_folders(challenge_dir: Path) -> list[Path]:
    """The challenge's baselines: the folders under baselines/ with a Dockerfile, but shared ones ("_", ".")."""
    baselines = challenge_dir / "baselines"
    return sorted(p for p in baselines.iterdir()
                  if p.name[0] not in SHARED_PREFIXES and (p / "Dockerfile").is_file())


def shared_folders(folder: Path) -> list[Path]:
    """The folders of shared files a baseline's build context starts from (those that exist), widest first."""
    baselines = folder.resolve().parent
    candidates = [baselines.parent.parent / SHARED_FOLDER / "container", baselines / SHARED_FOLDER]
    return [p for p in candidates if p.is_dir()]


def write_build_context(folder: Path, context_dir: Path) -> None:
    """The shared files, then the baseline's own (which win where names collide), into `context_dir`."""
    for source in [*shared_folders(folder), folder]:
        copy_context(source, context_dir)
