"""Build a challenge's baseline algorithm containers and save them as upload-ready archives.

Each folder under `<challenge>/baselines/` holds a Dockerfile; a `train.py TRAIN_CSV OUT_DIR` in it, where there
is one, is run first (on the host, with scikit-learn) to write the model into the build context. The imaging
examples' baselines have none (nothing is trained): the folder is built as it is.
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
    for folder in sorted(p for p in (challenge_dir / "baselines").iterdir() if (p / "Dockerfile").is_file()):
        tag = f"podium-baseline/{challenge_dir.name}-{folder.name}:latest"
        with tempfile.TemporaryDirectory(prefix="podium-build-") as context:
            context_dir = Path(context)
            copy_context(folder, context_dir)
            if (folder / "train.py").is_file():
                subprocess.run([sys.executable, str(folder / "train.py"), str(train_csv), str(context_dir)],
                               check=True)
            build_image(runner.client, context_dir, tag)
        archive = out_dir / f"{folder.name}.tar.gz"
        size = save_image(runner.client, tag, archive)
        built.append(BaselineArchive(folder.name, tag, archive, size))
    return built
