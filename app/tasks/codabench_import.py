"""Import a Codabench bundle end to end: convert it (app/usecases/codabench), build each phase's evaluation image
on the local Docker engine, save it into the challenge folder, then apply the folder like `podium challenge apply`.

The conversion is pure; the image build needs the engine, so it lives here, with the worker (the web process never
builds images: it queues `jobs.import_codabench_bundle`) and the CLI. Nothing is applied unless every image built.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.storage import ArtifactStore
from app.usecases.apply_challenge import ApplyReport, apply_challenge
from app.usecases.codabench import DEFAULT_BASE_IMAGE, CodabenchBundleError, Conversion, convert_bundle
from runners.docker_runner import DockerRunner, RunnerError
from runners.images import build_image, image_exists, save_image


@dataclass
class CodabenchImport:
    conversion: Conversion
    applied: ApplyReport | None

    def summary(self) -> str:
        lines = [self.conversion.report()]
        if self.applied is not None:
            lines.append(self.applied.summary())
        return "\n".join(lines)


def build_evaluators(runner: DockerRunner, conversion: Conversion) -> None:
    """Build every phase's evaluation image from its recipe and save it where challenge.yaml names it."""
    for build in conversion.builds:
        if not image_exists(runner.client, _base_image(build.context_dir)):
            raise CodabenchBundleError(f"the evaluator's base image {_base_image(build.context_dir)} is not on this "
                                       "Docker engine (no registry is used); build it (`make images`) or pass "
                                       "--base-image")
        try:
            build_image(runner.client, build.context_dir, build.tag)
            save_image(runner.client, build.tag, build.archive)
        except RunnerError as exc:
            raise CodabenchBundleError(f"phase {build.phase_slug}: the scoring program's image did not build: "
                                       f"{exc}") from None
        finally:
            if image_exists(runner.client, build.tag):
                runner.client.images.remove(build.tag, force=True)


def import_codabench(session: Session | None, store: ArtifactStore | None, runner: DockerRunner, archive: Path, *,
                     out_dir: Path | None = None, slug: str | None = None, base_image: str = DEFAULT_BASE_IMAGE,
                     work_dir: Path | None = None) -> CodabenchImport:
    """Convert and build into `out_dir` (kept) or a temporary folder; apply it when a session and store are given
    (in the session's transaction: the caller commits)."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="codabench-", dir=work_dir))
    try:
        folder = out_dir if out_dir is not None else scratch / "challenge"
        conversion = convert_bundle(archive, folder, scratch / "work", slug=slug, base_image=base_image)
        try:
            build_evaluators(runner, conversion)
        except BaseException:
            if out_dir is not None:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        applied = apply_challenge(session, store, folder, allow_prepare=False) \
            if session is not None and store is not None else None
        return CodabenchImport(conversion, applied)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _base_image(context_dir: Path) -> str:
    first = (context_dir / "Dockerfile").read_text().splitlines()[0]
    return first.removeprefix("FROM ").strip()
