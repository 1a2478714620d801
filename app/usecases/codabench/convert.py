"""Convert a Codabench bundle into a Podium challenge folder plus a build recipe for each phase's evaluation image.

Pure: no Docker, no database. The folder it writes is what `podium challenge apply` reads, except the evaluation
archives, which the caller builds from the recipes (app/tasks/codabench_import.py) before applying. The mapping:

- one Codabench phase is one Podium phase; each of its tasks is one **case** of the phase's hidden test set
  (case id `task-<index>`), so a phase with several tasks is scored case by case and each task's scores fill the
  columns it writes;
- a case's inputs: `codabench-task.json` (the task's index, name, description) and the task's input_data, one
  `kind: file` input per file when every task of the phase has the same few files, else `input_data.zip`;
- its ground truth: `reference_data.zip` (the reference_data folder, zipped); its one output: `predictions.zip`,
  the files the scoring program reads from /app/input/res;
- the phase's scoring programs run in one evaluation image (evaluator_adapter.py is its entry point); the
  leaderboard's columns are the evaluator's aggregates, the primary column the ranking metric.
docs/codabench.md is the user's description of it.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.challenge_yaml import (
    MAX_TIME_LIMIT_SECONDS,
    RELATIVE_PATH_PATTERN,
    SPEC_FILE_NAME,
    ChallengeSpec,
    format_validation_error,
)
from app.usecases.codabench.bundle import (
    CodabenchBundleError,
    Column,
    Competition,
    Phase,
    Task,
    read_competition,
    unpack_bundle,
)

DEFAULT_BASE_IMAGE = "podium/python-base:bookworm"
TASK_INPUT = "codabench-task.json"
INPUT_ZIP = "input_data.zip"
REFERENCE_ZIP = "reference_data.zip"
PREDICTIONS_ZIP = "predictions.zip"
MAX_INPUT_FILES = 32  # more files than this (or differing files per task) travel as input_data.zip
MAX_SUBMISSIONS_PER_DAY = 10_000
REPORT_NAME = "CODABENCH_IMPORT.txt"
ADAPTER = Path(__file__).with_name("evaluator_adapter.py")
_LEGACY = re.compile(r"\$(submission_program|ingestion_program|predictions|program|hidden|shared|output|input|tmp)\b")
# The scoring step's meaning of Codabench's legacy $-variables (compute_worker.replace_legacy_metadata_command).
LEGACY_VARIABLES = {"submission_program": "/app/ingested_program", "ingestion_program": "/app/program",
                    "predictions": "/app/input/res", "program": "/app/program", "hidden": "/app/input/ref",
                    "shared": "/app/shared", "output": "/app/output", "input": "/app/input", "tmp": "/app/output"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
IMAGE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")  # a local image's name or id, one line


@dataclass
class EvaluatorBuild:
    """How to build one phase's evaluation image: `docker build context_dir`, then save it to `archive`."""

    phase_slug: str
    context_dir: Path
    archive: Path
    tag: str


@dataclass
class Conversion:
    folder: Path  # the challenge folder (challenge.yaml, test sets, evaluator archives once built)
    slug: str
    title: str
    builds: list[EvaluatorBuild]
    unmapped: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"Codabench bundle -> challenge {self.slug!r} ({self.title}), {len(self.builds)} phase(s)"]
        if self.unmapped:
            lines.append(f"Not mapped ({len(self.unmapped)}):")
            lines += [f"  - {item}" for item in self.unmapped]
        else:
            lines.append("Everything in the bundle was mapped.")
        return "\n".join(lines)


def convert_bundle(archive: Path, out_dir: Path, work_dir: Path, *, slug: str | None = None,
                   base_image: str = DEFAULT_BASE_IMAGE) -> Conversion:
    """Write the challenge folder into `out_dir` (which must not exist); on any error nothing is left there."""
    if out_dir.exists():
        raise CodabenchBundleError(f"{out_dir} already exists; name a new folder")
    if not IMAGE_REFERENCE.match(base_image):
        raise CodabenchBundleError(f"--base-image {base_image!r} is not an image name (e.g. "
                                   "podium/python-base:bookworm)")
    try:
        unpacked = work_dir / "bundle"
        unpacked.mkdir(parents=True)
        competition = read_competition(unpack_bundle(archive, unpacked), work_dir / "artifacts")
        return _Writer(competition, out_dir, slug, base_image).write()
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def slugify(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:90].strip("-")
    return slug if len(slug) >= 2 else fallback


def legacy_command(command: str) -> str:
    return _LEGACY.sub(lambda match: LEGACY_VARIABLES[match.group(1)], command)


def aggregate_name(key: str, taken: set[str]) -> str:
    """A column key as an evaluator aggregate name (lower-case letters, digits, `_`, a letter first)."""
    name = re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_") or "score"
    if not name[0].isalpha():
        name = f"m_{name}"
    name, base, n = name[:63], name[:60], 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


class _Writer:
    def __init__(self, competition: Competition, out_dir: Path, slug: str | None, base_image: str) -> None:
        self.c = competition
        self.out = out_dir
        self.slug = slug or slugify(competition.title, "codabench-challenge")
        self.base_image = base_image
        self.unmapped = list(competition.unmapped) + [
            "the prediction step's run time is not passed to the scoring program: /app/input/res/metadata says "
            "elapsedTime: 0"]

    def write(self) -> Conversion:
        self.out.mkdir(parents=True)
        names: set[str] = set()
        columns = [(column, aggregate_name(column.key, names)) for column in
                   sorted(self.c.leaderboard.columns, key=lambda c: c.index)]
        phase_slugs: list[str] = []
        phases, builds = [], []
        for n, phase in enumerate(self.c.phases):
            phase_slug = slugify(phase.name, f"phase-{n + 1}")
            while phase_slug in phase_slugs:
                phase_slug = f"{phase_slug}-{n + 1}"
            phase_slugs.append(phase_slug)
            spec, build = self.phase(phase, phase_slug, columns)
            phases.append(spec)
            builds.append(build)
        spec = {
            "version": 1, "slug": self.slug, "title": self.c.title, "description": self.description(),
            "join_policy": "auto" if self.c.registration_auto_approve else "review", "terms": self.c.terms.strip(),
            "phases": phases,
        }
        try:
            ChallengeSpec.model_validate(spec)
        except ValidationError as exc:
            message = format_validation_error(Path(SPEC_FILE_NAME), exc)
            raise CodabenchBundleError(f"the bundle maps to an invalid challenge (fix the bundle, e.g. its dates, "
                                       f"or pass --slug):\n{message}") from None
        (self.out / SPEC_FILE_NAME).write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
        conversion = Conversion(self.out, self.slug, self.c.title, builds, self.unmapped)
        (self.out / REPORT_NAME).write_text(conversion.report() + "\n")
        return conversion

    def description(self) -> str:
        parts = [self.c.description.strip()] if self.c.description.strip() else []
        parts += [f"## {title}\n\n{text.strip()}" for title, text in self.c.pages if text.strip()]
        return "\n\n".join(parts)

    def phase(self, phase: Phase, slug: str, columns: list[tuple[Column, str]]) -> tuple[dict[str, Any],
                                                                                         EvaluatorBuild]:
        tasks = [self.c.tasks[i] for i in phase.task_indexes]
        test_set = self.out / "phases" / slug / "test-set"
        input_files = self._shared_input_files(tasks)
        inputs: list[dict[str, Any]] = [{"slug": "codabench-task", "kind": "json", "json_type": "object",
                                         "relative_path": TASK_INPUT,
                                         "description": "the Codabench task this case is: index, name, description"}]
        if input_files is None:
            inputs.append({"slug": "input-data", "kind": "file", "relative_path": INPUT_ZIP,
                           "description": "the task's input_data folder, zipped"})
        else:
            taken: set[str] = {"codabench-task"}
            for relative in input_files:
                inputs.append({"slug": _interface_slug(relative, taken), "kind": "file", "relative_path": relative})
        rows = ["case_id,task"]
        cases: dict[str, Any] = {}
        copied: dict[Path, str] = {}
        context = self.out / "evaluator-build" / slug
        programs = context / "programs"
        for task in tasks:
            case_id = f"task-{task.index}"
            rows.append(f"{case_id},{_csv_field(task.name)}")
            case_inputs = test_set / "inputs" / case_id
            case_inputs.mkdir(parents=True)
            (case_inputs / TASK_INPUT).write_text(json.dumps(
                {"index": task.index, "name": task.name, "description": task.description}))
            if input_files is None:
                _zip_folder(task.input_data, case_inputs / INPUT_ZIP)
            elif task.input_data is not None:
                for relative in input_files:
                    target = case_inputs / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(task.input_data / relative, target)
            truth = test_set / "ground_truth" / case_id
            truth.mkdir(parents=True)
            if task.reference_data is None:
                self.unmapped.append(f"task {task.index} ({task.name}): no reference_data; the scoring program gets "
                                     "an empty /app/input/ref")
            _zip_folder(task.reference_data, truth / REFERENCE_ZIP)
            program = copied.get(task.scoring_program)
            if program is None:  # tasks that share one scoring program share one copy
                program = copied[task.scoring_program] = f"task-{task.index}"
                shutil.copytree(task.scoring_program, programs / program, symlinks=False)
            cases[case_id] = {"task": task.name, "program": program,
                              "command": self._command(task.scoring_program, task)}
        (test_set / "cases.csv").write_text("\n".join(rows) + "\n")
        shutil.copyfile(ADAPTER, context / "adapter.py")
        (context / "codabench.json").write_text(json.dumps({
            "cases": cases, "reference_file": REFERENCE_ZIP, "prediction_file": PREDICTIONS_ZIP,
            "columns": [{"key": c.key, "name": name, "title": c.title, "index": c.index,
                         "computation": c.computation, "indexes": c.computation_indexes} for c, name in columns],
        }, indent=2))
        (context / "Dockerfile").write_text(_dockerfile(self.base_image))
        archive = f"phases/{slug}/evaluator.tar.gz"
        primary = next(c for c, _ in columns if c.index == self.c.leaderboard.primary_index)
        primary_name = next(name for c, name in columns if c is primary)
        shown = [name for c, name in columns if not c.hidden]
        spec: dict[str, Any] = {
            "slug": slug, "title": phase.name, "description": self._phase_description(phase, tasks, input_files),
            "test_set": f"phases/{slug}/test-set",
            "limits": self._limits(phase) | _scratch_limits(tasks),
            "inputs": inputs,
            "outputs": [{"slug": "predictions", "kind": "file", "relative_path": PREDICTIONS_ZIP,
                         "description": "a .zip of the files the scoring program reads from /app/input/res"}],
            "ground_truth": [{"slug": "reference-data", "kind": "file", "relative_path": REFERENCE_ZIP}],
            "evaluator": {"archive": archive, "aggregates": [
                {"name": name, "title": c.title, "higher_is_better": c.sorting == "desc"} for c, name in columns]},
            "ranking": {"metric": primary_name, "order": "descending" if primary.sorting == "desc" else "ascending"},
        }
        if phase.start is not None:
            spec["opens_at"] = phase.start.isoformat()
        if phase.end is not None:
            spec["closes_at"] = phase.end.isoformat()
        if len(shown) != len(columns) and shown:
            spec["leaderboard_columns"] = shown
        tag = f"podium-codabench/{self.slug}-{slug}:latest"
        return spec, EvaluatorBuild(slug, context, self.out / archive, tag)

    def _command(self, program: Path, task: Task) -> str:
        for name in ("metadata.yaml", "metadata"):
            if (program / name).is_file():
                try:
                    metadata = yaml.safe_load((program / name).read_bytes().decode("utf-8-sig"))
                except (yaml.YAMLError, UnicodeDecodeError) as exc:
                    raise CodabenchBundleError(f"task {task.index} ({task.name}): the scoring program's {name} is "
                                               f"not valid YAML: {exc}") from None
                command = metadata.get("command") if isinstance(metadata, dict) else None
                if not isinstance(command, str) or not command.strip():
                    raise CodabenchBundleError(f"task {task.index} ({task.name}): the scoring program's {name} has "
                                               "no `command` (e.g. command: python3 /app/program/score.py)")
                return legacy_command(command.strip())
        raise CodabenchBundleError(f"task {task.index} ({task.name}): the scoring program has no metadata.yaml (or "
                                   "metadata) with its `command` at its top")

    def _phase_description(self, phase: Phase, tasks: list[Task], input_files: list[str] | None) -> str:
        parts = [phase.description] if phase.description else []
        for task in tasks:
            if task.description:
                parts.append(f"**{task.name}** (case task-{task.index}): {task.description}")
        inputs = ("`input_data.zip` (the task's input data)" if input_files is None else
                  ", ".join(f"`{name}`" for name in input_files) or "no data files")
        parts.append(f"**Submitting** (imported from Codabench): each task is a case (`task-<index>`). Your container "
                     f"reads `/input/<case>/{TASK_INPUT}` (the task) and {inputs}, and writes "
                     f"`/output/<case>/{PREDICTIONS_ZIP}`: a .zip of the prediction files the scoring program reads "
                     "(what an ingestion program would have written).")
        return "\n\n".join(parts)

    def _limits(self, phase: Phase) -> dict[str, Any]:
        where = f"phase {phase.name!r}"
        limits: dict[str, Any] = {}
        seconds = phase.execution_time_limit
        if seconds <= 0 or seconds > MAX_TIME_LIMIT_SECONDS:
            limits["time_limit_seconds"] = MAX_TIME_LIMIT_SECONDS if seconds > 0 else 600
            self.unmapped.append(f"{where}: execution_time_limit {seconds} s is outside 1..{MAX_TIME_LIMIT_SECONDS}; "
                                 f"{limits['time_limit_seconds']} s is used")
        else:
            limits["time_limit_seconds"] = seconds
        per_day = phase.max_submissions_per_day
        if per_day <= 0 or per_day > MAX_SUBMISSIONS_PER_DAY:
            limits["submissions_per_day"] = MAX_SUBMISSIONS_PER_DAY
            self.unmapped.append(f"{where}: max_submissions_per_day {per_day} (0: unlimited) becomes "
                                 f"{MAX_SUBMISSIONS_PER_DAY}, the most a phase allows")
        else:
            limits["submissions_per_day"] = per_day
        if phase.max_submissions > 0:
            limits["submissions_total"] = min(phase.max_submissions, 1_000_000)
        return limits

    def _shared_input_files(self, tasks: list[Task]) -> list[str] | None:
        """The input files as separate interfaces when every task has the same few files with usable names."""
        listings: list[list[str] | None] = []
        for task in tasks:
            if task.input_data is None:
                listings.append(None)
                continue
            listings.append(sorted(p.relative_to(task.input_data).as_posix() for p in task.input_data.rglob("*")
                                   if p.is_file() and not p.is_symlink()))
        if all(listing is None for listing in listings):
            return []
        first = listings[0]
        if first is None or any(listing != first for listing in listings) or not first or \
                len(first) > MAX_INPUT_FILES or not all(RELATIVE_PATH_PATTERN.match(f) for f in first) or \
                TASK_INPUT in first:
            return None
        return first


def _scratch_limits(tasks: list[Task]) -> dict[str, int]:
    """The adapter unpacks a task's reference data (and the predictions) into /tmp, a tmpfs that counts against the
    memory limit: room for twice the largest reference data, and memory beyond it (else the defaults)."""
    largest = max((sum(p.stat().st_size for p in task.reference_data.rglob("*") if p.is_file())
                   for task in tasks if task.reference_data is not None), default=0)
    tmp_mb = min(65_536, max(256, math.ceil(2 * largest / 1024**2) + 64))
    return {} if tmp_mb == 256 else {"tmp_mb": tmp_mb, "memory_mb": max(1024, tmp_mb + 768)}


def _interface_slug(relative: str, taken: set[str]) -> str:
    base = slugify(relative, "input")[:90]
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if re.search(r'[",\n]', text) else text


def _zip_folder(folder: Path | None, archive: Path) -> None:
    """A zip of the folder's contents with fixed times, so the same data gives the same bytes (and test set hash)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as sink:
        if folder is None:
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                sink.writestr(info, path.read_bytes())


def _dockerfile(base_image: str) -> str:
    return f"""\
FROM {base_image}
COPY programs/ /opt/codabench/programs/
COPY adapter.py codabench.json /opt/codabench/
RUN mkdir -p /app && ln -s /tmp/codabench/program /app/program && ln -s /tmp/codabench/input /app/input \\
 && ln -s /tmp/codabench/output /app/output && ln -s /tmp/codabench/shared /app/shared \\
 && (command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python) \\
 && chmod -R a+rX /opt/codabench
ENTRYPOINT ["python3", "/opt/codabench/adapter.py"]
"""



