"""Create or update a challenge from its folder (challenge as code), idempotently.

Everything is read and validated first (spec, prepare step, every phase's test set); only then are
test sets uploaded and the database written, in one transaction. A test set whose content hash has not
changed is not uploaded again; a changed one becomes a new version. A phase held at sites (docs/sites.md) gets no
test set here: each site loads its own cases on its own machine (app/usecases/site_cases.py).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpec, ChallengeSpecError, PhaseSpec, load_challenge_spec
from app.models import Case, Challenge, ChallengeOrganiser, Phase, Site, TestSet, User
from app.queries.test_set_versions import has_scored_run
from app.storage import ArtifactStore, keys
from app.usecases.readers import reader_file_problems
from app.usecases.reevaluation import adopt_new_version, switch_hint
from app.usecases.test_set_folder import TestSetContent, read_test_set
from runners.image_archive import InvalidImageArchive, sha256_file, validate_image_archive

PREPARE_TIMEOUT_SECONDS = 1800
SPEC_NAME = "challenge.yaml"
# TestSet.storage_prefix of a version whose cases are held at sites (their files are in the sites' storage).
SITES_STORAGE_PREFIX = "sites"


@dataclass
class PhaseReport:
    slug: str
    created: bool
    test_set_version: int
    test_set_uploaded: bool
    case_count: int
    sites: list[str] = field(default_factory=list)  # the sites holding its cases (docs/sites.md)


@dataclass
class ApplyReport:
    slug: str
    created: bool
    phases: list[PhaseReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"challenge {self.slug}: {'created' if self.created else 'updated'}"]
        for phase in self.phases:
            if phase.sites:
                held = (f"test set v{phase.test_set_version} ({phase.case_count} cases)" if phase.test_set_version
                        else "no cases loaded yet (`podium site load-cases` at each site)")
                lines.append(f"  phase {phase.slug}: {'created' if phase.created else 'updated'}, held at sites "
                             f"{', '.join(phase.sites)}: {held}")
                continue
            upload = "uploaded" if phase.test_set_uploaded else "unchanged"
            lines.append(f"  phase {phase.slug}: {'created' if phase.created else 'updated'}, "
                         f"test set v{phase.test_set_version} ({phase.case_count} cases, {upload})")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def apply_challenge(session: Session, store: ArtifactStore, path: Path, *, allow_prepare: bool = True) -> ApplyReport:
    """allow_prepare=False (a bundle uploaded through the site): a `prepare` step is refused, since it would run
    the uploader's code on the server."""
    spec, folder = load_challenge_spec(path)
    if spec.prepare and not allow_prepare:
        raise ChallengeSpecError(f"{SPEC_NAME}: prepare: a bundle uploaded through the site cannot run a prepare "
                                 "step (it would run code on the server); run it yourself and put its output in the "
                                 "bundle, or ask the operator to apply the folder with `podium challenge apply`")
    if spec.prepare:
        run_prepare_step(folder, spec.prepare)
    test_sets = {phase.slug: read_test_set(_inside(folder, phase.test_set, "test_set"), phase)
                 for phase in spec.phases if phase.test_set is not None}
    _check_sites_registered(session, folder, spec)
    evaluators = {phase.slug: _check_evaluator(folder, phase) for phase in spec.phases if phase.evaluator}
    readers = {phase.slug: _check_readers(folder, phase, test_sets[phase.slug])
               for phase in spec.phases if phase.slug in test_sets}
    public_files = [_inside(folder, name, "public_files") for name in spec.public_files]
    for file in public_files:
        if not file.is_file():
            raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: public_files: {file} does not exist")

    challenge = session.scalar(select(Challenge).where(Challenge.slug == spec.slug))
    report = ApplyReport(slug=spec.slug, created=challenge is None)
    if challenge is None:
        challenge = Challenge(slug=spec.slug, title=spec.title)
        session.add(challenge)
    copy_challenge_fields(challenge, spec)
    challenge.public_files = _upload_public_files(store, spec, public_files)
    session.flush()
    report.warnings += _seed_organisers(session, challenge, spec.organisers)

    existing = {phase.slug: phase for phase in challenge.phases}
    for position, phase_spec in enumerate(spec.phases):
        phase = existing.get(phase_spec.slug)
        created = phase is None
        if phase is None:
            phase = Phase(challenge=challenge, slug=phase_spec.slug, title=phase_spec.title,
                          ranking_metric=phase_spec.ranking.metric)
            session.add(phase)
        copy_phase_fields(phase, phase_spec, position)
        phase.evaluator = (_upload_evaluator(store, challenge, phase_spec, *evaluators[phase_spec.slug])
                           if phase_spec.slug in evaluators else None)
        phase.analysis = _analysis_settings(store, challenge, phase_spec, readers.get(phase_spec.slug))
        phase.sites = list(phase_spec.sites)
        session.flush()
        if phase_spec.sites:
            report.phases.append(_site_phase_report(session, phase, phase_spec, created, report.warnings))
            continue
        test_set, uploaded = store_test_set_version(session, store, challenge, phase, test_sets[phase_spec.slug])
        if not adopt_new_version(session, phase, test_set):  # the leaderboard stays on its version
            report.warnings.append(switch_hint(phase, test_set))
        report.phases.append(PhaseReport(phase_spec.slug, created, test_set.version, uploaded,
                                         test_set.case_count))
    removed = sorted(set(existing) - {p.slug for p in spec.phases})
    for slug in removed:
        report.warnings.append(f"phase {slug!r} is in the database but no longer in challenge.yaml; "
                               "it was kept with its submissions")
    session.flush()
    return report


def _check_sites_registered(session: Session, folder: Path, spec: ChallengeSpec) -> None:
    """Every site a phase names must be registered (docs/sites.md)."""
    named = {name for phase in spec.phases for name in phase.sites}
    if not named:
        return
    known = set(session.scalars(select(Site.name).where(Site.name.in_(named))))
    for phase in spec.phases:
        for name in phase.sites:
            if name not in known:
                raise ChallengeSpecError(f"{folder / SPEC_NAME}: phase {phase.slug}: sites: {name!r} is not a "
                                         f"registered site; register it with `podium site add {name}`")


def _site_phase_report(session: Session, phase: Phase, spec: PhaseSpec, created: bool,
                       warnings: list[str]) -> PhaseReport:
    """A phase held at sites gets no test set here: each site loads its own cases (`podium site load-cases`).
    A central test set the phase held before stops being current, unless the phase ranks on it (scored submissions):
    then it stays until the organiser switches to a sites' version (docs/sites.md)."""
    current = phase.current_test_set
    if current is not None and current.storage_prefix != SITES_STORAGE_PREFIX:
        if has_scored_run(session, current.id):
            warnings.append(f"phase {spec.slug} is now held at sites but still ranks on its central test set "
                            f"v{current.version} (submissions are scored on it) until an organiser switches it to a "
                            "version the sites load")
        else:
            phase.current_test_set = None
            current = None
    return PhaseReport(spec.slug, created, current.version if current else 0, False,
                       current.case_count if current else 0, sites=list(spec.sites))


def _seed_organisers(session: Session, challenge: Challenge, usernames: list[str]) -> list[str]:
    """Add challenge.yaml's organisers who have an account; organisers added on the site are kept."""
    warnings = []
    for username in usernames:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            warnings.append(f"organiser {username!r} has no account yet; add them once they have one "
                            f"(podium challenge organiser add {challenge.slug} {username})")
        elif user.id not in challenge.organiser_ids:
            challenge.organiser_links.append(ChallengeOrganiser(user_id=user.id))
    session.flush()
    return warnings


def run_prepare_step(folder: Path, script: str) -> None:
    script_path = _inside(folder, script, "prepare")
    if not script_path.is_file():
        raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: prepare: {script_path} does not exist")
    result = subprocess.run([sys.executable, script_path.name, "data"], cwd=script_path.parent,
                            capture_output=True, text=True, timeout=PREPARE_TIMEOUT_SECONDS)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-10:])
        raise ChallengeSpecError(f"{script_path}: the prepare step failed with exit code "
                                 f"{result.returncode}:\n{tail}")


def _inside(folder: Path, relative: str, key: str) -> Path:
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: {key}: {relative!r} points outside the "
                                 "challenge folder")
    return resolved


def copy_challenge_fields(challenge: Challenge, spec: ChallengeSpec) -> None:
    """The challenge's own settings from a validated spec (what `apply` and the edit form write alike; public files
    and organisers are written by their own steps)."""
    challenge.title = spec.title
    challenge.description = spec.description
    challenge.join_policy = spec.join_policy
    challenge.terms = spec.terms
    challenge.max_team_size = spec.max_team_size


def copy_phase_fields(phase: Phase, spec: PhaseSpec, position: int) -> None:
    """Every setting of a phase from a validated spec, but its evaluator, analysis and test set (what `apply` and
    the edit forms write alike)."""
    limits = spec.limits
    phase.title = spec.title
    phase.description = spec.description
    phase.position = position
    phase.submission_kind = spec.submission_kind
    phase.run_mode = spec.run_mode
    phase.opens_at = spec.opens_at
    phase.closes_at = spec.closes_at
    phase.time_limit_seconds = limits.time_limit_seconds
    phase.memory_mb = limits.memory_mb
    phase.cpus = limits.cpus
    phase.cases_in_parallel = limits.cases_in_parallel
    phase.gpus = limits.gpus
    phase.shards = limits.shards
    phase.pids_limit = limits.pids
    phase.tmp_mb = limits.tmp_mb
    phase.output_mb = limits.output_mb
    phase.log_kb = limits.log_kb
    phase.max_upload_mb = limits.max_upload_mb
    phase.submissions_per_day = limits.submissions_per_day
    phase.submissions_total = limits.submissions_total
    phase.inputs = [i.model_dump(mode="json") for i in spec.inputs]
    phase.outputs = [o.model_dump(mode="json") for o in spec.outputs]
    phase.ground_truth = [g.model_dump(mode="json") for g in spec.ground_truth]
    phase.metrics = [m.model_dump(mode="json") for m in spec.metrics]
    phase.ranking_metric = spec.ranking.metric
    phase.missing_cases = spec.missing_cases
    phase.log_visibility = spec.log_visibility
    phase.final_submissions = spec.final_submissions
    phase.final_rule = spec.final_rule
    phase.split_column = spec.split_column
    phase.ranking_order = spec.ranking_order()
    phase.ranking_across = spec.ranking_across()
    phase.leaderboard_columns = list(spec.leaderboard_columns) if spec.leaderboard_columns is not None else None
    phase.results_published = spec.results_published
    phase.case_results_visible = spec.case_results_visible
    phase.report_published = spec.report_published


def store_test_set_version(session: Session, store: ArtifactStore, challenge: Challenge, phase: Phase,
                           content: TestSetContent) -> tuple[TestSet, bool]:
    same = session.scalar(select(TestSet).where(TestSet.phase_id == phase.id,
                                                TestSet.content_hash == content.content_hash))
    if same is not None:
        return same, False
    version = (session.scalar(select(func.max(TestSet.version)).where(TestSet.phase_id == phase.id)) or 0) + 1
    prefix = keys.test_set_prefix(challenge.slug, phase.slug, version, content.content_hash)
    for relative in content.files:
        store.put_file(keys.test_set_file(prefix, relative), content.path_of(relative))
    test_set = TestSet(phase_id=phase.id, version=version, content_hash=content.content_hash,
                       storage_prefix=prefix, case_count=len(content.cases),
                       metadata_columns=content.metadata_columns)
    test_set.cases = [Case(case_key=c.case_id, meta=c.meta, inputs=c.inputs) for c in content.cases]
    session.add(test_set)
    session.flush()
    return test_set, True


def _check_evaluator(folder: Path, phase: PhaseSpec) -> tuple[Path, str]:
    """The evaluator archive must be a valid single-image archive, like a participant's upload."""
    assert phase.evaluator is not None
    archive = _inside(folder, phase.evaluator.archive, f"phases.{phase.slug}.evaluator.archive")
    if not archive.is_file():
        raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: phase {phase.slug}: evaluator archive {archive} "
                                 "does not exist; make it with: docker save IMAGE | gzip > ARCHIVE")
    try:
        validate_image_archive(archive)
    except InvalidImageArchive as exc:
        raise ChallengeSpecError(f"{archive}: not a usable evaluation image: {exc}") from None
    return archive, sha256_file(archive).removeprefix("sha256:")


def _upload_evaluator(store: ArtifactStore, challenge: Challenge, spec: PhaseSpec, archive: Path,
                      digest: str) -> dict[str, Any]:
    assert spec.evaluator is not None
    key = keys.evaluator_archive(challenge.slug, spec.slug, digest)
    if not store.exists(key):
        store.put_file(key, archive)
    return {"archive_key": key, "sha256": digest,
            "aggregates": [a.model_dump(mode="json") for a in spec.evaluator.aggregates]}


def _check_readers(folder: Path, phase: PhaseSpec, content: TestSetContent) -> Path | None:
    """Breakdown and cluster columns must exist; a readers file must name known cases and give numeric scores."""
    where = f"{folder / 'challenge.yaml'}: phase {phase.slug}: analysis"
    if phase.split_column is not None:
        if phase.split_column not in content.metadata_columns:
            raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: phase {phase.slug}: split_column "
                                     f"{phase.split_column!r} is not a column of cases.csv")
        wrong = sorted({c.meta.get(phase.split_column, "") for c in content.cases} - {"public", "private"})
        if wrong:
            raise ChallengeSpecError(f"{folder / 'challenge.yaml'}: phase {phase.slug}: column "
                                     f"{phase.split_column!r} must hold 'public' or 'private', not {wrong}")
    unknown = sorted(set(phase.analysis.breakdown_by) - set(content.metadata_columns))
    if unknown:
        raise ChallengeSpecError(f"{where}.breakdown_by: {', '.join(unknown)} not in cases.csv (columns: "
                                 f"{', '.join(content.metadata_columns) or 'none'})")
    cluster_by = phase.analysis.cluster_by
    if cluster_by is not None and cluster_by not in content.metadata_columns:
        raise ChallengeSpecError(f"{where}.cluster_by: column {cluster_by!r} is not in cases.csv (columns: "
                                 f"{', '.join(content.metadata_columns) or 'none'})")
    if phase.analysis.readers is None:
        return None
    path = _inside(folder, phase.analysis.readers.file, "analysis.readers.file")
    if not path.is_file():
        raise ChallengeSpecError(f"{where}.readers.file: {path} does not exist")
    problems = reader_file_problems(path.read_text(), {c.case_id for c in content.cases})
    if problems:
        raise ChallengeSpecError(f"{path}: " + "; ".join(problems[:10]))
    return path


def _analysis_settings(store: ArtifactStore, challenge: Challenge, spec: PhaseSpec,
                       readers: Path | None) -> dict[str, Any]:
    readers_key = None
    if readers is not None:
        readers_key = keys.readers_file(challenge.slug, spec.slug)
        store.put_file(readers_key, readers)
    return analysis_settings(spec, readers_key)


def analysis_settings(spec: PhaseSpec, readers_key: str | None) -> dict[str, Any]:
    """phase.analysis for a validated spec: its analysis settings, and where its readers file is stored (if any)."""
    settings = spec.analysis.model_dump(mode="json")
    if readers_key is not None:
        settings["readers_key"] = readers_key
    return settings


def _upload_public_files(store: ArtifactStore, spec: ChallengeSpec, files: list[Path]) -> list[dict[str, Any]]:
    listed = []
    for file in files:
        key = keys.public_file(spec.slug, file.name)
        size = store.put_file(key, file)
        listed.append({"name": file.name, "key": key, "bytes": size})
    return listed
