"""Create and edit a challenge and its phases from the site's forms, with challenge.yaml's model and checks.

Every change is made to the whole challenge as challenge.yaml says it (app/queries/challenge_spec.py), validated
with ChallengeSpec (app/challenge_yaml.py) and written through the same functions as `podium challenge apply`
(copy_challenge_fields, copy_phase_fields, analysis_settings). Nothing is written unless all of it is valid; a refusal
is InvalidSpec, whose problems map a key path to its message: for a phase, the phase's own keys ("title",
"limits.memory_mb", "metrics.0.name", "inputs.1.slug"); for a new challenge its keys and "phase.<key>" for its first
phase. A problem that belongs to no key is under "" (the form shows it at the top).

Text the forms send is read here: interfaces as YAML (a list of interfaces, as in challenge.yaml), a metric's options
as JSON, empty optional values as "none". Rules beyond the schema:
- interfaces change only while the phase has no submissions (they were scored against them); while the phase has a
  test set, its inputs and ground truth may change only their descriptions (the test set's files are named and
  checked by them: change both at once with a bundle);
- split_column, analysis.breakdown_by and analysis.cluster_by name columns of the current test set's cases.csv; the
  split column holds only "public" and "private".
Who: a challenge's organisers and the site's admins edit it and add phases; only admins create a challenge (they
become its organiser). A new phase has no test set yet: participants are told so until one is uploaded.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpec, PhaseSpec
from app.errors import Forbidden, InvalidFields
from app.models import Case, Challenge, ChallengeOrganiser, Phase, Submission, User
from app.permissions import organises
from app.queries.challenge_spec import challenge_spec_of, phase_spec_of, test_set_path
from app.usecases.apply_challenge import analysis_settings, copy_challenge_fields, copy_phase_fields

INTERFACE_GROUPS = ("inputs", "outputs", "ground_truth")
RESERVED_SLUGS = {"new"}  # /challenges/new is the form that creates one
OPTIONAL_TEXT = ("opens_at", "closes_at", "split_column")  # "" means none
OPTIONAL_LIMITS = ("submissions_total", "cases_in_parallel", "gpus", "shards")  # empty: none, or the default
CHALLENGE_FIELDS = ("title", "description", "terms", "join_policy", "max_team_size")
_MODEL_MESSAGE_KEYS = [  # PhaseSpec's own checks name their key in the message: the key the form shows it at
    (re.compile(r"^metrics\[(\d+)\]\.(prediction|target)"), r"metrics.\1.\2"),
    (re.compile(r"^ranking\.metrics"), "ranking.metrics"),
    (re.compile(r"^ranking\.metric"), "ranking.metric"),
    (re.compile(r"^analysis\.ranking_scheme"), "analysis.ranking_scheme"),
    (re.compile(r"^leaderboard_columns"), "leaderboard_columns"),
    (re.compile(r"^missing_cases"), "missing_cases"),
    (re.compile(r"^closes_at must be after"), "closes_at"),
    (re.compile(r"^opens_at/closes_at"), "opens_at"),
    (re.compile(r"^(inputs|outputs|ground_truth): duplicate"), r"\1"),
    (re.compile(r"^(metrics:|a phase needs metrics)"), "metrics"),
    (re.compile(r"^phases: each phase slug"), "slug"),
]


class InvalidSpec(InvalidFields):
    """The form's values do not make a valid challenge: `problems` maps each key path to what is wrong with it."""


def _problems_of(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    found = []
    for error in exc.errors():
        if error["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        elif error["type"] == "missing":
            message = "required; fill it in"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        found.append((tuple(error["loc"]), message))
    return found


def _key_of(path: tuple[str | int, ...], message: str) -> str:
    """A phase's key path for an error located at `path` inside the phase (empty: the phase itself)."""
    if path:
        return ".".join(str(part) for part in path)
    for pattern, key in _MODEL_MESSAGE_KEYS:
        match = pattern.match(message)
        if match:
            return match.expand(key)
    return ""


def _add(problems: dict[str, str], key: str, message: str) -> None:
    problems[key] = f"{problems[key]} {message}" if key in problems else message


def _read_changes(current: dict[str, Any], changes: Mapping[str, Any], problems: dict[str, str],
                  prefix: str = "") -> dict[str, Any]:
    """The phase's spec with the form's changes: nested mappings merged, text read (YAML, JSON, empty = none)."""
    spec = copy.deepcopy(current)
    for key, value in changes.items():
        if key in INTERFACE_GROUPS and isinstance(value, str):
            parsed = _interfaces(value, key, problems, prefix)
            if parsed is not None:
                spec[key] = parsed
        elif key == "metrics" and isinstance(value, list):
            spec[key] = [_metric(row, index, problems, prefix) for index, row in enumerate(value)]
        elif key in ("limits", "ranking", "analysis") and isinstance(value, Mapping):
            merged = dict(spec.get(key) or {})
            for name, item in value.items():
                if name in OPTIONAL_LIMITS and (item is None or str(item).strip() == ""):
                    merged.pop(name, None)
                else:
                    merged[name] = item.strip() if isinstance(item, str) else item
            spec[key] = merged
        elif key == "leaderboard_columns":
            columns = [c.strip() for c in value.split(",") if c.strip()] if isinstance(value, str) else value
            spec[key] = columns or None
        elif key in OPTIONAL_TEXT and (value is None or str(value).strip() == ""):
            spec[key] = None
        else:
            spec[key] = value.strip() if isinstance(value, str) and key not in ("description",) else value
    return spec


def _interfaces(text: str, group: str, problems: dict[str, str], prefix: str) -> list[Any] | None:
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        _add(problems, prefix + group, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}")
        return None
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        _add(problems, prefix + group, "write a list of interfaces, each starting with '- slug: ...' (kind, "
                                       "relative_path, ... on the lines below)")
        return None
    return parsed


def _metric(row: Mapping[str, Any], index: int, problems: dict[str, str], prefix: str) -> dict[str, Any]:
    metric = {name: (row.get(name) or "").strip() for name in ("name", "prediction", "target")}
    options = row.get("options", {})
    if isinstance(options, str):
        text = options.strip()
        try:
            options = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            _add(problems, f"{prefix}metrics.{index}.options",
                 f'not valid JSON: {exc.msg} (e.g. {{"threshold": 0.5}})')
            options = {}
        if not isinstance(options, dict):
            _add(problems, f"{prefix}metrics.{index}.options", 'write a JSON object, e.g. {"threshold": 0.5}')
            options = {}
    if options:
        metric["options"] = options
    return metric


def _validate(spec: dict[str, Any], problems: dict[str, str], phase_index: int | None,
              phase_prefix: str) -> ChallengeSpec | None:
    """Validate the whole challenge; errors inside phase `phase_index` go under phase_prefix + its key path."""
    try:
        validated = ChallengeSpec.model_validate(spec)
    except ValidationError as exc:
        for loc, message in _problems_of(exc):
            if len(loc) >= 2 and loc[0] == "phases" and loc[1] == phase_index:
                key = _key_of(loc[2:], message)
                _add(problems, phase_prefix + key if key else (phase_prefix.rstrip(".") if phase_prefix else ""),
                     message)
            elif len(loc) >= 2 and loc[0] == "phases":
                _add(problems, "", f"phase {loc[1]}: {'.'.join(map(str, loc[2:]))}: {message}")
            elif not loc and phase_index is not None and message.startswith("phases: each phase slug"):
                _add(problems, phase_prefix + "slug", "another phase of this challenge has this slug; choose another")
            else:
                _add(problems, ".".join(map(str, loc)), message)
        return None
    return validated if not problems else None


def _require_organiser(actor: User, challenge: Challenge) -> None:
    if not organises(actor, challenge):
        raise Forbidden(f"only the organisers of {challenge.slug!r} (and the site's admins) may change it")


def _submission_count(session: Session, phase: Phase) -> int:
    return session.scalar(select(func.count()).select_from(Submission).where(Submission.phase_id == phase.id)) or 0


def _structure(interfaces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k != "description"} for i in interfaces]


def _check_against_data(session: Session, phase: Phase, before: PhaseSpec, after: PhaseSpec,
                        problems: dict[str, str]) -> None:
    """What the schema cannot know: submissions scored against the interfaces, the test set's files and columns."""
    for group in INTERFACE_GROUPS:
        old = [i.model_dump(mode="json") for i in getattr(before, group)]
        new = [i.model_dump(mode="json") for i in getattr(after, group)]
        if old == new:
            continue
        count = _submission_count(session, phase)
        if count:
            _add(problems, group, f"the phase has {count} submission(s), scored against these interfaces: they can "
                                  "no longer change")
        elif group != "outputs" and phase.current_test_set is not None and _structure(old) != _structure(new):
            _add(problems, group, "the phase's test set was checked against these; only their descriptions can change "
                                  "here. Change the interfaces and the test set together with a bundle (Import)")
    test_set = phase.current_test_set
    if test_set is None:
        return
    columns = list(test_set.metadata_columns or [])
    if after.split_column is not None and after.split_column != before.split_column:
        if after.split_column not in columns:
            _add(problems, "split_column", f"{after.split_column!r} is not a column of the test set's cases.csv "
                                           f"(columns: {', '.join(columns) or 'none'})")
        else:
            values = {(meta or {}).get(after.split_column, "")
                      for meta in session.scalars(select(Case.meta).where(Case.test_set_id == test_set.id))}
            wrong = sorted(values - {"public", "private"})
            if wrong:
                _add(problems, "split_column", f"column {after.split_column!r} must hold 'public' or 'private' in "
                                               f"every case, not {', '.join(map(repr, wrong[:5]))}")
    unknown = sorted(set(after.analysis.breakdown_by) - set(columns))
    if unknown:
        _add(problems, "analysis.breakdown_by", f"{', '.join(unknown)} not in the test set's cases.csv (columns: "
                                                f"{', '.join(columns) or 'none'})")
    cluster_by = after.analysis.cluster_by
    if cluster_by is not None and cluster_by not in columns:
        _add(problems, "analysis.cluster_by", f"column {cluster_by!r} is not in the test set's cases.csv (columns: "
                                              f"{', '.join(columns) or 'none'})")


def edit_challenge(session: Session, challenge: Challenge, actor: User, changes: Mapping[str, Any]) -> Challenge:
    """Change the challenge's own settings (CHALLENGE_FIELDS); an empty max_team_size means no limit."""
    _require_organiser(actor, challenge)
    spec = challenge_spec_of(challenge)
    problems: dict[str, str] = {}
    for key, value in changes.items():
        if key not in CHALLENGE_FIELDS:
            _add(problems, key, "not a setting of the challenge that can change here")
        elif key == "max_team_size" and (value is None or str(value).strip() == ""):
            spec.pop(key, None)
        else:
            spec[key] = value.strip() if isinstance(value, str) and key in ("title", "join_policy",
                                                                             "max_team_size") else value
    validated = _validate(spec, problems, None, "")
    if validated is None:
        raise InvalidSpec(problems)
    copy_challenge_fields(challenge, validated)
    session.flush()
    return challenge


def phase_edit_problems(session: Session, phase: Phase, changes: Mapping[str, Any]) -> tuple[PhaseSpec | None,
                                                                                         dict[str, str]]:
    """The phase's validated spec with the changes, or the problems (nothing is written either way)."""
    challenge = phase.challenge
    spec = challenge_spec_of(challenge)
    index = next(i for i, p in enumerate(spec["phases"]) if p["slug"] == phase.slug)
    problems: dict[str, str] = {}
    if "slug" in changes and changes["slug"] != phase.slug:
        _add(problems, "slug", "a phase's slug cannot change (its addresses and stored files use it)")
    spec["phases"][index] = _read_changes(spec["phases"][index], {k: v for k, v in changes.items() if k != "slug"},
                                          problems)
    validated = _validate(spec, problems, index, "")
    if validated is None:
        return None, problems
    after = validated.phases[index]
    _check_against_data(session, phase, PhaseSpec.model_validate(phase_spec_of(phase)), after, problems)
    return (None, problems) if problems else (after, problems)


def edit_phase(session: Session, phase: Phase, actor: User, changes: Mapping[str, Any]) -> Phase:
    """Change a phase's settings: `changes` holds its keys as in challenge.yaml (see the module's docstring)."""
    _require_organiser(actor, phase.challenge)
    after, problems = phase_edit_problems(session, phase, changes)
    if after is None:
        raise InvalidSpec(problems)
    readers_key = (phase.analysis or {}).get("readers_key") if after.analysis.readers is not None else None
    copy_phase_fields(phase, after, phase.position)
    phase.analysis = analysis_settings(after, readers_key)
    session.flush()
    return phase


def _new_phase_spec(fields: Mapping[str, Any], problems: dict[str, str], prefix: str) -> dict[str, Any]:
    slug = str(fields.get("slug") or "").strip()
    base: dict[str, Any] = {"slug": slug, "title": "", "test_set": test_set_path(slug), "inputs": [], "outputs": [],
                            "ground_truth": [], "metrics": [], "ranking": {}}
    return _read_changes(base, {k: v for k, v in fields.items() if k != "slug"}, problems, prefix)


def _insert_phase(session: Session, challenge: Challenge, spec: PhaseSpec, position: int) -> Phase:
    phase = Phase(challenge=challenge, slug=spec.slug, title=spec.title, ranking_metric=spec.ranking.metric)
    session.add(phase)
    copy_phase_fields(phase, spec, position)
    phase.evaluator = None
    phase.analysis = analysis_settings(spec, None)
    phase.current_test_set_id = None  # uploaded later: until then participants are told there is none
    session.flush()
    return phase


def add_phase(session: Session, challenge: Challenge, actor: User, fields: Mapping[str, Any]) -> Phase:
    """A new phase after the others, without a test set: slug, title, description, interfaces, metrics, ranking."""
    _require_organiser(actor, challenge)
    problems: dict[str, str] = {}
    spec = challenge_spec_of(challenge)
    spec["phases"].append(_new_phase_spec(fields, problems, ""))
    index = len(spec["phases"]) - 1
    validated = _validate(spec, problems, index, "")
    if validated is None:
        raise InvalidSpec(problems)
    position = max((p.position for p in challenge.phases), default=-1) + 1
    return _insert_phase(session, challenge, validated.phases[index], position)


def create_challenge(session: Session, actor: User, fields: Mapping[str, Any],
                     phase_fields: Mapping[str, Any]) -> Challenge:
    """A new challenge (slug, title, description) with its first phase; the admin who creates it organises it."""
    if not actor.is_admin:
        raise Forbidden("only the site's admins create challenges; ask one to create it, or to make you an "
                        "organiser of an existing one")
    problems: dict[str, str] = {}
    slug = str(fields.get("slug") or "").strip()
    spec: dict[str, Any] = {"version": 1, "slug": slug, "title": str(fields.get("title") or "").strip(),
                            "description": fields.get("description") or "", "organisers": [actor.username],
                            "phases": [_new_phase_spec(phase_fields, problems, "phase.")]}
    if slug in RESERVED_SLUGS:
        _add(problems, "slug", f"{slug!r} names a page of the site; choose another slug")
    elif slug and session.scalar(select(Challenge.id).where(Challenge.slug == slug)) is not None:
        _add(problems, "slug", f"a challenge called {slug!r} exists already; choose another slug")
    validated = _validate(spec, problems, 0, "phase.")
    if validated is None:
        raise InvalidSpec(problems)
    challenge = Challenge(slug=validated.slug, title=validated.title)
    session.add(challenge)
    copy_challenge_fields(challenge, validated)
    challenge.public_files = []
    session.flush()
    challenge.organiser_links.append(ChallengeOrganiser(user_id=actor.id))
    _insert_phase(session, challenge, validated.phases[0], 0)
    return challenge
