"""Read a Codabench competition bundle (competition.yaml v2, or v1/v1.5) into one normalised model.

The bundle is hostile input: it is unpacked with app/usecases/safe_unzip.py, and every file it names must lie
inside it. What real bundles contain is tolerated: `__MACOSX/` folders and `.DS_Store` or `._*` files (dropped from
programs and data), CRLF line endings, duplicate keys (the last one wins, as in PyYAML, which Codabench uses),
anchors and aliases, dates as YAML dates or month-first strings. What Podium cannot use is collected as `unmapped`
lines; what makes the bundle unusable raises `CodabenchBundleError`. The format is summarised in
../shared/design/CODABENCH_BUNDLE.md and docs/codabench.md.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from dateutil import parser as date_parser

from app.errors import ServiceError
from app.usecases.codabench.html_text import html_to_markdown
from app.usecases.safe_unzip import UnsafeArchive, unpack_zip

MAX_ENTRIES = 200_000
MAX_UNPACKED_BYTES = 8 * 1024**3
SPEC_NAME = "competition.yaml"
DEFAULT_DOCKER_IMAGE = "codalab/codalab-legacy:py37"
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_NO_TOP = "has no .podium-no-top-file at its top"


class CodabenchBundleError(ServiceError):
    """The bundle cannot be imported; the message says what was wrong and what to do. Nothing was written."""


@dataclass
class Task:
    index: int
    name: str
    description: str
    scoring_program: Path
    reference_data: Path | None
    input_data: Path | None


@dataclass
class Phase:
    name: str
    description: str
    start: datetime | None
    end: datetime | None
    task_indexes: list[int]
    max_submissions_per_day: int
    max_submissions: int
    execution_time_limit: int


@dataclass
class Column:
    key: str
    title: str
    index: int
    sorting: str  # "desc" (higher is better) or "asc"
    computation: str | None  # avg, sum, min, max
    computation_indexes: list[int]
    hidden: bool


@dataclass
class Leaderboard:
    title: str
    columns: list[Column]
    primary_index: int


@dataclass
class Competition:
    version: str
    title: str
    description: str
    terms: str
    pages: list[tuple[str, str]]  # (title, Markdown text)
    registration_auto_approve: bool
    tasks: dict[int, Task]
    phases: list[Phase]
    leaderboard: Leaderboard
    unmapped: list[str] = field(default_factory=list)


def unpack_bundle(archive: Path, into: Path) -> Path:
    """Unpack the bundle zip into the empty folder `into`; the folder holding competition.yaml."""
    try:
        return unpack_zip(archive, into, what="the Codabench bundle", top_file=SPEC_NAME, max_entries=MAX_ENTRIES,
                          max_bytes=MAX_UNPACKED_BYTES)
    except UnsafeArchive as exc:
        raise CodabenchBundleError(f"{exc} (a Codabench bundle is a .zip with competition.yaml at its root)") from None


def read_competition(root: Path, work_dir: Path) -> Competition:
    """Parse and normalise the unpacked bundle at `root`; zipped programs and data are unpacked under work_dir."""
    raw = _load_yaml(root / SPEC_NAME)
    version = str(raw.get("version", "1")).strip()
    reader = _Reader(root, work_dir)
    if version in ("1", "1.0", "1.5", "1.8"):
        return reader.v15(raw, version)
    if version in ("2", "2.0"):
        return reader.v2(raw)
    raise CodabenchBundleError(f"competition.yaml: version {version!r} is not a Codabench bundle version; "
                               "Codabench reads version 2, or 1/1.5 (CodaLab bundles)")


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
        # PyYAML's safe loader, as Codabench's oyaml: YAML 1.1 dates, anchors and aliases; a duplicate key's last
        # value wins.
        raw = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise CodabenchBundleError("competition.yaml is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise CodabenchBundleError(f"competition.yaml is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CodabenchBundleError("competition.yaml: the top level must be a mapping of keys to values")
    return raw


class _Reader:
    def __init__(self, root: Path, work_dir: Path) -> None:
        self.root = root.resolve()
        self.work_dir = work_dir
        self.unmapped: list[str] = []
        self._unpacked = 0

    # --- version 2 ---------------------------------------------------------------------------------------------
    def v2(self, raw: dict[str, Any]) -> Competition:
        title = _text(raw.get("title")) or _missing("title")
        self._note_top_level(raw, V2_TOP_LEVEL)
        terms_path = raw.get("terms") or _missing("terms (a Markdown or HTML file)")
        pages = []
        for n, page in enumerate(_list(raw.get("pages"), "pages")):
            if not isinstance(page, dict) or "file" not in page:
                raise CodabenchBundleError(f"competition.yaml: pages[{n}] needs a title and a file")
            pages.append((_text(page.get("title")) or f"Page {n + 1}", self.page_text(page["file"], f"pages[{n}]")))
        tasks: dict[int, Task] = {}
        for n, entry in enumerate(_list(raw.get("tasks"), "tasks")):
            task = self.v2_task(entry, n)
            if task.index in tasks:
                raise CodabenchBundleError(f"competition.yaml: tasks[{n}]: index {task.index} appears twice")
            tasks[task.index] = task
        if raw.get("solutions"):
            self.unmapped.append("solutions: example submissions are not imported (participants submit "
                                 "containers here; build one from the starting kit)")
        entries = _list(raw.get("phases"), "phases") or _missing("phases (at least one)")
        ordered = sorted(enumerate(entries), key=lambda item: _int(_dict(item[1], f"phases[{item[0]}]")
                                                                    .get("index", 0), f"phases[{item[0]}].index"))
        phases = [self.v2_phase(entry, n, tasks) for n, entry in ordered]
        boards = _list(raw.get("leaderboards"), "leaderboards")
        if not boards:
            raise CodabenchBundleError("competition.yaml: no leaderboards; Codabench needs `leaderboards:` (a list, "
                                       "plural) with at least one leaderboard and its columns")
        return Competition(
            version="2", title=title, description=_text(raw.get("description")),
            terms=self.page_text(terms_path, "terms"), pages=pages,
            registration_auto_approve=bool(raw.get("registration_auto_approve", False)),
            tasks=tasks, phases=phases, leaderboard=self.v2_leaderboards(boards), unmapped=self.unmapped)

    def v2_task(self, entry: Any, n: int) -> Task:
        where = f"tasks[{n}]"
        entry = _dict(entry, where)
        if "key" in entry:
            raise CodabenchBundleError(f"competition.yaml: {where}: key {entry['key']!r} refers to a task stored on "
                                       "a Codabench server, which cannot be read here; put the task's programs and "
                                       "data in the bundle instead")
        if "index" not in entry:
            raise CodabenchBundleError(f"competition.yaml: {where}: index is required (phases refer to it)")
        index = _int(entry["index"], f"{where}.index")
        name = _text(entry.get("name")) or f"Task {index}"
        if entry.get("ingestion_program"):
            self.unmapped.append(f"{where} ({name}): ingestion_program is not run: participants submit a container "
                                 "that does the prediction step itself (reads the inputs, writes predictions.zip)")
        if entry.get("ingestion_only_during_scoring"):
            self.unmapped.append(f"{where} ({name}): ingestion_only_during_scoring has no equivalent (no ingestion)")
        return Task(
            index=index, name=name, description=_text(entry.get("description")),
            scoring_program=self.artifact(entry.get("scoring_program") or _missing(f"{where}.scoring_program"),
                                          f"{where}.scoring_program"),
            reference_data=self.optional_artifact(entry.get("reference_data"), f"{where}.reference_data"),
            input_data=self.optional_artifact(entry.get("input_data"), f"{where}.input_data"))

    def v2_phase(self, entry: dict[str, Any], n: int, tasks: dict[int, Task]) -> Phase:
        where = f"phases[{n}]"
        name = _text(entry.get("name")) or f"Phase {n + 1}"
        task_indexes = [_int(t, f"{where}.tasks") for t in _list(entry.get("tasks"), f"{where}.tasks")]
        if not task_indexes:
            raise CodabenchBundleError(f"competition.yaml: {where} ({name}) lists no tasks")
        unknown = [t for t in task_indexes if t not in tasks]
        if unknown:
            raise CodabenchBundleError(f"competition.yaml: {where} ({name}) refers to task index(es) "
                                       f"{', '.join(map(str, unknown))}, which no task has")
        self._note_phase_flags(entry, f"{where} ({name})")
        return Phase(
            name=name, description=_text(entry.get("description")),
            start=self.moment(entry.get("start"), f"{where}.start"),
            end=self.moment(entry.get("end"), f"{where}.end"), task_indexes=task_indexes,
            max_submissions_per_day=_int(entry.get("max_submissions_per_day", 5), f"{where}.max_submissions_per_day"),
            max_submissions=_int(entry.get("max_submissions", 100), f"{where}.max_submissions"),
            execution_time_limit=_int(entry.get("execution_time_limit", 600), f"{where}.execution_time_limit"))

    def v2_leaderboards(self, boards: list[Any]) -> Leaderboard:
        first = _dict(boards[0], "leaderboards[0]")
        for n, later in enumerate(boards[1:], start=1):
            title = _text(_dict(later, f"leaderboards[{n}]").get("title")) or f"#{n}"
            self.unmapped.append(f"leaderboards[{n}] ({title}): only the first leaderboard is used (as in "
                                 "Codabench, which attaches leaderboards[0] to every phase)")
        if first.get("hidden"):
            self.unmapped.append("leaderboards[0].hidden: the leaderboard is shown; hide results per phase on the "
                                 "edit page (results_published) instead")
        rule = _text(first.get("submission_rule")) or "Add"
        if rule != "Add":
            self.unmapped.append(f"leaderboards[0].submission_rule {rule!r}: Podium ranks each entrant's best "
                                 "submission (or the final ones they select, with a public/private split)")
        columns = []
        for n, column in enumerate(_list(first.get("columns"), "leaderboards[0].columns")):
            where = f"leaderboards[0].columns[{n}]"
            column = _dict(column, where)
            key = _text(column.get("key")) or _missing(f"{where}.key")
            computation = _text(column.get("computation")) or None
            if computation not in (None, "avg", "sum", "min", "max"):
                raise CodabenchBundleError(f"competition.yaml: {where}.computation {computation!r} is not one of "
                                           "avg, sum, min, max")
            indexes = column.get("computation_indexes") or []
            if isinstance(indexes, str):
                indexes = [part for part in indexes.split(",") if part.strip()]
            indexes = [_int(i, f"{where}.computation_indexes") for i in _list(indexes, where)]
            if computation and not indexes:
                raise CodabenchBundleError(f"competition.yaml: {where} computes {computation} but lists no "
                                           "computation_indexes")
            if "precision" in column and _int(column["precision"], f"{where}.precision") != 2:
                self.unmapped.append(f"{where} ({key}): precision {column['precision']} is not kept; the "
                                     "leaderboard shows its own number of digits")
            columns.append(Column(key=key, title=_text(column.get("title")) or key,
                                  index=_int(column.get("index", n), f"{where}.index"),
                                  sorting=_sorting(column.get("sorting"), where), computation=computation,
                                  computation_indexes=indexes, hidden=bool(column.get("hidden", False))))
        if not columns:
            raise CodabenchBundleError("competition.yaml: leaderboards[0] has no columns")
        primary = _int(first.get("primary_index", 0), "leaderboards[0].primary_index")
        return _checked_leaderboard(Leaderboard(_text(first.get("title")) or "Results", columns, primary))

    # --- version 1 / 1.5 (CodaLab) ----------------------------------------------------------------------------
    def v15(self, raw: dict[str, Any], version: str) -> Competition:
        title = _text(raw.get("title")) or _missing("title")
        self._note_top_level(raw, V15_TOP_LEVEL)
        html = _dict(raw.get("html") or {}, "html")
        if "terms" not in html:
            raise CodabenchBundleError("competition.yaml: html has no `terms` page; a v1.5 bundle names its terms "
                                       "as html: {terms: terms.html, ...}")
        pages = [(str(name).replace("_", " ").capitalize(), self.page_text(path, f"html.{name}"))
                 for name, path in html.items() if name != "terms"]
        raw_phases = _dict(raw.get("phases") or {}, "phases")
        if not raw_phases:
            raise CodabenchBundleError("competition.yaml: no phases")
        entries = [_dict(entry, f"phases.{key}") for key, entry in raw_phases.items()]
        if any("is_parallel_parent" in e or "parent_phasenumber" in e for e in entries):
            raise CodabenchBundleError("competition.yaml: v1.8 parallel phases (is_parallel_parent, "
                                       "parent_phasenumber) are not supported; list one phase per task instead")
        entries.sort(key=lambda e: _int(e.get("phasenumber", 0), "phases.phasenumber"))
        tasks: dict[int, Task] = {}
        phases: list[Phase] = []
        for n, entry in enumerate(entries):
            where = f"phases.{entry.get('phasenumber', n + 1)}"
            label = _text(entry.get("label")) or f"Phase {n + 1}"
            if entry.get("ingestion_program"):
                self.unmapped.append(f"{where} ({label}): ingestion_program is not run: participants submit a "
                                     "container that does the prediction step itself")
            tasks[n] = Task(
                index=n, name=f"{label} Task", description="",
                scoring_program=self.artifact(entry.get("scoring_program") or _missing(f"{where}.scoring_program"),
                                              f"{where}.scoring_program"),
                reference_data=self.optional_artifact(entry.get("reference_data"), f"{where}.reference_data"),
                input_data=self.optional_artifact(entry.get("input_data"), f"{where}.input_data"))
            self._note_phase_flags(entry, f"{where} ({label})", v15=True)
            start = self.moment(entry.get("start_date"), f"{where}.start_date")
            phases.append(Phase(
                name=label, description=_text(entry.get("description")), start=start, end=None, task_indexes=[n],
                max_submissions_per_day=_int(entry.get("max_submissions_per_day", 5),
                                             f"{where}.max_submissions_per_day"),
                max_submissions=_int(entry.get("max_submissions", 100), f"{where}.max_submissions"),
                execution_time_limit=_int(entry.get("execution_time_limit", 600), f"{where}.execution_time_limit")))
        for phase, following in zip(phases, phases[1:], strict=False):
            if following.start is not None:  # as Codabench: a phase ends a day before the next one starts
                phase.end = following.start - timedelta(days=1)
        phases[-1].end = self.moment(raw.get("end_date"), "end_date")
        return Competition(
            version=version, title=title, description=_text(raw.get("description")),
            terms=self.page_text(html["terms"], "html.terms"), pages=pages,
            registration_auto_approve=not bool(raw.get("has_registration", True)),
            tasks=tasks, phases=phases, leaderboard=self.v15_leaderboard(raw.get("leaderboard")),
            unmapped=self.unmapped)

    def v15_leaderboard(self, raw: Any) -> Leaderboard:
        raw = _dict(raw or {}, "leaderboard")
        boards = _dict(raw.get("leaderboards") or {}, "leaderboard.leaderboards")
        if not boards:
            raise CodabenchBundleError("competition.yaml: leaderboard.leaderboards is empty; name one leaderboard")
        ordered = sorted(boards.items(), key=lambda item: _int(_dict(item[1], "leaderboard.leaderboards")
                                                               .get("rank", 1), "leaderboard.leaderboards.rank"))
        first_key, first = ordered[0]
        first_label = (_text(first.get("label")) or str(first_key)).lower()
        for key, _ in ordered[1:]:
            self.unmapped.append(f"leaderboard.leaderboards.{key}: only the first leaderboard is used")
        raw_columns = _dict(raw.get("columns") or {}, "leaderboard.columns")
        ordered_columns = sorted(raw_columns.items(), key=lambda item: _int(
            _dict(item[1], f"leaderboard.columns.{item[0]}").get("rank", 1), f"leaderboard.columns.{item[0]}.rank"))
        columns: list[Column] = []
        keys = [str(key) for key, _ in ordered_columns]
        for key, column in ordered_columns:
            where = f"leaderboard.columns.{key}"
            board = column.get("leaderboard") or {}
            board_label = _text(board.get("label") if isinstance(board, dict) else board).lower()
            if board_label != first_label:
                self.unmapped.append(f"{where}: belongs to another leaderboard ({board_label or 'none'}); left out")
                continue
            computation, indexes = None, []
            computed = column.get("computed")
            if computed:
                computed = _dict(computed, f"{where}.computed")
                computation = {"average": "avg", "avg": "avg", "sum": "sum", "min": "min", "minimum": "min",
                               "max": "max", "maximum": "max"}.get(_text(computed.get("operation")).lower())
                fields = [f.strip() for f in _text(computed.get("fields")).split(",") if f.strip()]
                if computation is None or not fields or any(f not in keys for f in fields):
                    raise CodabenchBundleError(f"competition.yaml: {where}.computed needs an operation (Average, Sum, "
                                               "Min, Max) and fields naming other columns")
                indexes = [keys.index(f) for f in fields]
            if _text(column.get("numeric_format")) not in ("", "2"):
                self.unmapped.append(f"{where}: numeric_format {column['numeric_format']} is not kept")
            columns.append(Column(key=str(key), title=_text(column.get("label")) or str(key),
                                  index=keys.index(str(key)), sorting=_sorting(column.get("sort"), where),
                                  computation=computation, computation_indexes=indexes,
                                  hidden=bool(column.get("hidden", False))))
        if not columns:
            raise CodabenchBundleError(f"competition.yaml: leaderboard {first_key!r} has no columns")
        return _checked_leaderboard(Leaderboard(_text(first.get("label")) or str(first_key), columns,
                                                primary_index=columns[0].index))

    # --- shared ------------------------------------------------------------------------------------------------
    def _note_top_level(self, raw: dict[str, Any], notes: dict[str, str]) -> None:
        for key, value in raw.items():
            if key in notes and notes[key] and value not in (None, "", [], {}):
                if key in ("docker_image", "competition_docker_image") and value == DEFAULT_DOCKER_IMAGE:
                    continue
                self.unmapped.append(f"{key}: {notes[key]}")
            elif key not in notes:
                self.unmapped.append(f"{key}: not a key Codabench reads; ignored")

    def _note_phase_flags(self, entry: dict[str, Any], where: str, *, v15: bool = False) -> None:
        for key, why in PHASE_NOTES.items():
            value = entry.get(key)
            if value not in (None, False, "", [], 0):
                self.unmapped.append(f"{where}: {key}: {why}")
        if "max_submissions_per_person" in entry:
            self.unmapped.append(f"{where}: max_submissions_per_person is ignored (Codabench reads max_submissions)")

    def moment(self, value: Any, where: str) -> datetime | None:
        """Codabench's reading: a date is midnight; a string is parsed month-first; the zone is set to UTC."""
        if not value:
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        else:
            try:
                moment = date_parser.parse(str(value))
            except (ValueError, OverflowError):
                raise CodabenchBundleError(f"competition.yaml: {where}: {value!r} is not a date; write e.g. "
                                           "2027-01-31 or 2027-01-31 13:30:00") from None
        if moment.tzinfo is not None and moment.utcoffset():
            self.unmapped.append(f"{where}: the offset of {value} is dropped and the time read as UTC, as Codabench "
                                 "does")
        return moment.replace(tzinfo=UTC)

    def page_text(self, relative: Any, where: str) -> str:
        path = self._inside(relative, where)
        if not path.is_file():
            raise CodabenchBundleError(f"competition.yaml: {where}: {relative} is not a file in the bundle")
        text = path.read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        if path.suffix.lower() in (".html", ".htm"):
            return html_to_markdown(text)
        return text

    def optional_artifact(self, relative: Any, where: str) -> Path | None:
        return None if not relative else self.artifact(relative, where)

    def artifact(self, relative: Any, where: str) -> Path:
        """A program or data set: a folder, or a .zip unpacked here; its contents are the artifact's root."""
        if isinstance(relative, str) and UUID_PATTERN.match(relative.strip()) and \
                not (self.root / relative.strip()).exists():
            raise CodabenchBundleError(f"competition.yaml: {where}: {relative!r} is the key of a data set stored on "
                                       "a Codabench server, which cannot be read here; put the folder or .zip in "
                                       "the bundle and name its path")
        path = self._inside(relative, where)
        if path.is_dir():
            _remove_junk(path)
            return path
        if path.is_file() and path.suffix.lower() == ".zip":
            self._unpacked += 1
            target = self.work_dir / f"artifact-{self._unpacked}"
            target.mkdir(parents=True)
            try:
                unpack_zip(path, target, what=f"{relative} ({where})", top_file=".podium-no-top-file",
                           max_entries=MAX_ENTRIES, max_bytes=MAX_UNPACKED_BYTES)
            except UnsafeArchive as exc:
                if _NO_TOP not in str(exc):  # every entry was checked and written before the top-file check
                    raise CodabenchBundleError(str(exc)) from None
            _remove_junk(target)
            return target
        if path.is_file():
            raise CodabenchBundleError(f"competition.yaml: {where}: {relative} is neither a folder nor a .zip")
        raise CodabenchBundleError(f"competition.yaml: {where}: {relative} is not in the bundle; add it, or fix the "
                                   "path (relative to competition.yaml)")

    def _inside(self, relative: Any, where: str) -> Path:
        if not isinstance(relative, str) or not relative.strip():
            raise CodabenchBundleError(f"competition.yaml: {where} must be a path inside the bundle")
        path = (self.root / relative.strip()).resolve()
        if not path.is_relative_to(self.root):
            raise CodabenchBundleError(f"competition.yaml: {where}: {relative!r} points outside the bundle")
        return path


JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


def _remove_junk(folder: Path) -> None:
    """What archivers and file browsers leave in bundles (macOS resource forks, folder settings): not data."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.name in JUNK_NAMES or (path.name.startswith("._") and path.is_file()):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _checked_leaderboard(board: Leaderboard) -> Leaderboard:
    indexes = [c.index for c in board.columns]
    keys = [c.key for c in board.columns]
    if len(set(indexes)) != len(indexes) or len(set(keys)) != len(keys):
        raise CodabenchBundleError("competition.yaml: leaderboard columns need distinct keys and indexes")
    for column in board.columns:
        bad = [i for i in column.computation_indexes if i not in indexes or i == column.index]
        if bad:
            raise CodabenchBundleError(f"competition.yaml: column {column.key!r}: computation_indexes "
                                       f"{', '.join(map(str, bad))} name no other column")
    if board.primary_index not in indexes:
        raise CodabenchBundleError(f"competition.yaml: primary_index {board.primary_index} is not a column index")
    return board


def _sorting(value: Any, where: str) -> str:
    sorting = (_text(value) or "desc").lower()
    if sorting not in ("asc", "desc"):
        raise CodabenchBundleError(f"competition.yaml: {where}: sorting {value!r} must be asc or desc")
    return sorting


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CodabenchBundleError(f"competition.yaml: {where}: {value!r} is not a whole number") from None


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CodabenchBundleError(f"competition.yaml: {where} must be a list")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodabenchBundleError(f"competition.yaml: {where} must be a mapping of keys to values")
    return value


def _missing(what: str) -> Any:
    raise CodabenchBundleError(f"competition.yaml: {what} is required")


PHASE_NOTES = {
    "auto_migrate_to_this_phase": "submissions are not carried from one phase to the next; participants submit "
                                  "again",
    "auto_migration": "submissions are not carried from one phase to the next; participants submit again",
    "hide_output": "what participants read is the phase's log_visibility (default: the platform's failure message "
                   "only)",
    "hide_prediction_output": "participants never read their raw outputs here",
    "hide_score_output": "the scoring program's output is kept for the organisers only",
    "starting_kit": "not imported; publish it as a public file (public_files) of the challenge",
    "public_data": "not imported; publish it as a public file (public_files) of the challenge",
    "accepts_only_result_submissions": "result-only submissions do not exist here: every submission is a container "
                                       "that writes its predictions",
    "is_scoring_only": "result-only submissions do not exist here: every submission is a container",
    "force_submission_to_leaderboard": "the leaderboard shows each entrant's best submission",
    "force_best_submission_to_leaderboard": "the leaderboard shows each entrant's best submission",
    "leaderboard_management_mode": "results are published or hidden per phase on the edit page",
    "color": "not used",
    "ingestion_program_only_during_scoring": "no equivalent (no ingestion program)",
}
_IGNORED = "not used here"
V2_TOP_LEVEL: dict[str, str] = {
    "version": "", "title": "", "description": "", "terms": "", "pages": "", "tasks": "", "solutions": "",
    "phases": "", "leaderboards": "", "registration_auto_approve": "",
    "image": "the logo is not imported",
    "docker_image": "no registry here: the scoring program runs on the evaluator's base image (--base-image)",
    "enable_detailed_results": "detailed_results.html is not shown; the leaderboard shows the scores",
    "show_detailed_results_in_submission_panel": _IGNORED, "show_detailed_results_in_leaderboard": _IGNORED,
    "auto_run_submissions": "every submission is run", "can_participants_make_submissions_public": _IGNORED,
    "make_programs_available": "the scoring program is never shown to participants",
    "make_input_data_available": "the hidden inputs are never shown to participants",
    "competition_type": _IGNORED,
    "fact_sheet": "fact sheets are not supported; ask participants in the terms or by mail",
    "reward": "put it in the description", "contact_email": "put it in the description",
    "forum_enabled": "no forum here", "queue": "Podium's workers run every submission",
}
V15_TOP_LEVEL: dict[str, str] = {
    "version": "", "title": "", "description": "", "html": "", "phases": "", "leaderboard": "",
    "has_registration": "", "end_date": "",
    "image": "the logo is not imported",
    "competition_docker_image": "no registry here: the scoring program runs on the evaluator's base image "
                                "(--base-image)",
    "admin_names": "add organisers on the Manage page (they need an account)",
    "allow_teams": "teams are always allowed (max_team_size limits them)", "enable_forum": "no forum here",
    "disallow_leaderboard_modifying": _IGNORED, "enable_detailed_results": "detailed results are not shown",
    "enable_per_submission_metadata": _IGNORED, "show_datasets_from_yaml": _IGNORED,
    "force_submission_to_leaderboard": "the leaderboard shows each entrant's best submission",
    "force_best_submission_to_leaderboard": "the leaderboard shows each entrant's best submission",
    "anonymous_leaderboard": _IGNORED,
}
