"""Turn a run's collected outputs into per-case outcomes and aggregate scores with metric plugins.

Policy for missing or invalid outputs (issue-level default, see docs/scoring.md): every case must have a
valid value for every declared output; otherwise the submission fails with a per-case report and no
score is published. Extra files are ignored and reported.

Every problem and note is worded twice where it is made (Message): `full` may quote what the container
chose (names of the files and folders it wrote, the start of a file, a value), for organisers and for phases
that show participants full logs; `safe` says the same in the platform's own words and counts only, for
participants under the failure-message policy. A participant's container reads the hidden inputs, so any
text of its choosing that comes back to the participant could carry them out (docs/security.md). Case ids
in both wordings are the test set's own keys, and paths are the declared outputs' paths under them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.challenge_yaml import Interface
from app.image_files import (
    ImageFileError,
    ImageHeader,
    check_output_image,
    find_image,
    ground_truth_image,
    read_header,
)
from app.interface_values import json_value_problem
from app.models import CaseStatus, MissingCasePolicy
from evaluation.base import Metric, MetricInput, MetricInputError, MetricResult
from evaluation.registry import get_metric
from runners.outputs import BAD_NAME, HARDLINK, SETID, SPECIAL, SYMLINK, UNREADABLE

MAX_JSON_OUTPUT_BYTES = 1 << 20
MAX_PROBLEMS_SHOWN = 10
# Why the collector refused an entry of /output: the platform's own words (runners/outputs.py), never the
# container's; any other reason is described generically in the safe wording.
COLLECTOR_REASONS = frozenset({SYMLINK, HARDLINK, SPECIAL, SETID, BAD_NAME, UNREADABLE})


@dataclass(frozen=True)
class Message:
    """One problem or note, worded twice where it is made.

    full: may quote what the container chose (file and folder names, values, the start of a file);
    safe: the platform's words, the test set's case ids, declared output paths and counts only.
    """

    full: str
    safe: str


@dataclass
class CaseScoring:
    case_key: str
    status: CaseStatus
    message: str = ""  # the full wording (organisers; stored on the case's outcome)
    safe_message: str = ""  # the same in the platform's words only
    prediction: dict[str, Any] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)  # per-case metric values (None: not finite)


@dataclass
class ScoringResult:
    cases: list[CaseScoring]
    scores: dict[str, MetricResult]
    problems: list[Message]  # one per case without a valid output, "<case id>: <why>"
    notes: list[Message]  # what did not fail the run: ignored files, excluded cases
    subset_scores: dict[str, dict[str, MetricResult]] = field(default_factory=dict)  # "public"/"private"

    @property
    def ok(self) -> bool:
        return not self.problems

    def note_texts(self, *, safe: bool = False) -> list[str]:
        """The notes in the full wording, or (safe=True) in the platform's words only."""
        return [note.safe if safe else note.full for note in self.notes]

    def failure_message(self, *, safe: bool = False) -> str:
        """The per-case report of a failed scoring: first ten problems, then a count. safe=True: in the
        platform's words only (what participants read under the failure-message policy)."""
        invalid = [c for c in self.cases if c.status != CaseStatus.VALID]
        shown = [problem.safe if safe else problem.full for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        more = len(self.problems) - len(shown)
        head = (f"{len(invalid)} of {len(self.cases)} cases have no valid output, so the submission was not "
                "scored; every case needs every declared output (see the container contract):")
        return head + "\n  - " + "\n  - ".join(shown) + (f"\n  ... and {more} more" if more else "")


class ScoringConfigurationError(RuntimeError):
    """The phase cannot be scored as configured (an organiser problem, not the participant's)."""


def score_outputs(
    *,
    case_keys: list[str],
    outputs: list[Interface],
    ground_truth: list[Interface],
    metrics: list[dict[str, Any]],
    output_files: dict[str, Path],
    rejected_files: dict[str, str],
    truth_dir: Path,
    read_output: Callable[[Path, int], bytes],
    missing_cases: str = MissingCasePolicy.FAIL,
    metadata: dict[str, dict[str, str]] | None = None,
    subsets: dict[str, set[str]] | None = None,
    cluster_by: str | None = None,
    case_failures: dict[str, Message] | None = None,
    input_images: Mapping[str, Mapping[str, Path]] | None = None,
) -> ScoringResult:
    """Validate every case's outputs, apply the phase's missing-case policy, and run the metric plugins.

    missing_cases: "fail" (any missing or invalid case fails the submission), "worst" (such a case gets
    the worst value its interface allows: the bound farthest from the reference), or "exclude" (such
    cases are left out of every metric and counted).
    cluster_by: a metadata column grouping cases (e.g. patient_id): each score's CI then resamples groups, as the
    phase's analysis does (docs/statistics.md); a case with no value is a group of its own.
    case_failures: per-case mode: the cases whose own container run failed, with why (exit code, time or memory
    limit); such a case has no output (MISSING) and the missing-case policy applies to it as to any other.
    input_images: case id -> image input slug -> the staged input file (for an output's image.same_grid_as).
    """
    expected = declared_output_files(case_keys, outputs, output_files)
    notes = ignored_output_notes(case_keys, expected, output_files, rejected_files)

    case_results: list[CaseScoring] = []
    problems: list[Message] = []
    for case in case_keys:
        result = CaseScoring(case_key=case, status=CaseStatus.VALID)
        failure = (case_failures or {}).get(case)
        if failure is not None:
            result.status, result.message, result.safe_message = CaseStatus.MISSING, failure.full, failure.safe
            problems.append(Message(f"{case}: {failure.full}", f"{case}: {failure.safe}"))
            case_results.append(result)
            continue
        for interface in outputs:
            relative = f"{case}/{interface.relative_path}"
            if interface.kind == "image":
                value, problem = _read_image_output(case, interface, output_files, rejected_files,
                                                    (input_images or {}).get(case, {}))
            else:
                value, problem = _read_output_value(output_files.get(relative), relative, interface,
                                                    rejected_files.get(relative), read_output)
            if problem:
                result.status = CaseStatus.MISSING if value is _MISSING else CaseStatus.INVALID
                result.message, result.safe_message = problem.full, problem.safe
                problems.append(Message(f"{case}: {problem.full}", f"{case}: {problem.safe}"))
                break
            result.prediction[interface.slug] = value
        case_results.append(result)
    problems += _metric_input_problems(case_results, outputs, ground_truth, metrics, truth_dir)
    if problems and missing_cases == MissingCasePolicy.FAIL:
        return ScoringResult(case_results, {}, problems, notes)

    truths = _read_truths(case_keys, ground_truth, truth_dir)
    if problems and missing_cases == MissingCasePolicy.WORST:
        _substitute_worst(case_results, outputs, metrics, truths)
    scored = [c for c in case_results if c.status == CaseStatus.VALID or missing_cases == MissingCasePolicy.WORST]
    if problems:
        note = (f"{len(problems)} case(s) without a valid output were "
                f"{'given the worst value' if missing_cases == MissingCasePolicy.WORST else 'excluded'}")
        notes.insert(0, Message(note, note))
    scores: dict[str, MetricResult] = {}
    subset_scores: dict[str, dict[str, MetricResult]] = {}
    for metric_spec in metrics:
        metric = get_metric(metric_spec["name"])
        metric_result = _compute(metric, metric_spec, scored, truths, truth_dir, ground_truth, metadata, cluster_by)
        scores[metric.name] = metric_result
        if metric_result.per_case is not None:
            for scored_case, value in zip(scored, metric_result.per_case, strict=True):
                scored_case.values[metric.name] = None if not np.isfinite(value) else float(value)
        for subset, members in (subsets or {}).items():
            part = [c for c in scored if c.case_key in members]
            subset_scores.setdefault(subset, {})[metric.name] = _compute(metric, metric_spec, part, truths,
                                                                         truth_dir, ground_truth, metadata, cluster_by)
    return ScoringResult(case_results, scores, [], notes, subset_scores)


def declared_output_files(case_keys: list[str], outputs: list[Interface], output_files: Mapping[str, Path]
                          ) -> set[str]:
    """The paths (relative to /output) that declared outputs account for: a json or file output's own path, and
    every file inside an image output's folder (what else it holds is reported on the case itself)."""
    expected = {f"{case}/{o.relative_path}" for case in case_keys for o in outputs if o.kind != "image"}
    folders = tuple(f"{case}/{o.relative_path}/" for case in case_keys for o in outputs if o.kind == "image")
    if folders:
        expected |= {path for path in output_files if path.startswith(folders)}
    return expected


def ignored_output_notes(case_keys: list[str], expected: set[str], output_files: dict[str, Path],
                         rejected_files: dict[str, str]) -> list[Message]:
    """Notes on what the collector refused and what scoring ignores: the full wording names the paths the
    container wrote; the safe one only counts them (by the collector's reason, which is the platform's)."""
    notes: list[Message] = []
    if rejected_files:
        n = len(rejected_files)
        what = (f"ignored {_count(n, 'entry', 'entries')} of /output that "
                f"{'is not a regular file' if n == 1 else 'are not regular files'} or could not be read")
        named = [f"{path} ({reason})" for path, reason in sorted(rejected_files.items())]
        reasons: dict[str, int] = {}
        for reason in rejected_files.values():
            known = reason if reason in COLLECTOR_REASONS else "other"
            reasons[known] = reasons.get(known, 0) + 1
        notes.append(Message(f"{what}: {_first(named)}",
                             f"{what} ({', '.join(f'{r}: {c}' for r, c in sorted(reasons.items()))})"))
    unknown = sorted({p.split("/", 1)[0] for p in output_files if "/" in p} - set(case_keys))
    if unknown:
        notes.append(Message(
            f"ignored outputs for {len(unknown)} case id(s) not in the test set: {_first(unknown)}",
            f"ignored outputs in {_count(len(unknown), 'folder')} of /output that "
            f"{'names' if len(unknown) == 1 else 'name'} no case of the test set"))
    extra = sorted(set(output_files) - expected)
    if extra:
        notes.append(Message(f"ignored {len(extra)} file(s) that are not declared outputs, e.g. {extra[0]}",
                             f"ignored {_count(len(extra), 'file')} in /output that "
                             f"{'is not a declared output' if len(extra) == 1 else 'are not declared outputs'}"))
    return notes


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _first(names: list[str], shown: int = 10) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f", ... and {more} more" if more > 0 else "")


def _compute(metric: Metric, spec: dict[str, Any], scored: list[CaseScoring], truths: dict[str, dict[str, Any]],
             truth_dir: Path, ground_truth: list[Interface], metadata: dict[str, dict[str, str]] | None,
             cluster_by: str | None = None) -> MetricResult:
    ids = [c.case_key for c in scored]
    if getattr(metric, "input_kind", "scalar") == "scalar":
        predictions: Any = np.array([float(c.prediction[spec["prediction"]]) for c in scored])
        targets: Any = np.array([float(truths[c][spec["target"]]) for c in ids])
    else:
        by_slug = {g.slug: g for g in ground_truth}
        predictions = [Path(c.prediction[spec["prediction"]]) for c in scored]
        targets = [truth_file(truth_dir, c, by_slug[spec["target"]]) for c in ids]
    columns = sorted({k for meta in (metadata or {}).values() for k in meta})
    groups = {c: (metadata or {}).get(c, {}).get(cluster_by) or None for c in ids} if cluster_by else None
    data = MetricInput(case_ids=ids, predictions=predictions, targets=targets,
                       metadata={k: [(metadata or {}).get(c, {}).get(k, "") for c in ids] for k in columns},
                       options=dict(spec.get("options") or {}),
                       groups=groups)
    try:
        return metric.compute(data)
    except ValueError as exc:
        raise ScoringConfigurationError(f"metric {metric.name}: {exc}") from exc


def _substitute_worst(cases: list[CaseScoring], outputs: list[Interface], metrics: list[dict[str, Any]],
                      truths: dict[str, dict[str, Any]]) -> None:
    """Give each unscored case the bound of the output's range farthest from its reference value."""
    interfaces = {o.slug: o for o in outputs}
    for case in cases:
        if case.status == CaseStatus.VALID:
            continue
        for spec in metrics:
            interface = interfaces[spec["prediction"]]
            if interface.minimum is None or interface.maximum is None:
                raise ScoringConfigurationError(f"missing_cases 'worst' needs minimum and maximum on output "
                                                f"{interface.slug!r}")
            reference = float(truths[case.case_key][spec["target"]])
            bounds = (interface.minimum, interface.maximum)
            case.prediction[interface.slug] = max(bounds, key=lambda bound: abs(bound - reference))


class _Missing:
    pass


_MISSING = _Missing()


def _read_output_value(path: Path | None, relative: str, interface: Interface, rejected: str | None,
                       read_output: Callable[[Path, int], bytes]) -> tuple[Any, Message | None]:
    """The declared output at `relative` (the test set's case id / the declared path: the platform's text)."""
    where = f"/output/{relative}"
    if rejected:
        known = rejected if rejected in COLLECTOR_REASONS else "not a regular file"
        return _MISSING, Message(f"{where} was ignored ({rejected}); write a regular file",
                                 f"{where} was ignored ({known}); write a regular file")
    if path is None:
        return _MISSING, _same(f"{where} is missing")
    if interface.kind != "json":
        return str(path), None
    try:
        raw = read_output(path, MAX_JSON_OUTPUT_BYTES)
    except ValueError:
        return None, _same(f"{where} is larger than {MAX_JSON_OUTPUT_BYTES // 1024} KiB")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        preview = raw[:40].decode("utf-8", "replace")
        return None, Message(f"{where} is not valid JSON (starts with {preview!r})", f"{where} is not valid JSON")
    problem = json_value_problem(value, interface)
    if problem:
        return None, Message(f"{where}: {problem.text}", f"{where}: {problem.safe}")
    if isinstance(value, float) and not math.isfinite(value) and not interface.allow_nan:
        return None, _same(f"{where}: NaN or infinity is not allowed")
    return value, None


def _read_image_output(case: str, interface: Interface, output_files: Mapping[str, Path],
                       rejected_files: Mapping[str, str], input_images: Mapping[str, Path]
                       ) -> tuple[Any, Message | None]:
    """An image output: the folder /output/<case>/<relative_path>/ holding one image file that keeps the
    interface's rules (app/image_files.py). The value is the image file's local path."""
    folder = f"{case}/{interface.relative_path}"
    where = f"/output/{folder}/"
    if folder in output_files:
        return None, _same(f"/output/{folder} is a file; an image output is a folder holding one image file")
    prefix = folder + "/"
    rejected = sorted((path, reason) for path, reason in rejected_files.items() if path.startswith(prefix))
    files = {path[len(prefix):]: local for path, local in output_files.items() if path.startswith(prefix)}
    if rejected:
        first, reason = rejected[0]
        known = reason if reason in COLLECTOR_REASONS else "not a regular file"
        return (_MISSING if not files else None), Message(
            f"/output/{first} was ignored ({reason}); write the image as a regular file",
            f"{where} holds {_count(len(rejected), 'entry', 'entries')} that {'was' if len(rejected) == 1 else 'were'}"
            f" ignored ({known}); write the image as a regular file")
    if not files:
        return _MISSING, _same(f"{where} is missing; write one image file into it")
    rules = interface.image
    grid = None
    if rules is not None and rules.same_grid_as is not None:
        grid = (rules.same_grid_as, _input_header(case, rules.same_grid_as, input_images))
    try:
        path = find_image(files, where)
        check_output_image(path, where, rules, grid)
    except ImageFileError as exc:
        return None, Message(exc.full, exc.safe)
    return str(path), None


def _input_header(case: str, slug: str, input_images: Mapping[str, Path]) -> ImageHeader:
    path = input_images.get(slug)
    if path is None:
        raise ScoringConfigurationError(f"case {case}: the image of input {slug!r} was not staged for scoring")
    try:
        return read_header(path, f"input {slug!r} of case {case}: ")
    except ImageFileError as exc:
        raise ScoringConfigurationError(f"case {case}: input {slug!r} cannot be read: {exc.full}") from None


def truth_file(truth_dir: Path, case: str, interface: Interface) -> Path:
    """A case's ground truth for an interface: its file, or for an image the image inside its folder."""
    if interface.kind == "image":
        return truth_dir / case / ground_truth_image(case, interface)
    return truth_dir / case / interface.relative_path


def _metric_input_problems(cases: list[CaseScoring], outputs: list[Interface], ground_truth: list[Interface],
                           metrics: list[dict[str, Any]], truth_dir: Path) -> list[Message]:
    """Ask each image metric, case by case, whether it can score the prediction (``check_case``), before any metric
    runs. A case it cannot score is INVALID with a participant's message, unless the reference fails the same check
    (the organiser's fault: ScoringConfigurationError). Without this, a mask of the wrong shape or with values other
    than 0 and 1 raised inside the metric and was recorded as the platform's fault."""
    problems: list[Message] = []
    by_output = {o.slug: o for o in outputs}
    by_truth = {g.slug: g for g in ground_truth}
    checked: set[tuple[Any, ...]] = set()
    for spec in metrics:
        metric = get_metric(spec["name"])
        check = getattr(metric, "check_case", None)
        options = dict(spec.get("options") or {})
        key = (getattr(type(metric), "check_case", None), spec["prediction"], spec["target"],
               json.dumps(options, sort_keys=True))
        if check is None or key in checked:
            continue
        checked.add(key)
        output, truth = by_output[spec["prediction"]], by_truth[spec["target"]]
        for case in cases:
            if case.status != CaseStatus.VALID:
                continue
            target = truth_file(truth_dir, case.case_key, truth)
            try:
                check(case.prediction[output.slug], target, case.case_key, options)
                continue
            except MetricInputError as exc:
                reason = str(exc)
            try:
                check(target, target, case.case_key, options)
            except MetricInputError as exc:
                raise ScoringConfigurationError(f"metric {metric.name}: the reference of case {case.case_key} cannot "
                                                f"be scored: {exc}") from exc
            where = f"/output/{case.case_key}/{output.relative_path}{'/' if output.kind == 'image' else ''}"
            requirement = getattr(metric, "prediction_requirement", "what the metric's documentation says")
            full = f"{where}: metric {metric.name} cannot score it: {reason}"
            safe = f"{where}: metric {metric.name} cannot score it; it must be {requirement}"
            case.status, case.message, case.safe_message = CaseStatus.INVALID, full, safe
            problems.append(Message(f"{case.case_key}: {full}", f"{case.case_key}: {safe}"))
    return problems


def _same(text: str) -> Message:
    """A message that quotes nothing the container chose: both wordings are the same."""
    return Message(text, text)


def _read_truths(case_keys: list[str], ground_truth: list[Interface], truth_dir: Path) -> dict[str, dict[str, Any]]:
    truths: dict[str, dict[str, Any]] = {}
    for case in case_keys:
        truths[case] = {g.slug: json.loads((truth_dir / case / g.relative_path).read_text())
                        for g in ground_truth if g.kind == "json"}
    return truths
