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

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpecError
from app.errors import Forbidden, ServiceError
from app.models import Challenge, ChallengeOrganiser, User
from app.resources import Resources
from app.storage import ArtifactStore, keys
from app.usecases.apply_challenge import ApplyReport, apply_challenge
from app.usecases.codabench import DEFAULT_BASE_IMAGE, CodabenchBundleError, Conversion, convert_bundle
from app.usecases.codabench.queued import BUNDLE, read_status, write_status
from app.usecases.test_set_folder import TestSetError
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


def run_queued_import(resources: Resources, runner: DockerRunner, token: str) -> str:
    """The worker's side: convert, build and apply the stored bundle as the admin who uploaded it; the outcome
    (the report of what was not mapped, or why it failed) goes to the import's status for the page."""
    store = resources.store
    status = read_status(store, token)
    status["state"] = "running"
    write_status(store, token, status)
    scratch = Path(tempfile.mkdtemp(prefix="codabench-job-", dir=_work_root(resources)))
    try:
        archive = scratch / "bundle.zip"
        store.download_to(keys.codabench_import(token, BUNDLE), archive)
        with resources.session() as session:
            actor = session.get(User, status["user_id"])
            if actor is None or not actor.is_admin:
                raise Forbidden("the account that uploaded the bundle is no longer a site admin")
            result = import_codabench(session, store, runner, archive, slug=status.get("slug"),
                                      base_image=status["base_image"], work_dir=scratch)
            assert result.applied is not None
            challenge = session.scalar(select(Challenge).where(Challenge.slug == result.applied.slug))
            if challenge is not None and result.applied.created and actor.id not in challenge.organiser_ids:
                challenge.organiser_links.append(ChallengeOrganiser(user_id=actor.id))
        status.update(state="succeeded", slug=result.applied.slug, report=result.conversion.report(),
                      unmapped=result.conversion.unmapped, applied=result.applied.summary())
    except (ServiceError, ChallengeSpecError, TestSetError) as exc:
        status.update(state="failed", error=str(exc).replace(f"{scratch}/", "").replace(str(scratch), "the bundle"))
    except Exception:
        status.update(state="failed", error="the platform failed while importing the bundle (the worker's log says "
                                            "why); try again later")
        write_status(store, token, status)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        store.delete(keys.codabench_import(token, BUNDLE))  # it holds the hidden reference data
    write_status(store, token, status)
    return str(status["state"])


def _work_root(resources: Resources) -> Path:
    root = resources.settings.data_dir / "tmp" / "codabench"
    root.mkdir(parents=True, exist_ok=True)
    return root
