"""`challenge.yaml`: the schema of a challenge as code, and its validation.

Unknown or wrong keys are errors that name the key and the file. Nothing here writes anything.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from evaluation.registry import gives_per_case_values, metric_registry

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,98}[a-z0-9]$"
RELATIVE_PATH_PATTERN = re.compile(r"^(?!/)(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._/-]+$")
SPEC_FILE_NAME = "challenge.yaml"
# A site's name (docs/sites.md): lower-case letters, digits and '-', as its queue's name says it (site-<name>).
SITE_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"


class ChallengeSpecError(ValueError):
    """challenge.yaml is malformed; the message names the file and every offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


JsonType = Literal["number", "integer", "boolean", "string", "object", "array"]


PixelType = Literal["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]
PIXEL_TYPES: tuple[str, ...] = get_args(PixelType)


class ImageRules(_Strict):
    """What a valid image output is (docs/challenges.md); checked when a participant's outputs are scored.

    same_grid_as: the slug of an image input whose grid (size, spacing, origin, direction) the output must share;
    pixel_type: the allowed pixel types; values: the only values allowed (e.g. [0, 1]); range: [lo, hi] instead;
    dimensions: 2 or 3 (or 4).
    """

    same_grid_as: str | None = None
    pixel_type: Annotated[list[PixelType], Field(min_length=1)] | None = None
    values: Annotated[list[float], Field(min_length=1, max_length=1024)] | None = None
    range: tuple[float, float] | None = None
    dimensions: Annotated[int, Field(ge=2, le=4)] | None = None

    @field_validator("pixel_type", mode="before")
    @classmethod
    def _one_or_more_pixel_types(cls, value: Any) -> Any:
        listed = [value] if isinstance(value, str) else value
        if isinstance(listed, list):
            unknown = [t for t in listed if t not in PIXEL_TYPES]
            if unknown:
                raise ValueError(f"unknown pixel type(s) {', '.join(map(repr, unknown))}; known: "
                                 f"{', '.join(PIXEL_TYPES)}")
        return listed

    @model_validator(mode="after")
    def _values_or_range(self) -> ImageRules:
        if self.values is not None and self.range is not None:
            raise ValueError("give either values (the allowed values) or range ([lo, hi]), not both")
        if self.range is not None and not self.range[0] <= self.range[1]:
            raise ValueError(f"range [{self.range[0]:g}, {self.range[1]:g}]: lo must not be above hi")
        return self


class Interface(_Strict):
    slug: Annotated[str, Field(pattern=SLUG_PATTERN)]
    kind: Literal["json", "file", "image"] = "json"
    relative_path: str  # kind image: a folder holding exactly one image file
    json_type: JsonType | None = None
    minimum: float | None = None
    maximum: float | None = None
    allow_nan: bool = False
    description: str = ""
    image: ImageRules | None = None  # kind image: what a valid output is

    @field_validator("relative_path")
    @classmethod
    def _safe_relative_path(cls, value: str) -> str:
        if not RELATIVE_PATH_PATTERN.match(value):
            raise ValueError(f"{value!r} must be a relative path of letters, digits, '._-/' without '..'")
        return value

    @model_validator(mode="after")
    def _json_fields_only_for_json(self) -> Interface:
        if self.kind != "json" and (self.json_type or self.minimum is not None or self.maximum is not None):
            raise ValueError("json_type, minimum and maximum apply only to kind 'json'")
        if self.kind != "image" and self.image is not None:
            raise ValueError(f"image rules apply only to kind 'image' (this interface is kind {self.kind!r})")
        return self


MAX_TIME_LIMIT_SECONDS = 86_400  # the longest container run a phase may allow (24 h)


class Limits(_Strict):
    time_limit_seconds: Annotated[int, Field(ge=1, le=MAX_TIME_LIMIT_SECONDS)] = 600
    memory_mb: Annotated[int, Field(ge=16, le=262_144)] = 1024
    cpus: Annotated[float, Field(gt=0, le=64)] = 1.0
    # GPUs per run; a phase that asks for any runs only on workers started with `podium worker --gpu`.
    gpus: Annotated[int, Field(ge=0, le=8)] = 0
    pids: Annotated[int, Field(ge=8, le=32_768)] = 128
    tmp_mb: Annotated[int, Field(ge=1, le=65_536)] = 256
    output_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 256
    log_kb: Annotated[int, Field(ge=1, le=1_048_576)] = 1024
    max_upload_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 2048
    submissions_per_day: Annotated[int, Field(ge=1, le=10_000)] = 5
    submissions_total: Annotated[int, Field(ge=1, le=1_000_000)] | None = None  # over the phase's life
    # Per-case mode: how many of a submission's cases run at once; they share `cpus` (each run gets
    # cpus / cases_in_parallel), while memory and the time limit apply to each case's run.
    cases_in_parallel: Annotated[int, Field(ge=1, le=16)] = 1
    # Batch mode: the test set is split into this many shards, run by several workers at once and merged into
    # one result; a shard that fails for the platform's reasons is retried alone (docs/operations.md).
    shards: Annotated[int, Field(ge=1, le=64)] = 1

    @model_validator(mode="after")
    def _one_case_at_a_time_on_gpus(self) -> Limits:
        # Each run asks the engine for `gpus` devices of its choosing: runs at once could be handed the same GPU.
        if self.gpus and self.cases_in_parallel > 1:
            raise ValueError("a phase with gpus runs one case at a time: set cases_in_parallel to 1 (each run asks "
                             "the engine for its GPUs, and runs at once could be given the same device)")
        return self


class MetricSpec(_Strict):
    name: str
    prediction: str
    target: str
    options: dict[str, Any] = {}  # metric parameters, e.g. {threshold: 0.5} or {tolerance_mm: 2}

    @field_validator("name")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        known = metric_registry()
        if value not in known:
            raise ValueError(f"unknown metric {value!r}; known metrics: {', '.join(sorted(known))}")
        return value


class EvaluatorAggregate(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    title: str = ""
    higher_is_better: bool = True


class EvaluatorSpec(_Strict):
    """An organiser's evaluation container: untrusted code, run in the participants' sandbox."""

    archive: str  # `docker save IMAGE | gzip` of the evaluation image, relative to the challenge folder
    aggregates: Annotated[list[EvaluatorAggregate], Field(min_length=1)]


class OperatingPointSpec(_Strict):
    target: Literal["recall_rate", "specificity", "sensitivity"] = "recall_rate"
    value: Annotated[float, Field(gt=0, lt=1)]


class ReadersSpec(_Strict):
    file: str  # CSV with columns case_id, reader, score; relative to the challenge folder
    positive_at: float = 1.0  # a reader's call counts as positive when score >= positive_at


class AnalysisSpec(_Strict):
    """The statistics shown with the leaderboard (docs/statistics.md)."""

    ranking_scheme: Literal["aggregate-then-rank", "rank-then-aggregate", "significance"] = "aggregate-then-rank"
    replicates: Annotated[int, Field(ge=100, le=20_000)] = 1000
    breakdown_by: list[str] = []  # metadata columns of cases.csv, e.g. [site, scanner]
    # A metadata column of cases.csv (e.g. patient_id): the bootstrap resamples its groups, not cases (a case
    # with an empty value is a group of its own). None: cases are resampled independently.
    cluster_by: str | None = None
    operating_point: OperatingPointSpec | None = None
    readers: ReadersSpec | None = None

    @field_validator("cluster_by")
    @classmethod
    def _cluster_column(cls, column: str | None, info: ValidationInfo) -> str | None:
        if column is None:
            return None
        if not column.strip():
            raise ValueError("name a metadata column of cases.csv (e.g. patient_id), or leave cluster_by out to "
                             "resample cases independently")
        column = column.strip()
        if column in info.data.get("breakdown_by", []):  # declared before cluster_by, so validated already
            raise ValueError(f"cluster_by {column!r} is also in breakdown_by: each of its groups would be one "
                             "cluster, resampled whole, so its CI would have no width; cluster by a finer column "
                             "(e.g. patient_id) or break down by another")
        return column


Order = Literal["descending", "ascending"]


class RankedMetricSpec(_Strict):
    """One metric of a ranking across metrics."""

    metric: str
    order: Order | None = None  # None: the metric's own direction
    weight: Annotated[float, Field(gt=0, le=1000)] = 1.0


class Ranking(_Strict):
    """What the leaderboard's "#" ranks by: one metric, or (with ``metrics``) the weighted mean or median of the
    entries' ranks on several (docs/statistics.md §3.6). ``metric`` is the primary metric either way (the default
    sort, the figures, operating points and readers); with ``metrics`` it defaults to the first of them."""

    metric: str
    order: Order | None = None  # None: the metric's own direction (descending when higher is better)
    metrics: Annotated[list[RankedMetricSpec], Field(min_length=2)] | None = None
    combine: Literal["mean", "median"] | None = None  # of the per-metric ranks; with metrics (default mean)

    @model_validator(mode="before")
    @classmethod
    def _primary_from_metrics(cls, data: Any) -> Any:
        if isinstance(data, dict) and "metric" not in data and isinstance(data.get("metrics"), list) \
                and data["metrics"] and isinstance(data["metrics"][0], dict) and "metric" in data["metrics"][0]:
            data = {**data, "metric": data["metrics"][0]["metric"]}
        return data

    @model_validator(mode="after")
    def _across(self) -> Ranking:
        if self.metrics is None:
            if self.combine is not None:
                raise ValueError("combine applies to a ranking across metrics: list them under ranking.metrics")
            return self
        names = [m.metric for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError("ranking.metrics: each metric may appear once")
        if self.metric not in names:
            raise ValueError(f"ranking.metric {self.metric!r} (the primary metric) must be one of ranking.metrics "
                             f"({', '.join(names)})")
        primary = next(m for m in self.metrics if m.metric == self.metric)
        if primary.order is not None and self.order is not None and primary.order != self.order:
            raise ValueError(f"ranking.order {self.order!r} and the order of {self.metric!r} in ranking.metrics "
                             f"({primary.order!r}) disagree; give it once")
        return self


class PhaseSpec(_Strict):
    slug: Annotated[str, Field(pattern=SLUG_PATTERN)]
    title: str
    description: str = ""
    submission_kind: Literal["container"] = "container"
    # "batch": one container run sees every case; "per-case": one run per case, laid out as grand-challenge.org
    # lays out its algorithm containers (docs/container-contract.md).
    run_mode: Literal["batch", "per-case"] = "batch"
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    # Where the hidden cases are: a folder of this challenge (test_set), or the registered sites that hold them on
    # their own storage (sites; docs/sites.md). One of the two.
    test_set: str | None = None
    sites: list[Annotated[str, Field(pattern=SITE_NAME_PATTERN)]] = []
    limits: Limits = Limits()
    inputs: Annotated[list[Interface], Field(min_length=1)]
    outputs: Annotated[list[Interface], Field(min_length=1)]
    ground_truth: Annotated[list[Interface], Field(min_length=1)]
    metrics: list[MetricSpec] = []
    evaluator: EvaluatorSpec | None = None
    ranking: Ranking
    analysis: AnalysisSpec = AnalysisSpec()
    # What happens to cases without a valid output: fail the submission, score them with the worst
    # value their interface allows, or leave them out (counted and shown).
    missing_cases: Literal["fail", "worst", "exclude"] = "fail"
    # What participants may read of their runs: "full" logs, the platform's "failure-message" only (no
    # container output: a container can print the hidden inputs), or just the "state".
    log_visibility: Literal["full", "failure-message", "state"] = "failure-message"
    # A cases.csv column whose values are "public" or "private": public scores are shown while the
    # phase runs, private ones when it closes (closes_at), as on Kaggle.
    split_column: str | None = None
    # With a split: how many final submissions each participant may select, and which enter the private
    # leaderboard for one who selected none ("best-public" or "latest").
    final_submissions: Annotated[int, Field(ge=1, le=100)] = 2
    final_rule: Literal["best-public", "latest"] = "best-public"
    # The metrics the leaderboard shows, in order (default: all of them).
    leaderboard_columns: list[str] | None = None
    # false: results (leaderboard, analysis, participants' scores) are shown to organisers only until published.
    results_published: bool = True
    # true: participants read their own per-case results (per-case scores can reveal the ground truth).
    case_results_visible: bool = False
    # True: participants may open the decision report (their own entry only; docs/report.md).
    report_published: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PhaseSpec:
        for group in ("inputs", "outputs", "ground_truth"):
            slugs = [i.slug for i in getattr(self, group)]
            duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
            if duplicates:
                raise ValueError(f"{group}: duplicate slug(s) {', '.join(duplicates)}")
        self._image_rules_fit()
        outputs = {o.slug for o in self.outputs}
        truths = {g.slug for g in self.ground_truth}
        for index, metric in enumerate(self.metrics):
            if metric.prediction not in outputs:
                raise ValueError(f"metrics[{index}].prediction {metric.prediction!r} is not an output slug "
                                 f"({', '.join(sorted(outputs))})")
            if metric.target not in truths:
                raise ValueError(f"metrics[{index}].target {metric.target!r} is not a ground_truth slug "
                                 f"({', '.join(sorted(truths))})")
        if not self.metrics and self.evaluator is None:
            raise ValueError("a phase needs metrics, an evaluator, or both")
        names = [m.name for m in self.metrics]
        if self.evaluator is not None:
            names += [a.name for a in self.evaluator.aggregates]
        if len(set(names)) != len(names):
            raise ValueError("metrics: each metric (and evaluator aggregate) name may appear once")
        unknown_columns = [c for c in self.leaderboard_columns or [] if c not in names]
        if unknown_columns:
            raise ValueError(f"leaderboard_columns: {', '.join(map(repr, unknown_columns))} not among the phase's "
                             f"metrics ({', '.join(names)})")
        if self.leaderboard_columns is not None and len(set(self.leaderboard_columns)) != len(self.leaderboard_columns):
            raise ValueError("leaderboard_columns: each metric may appear once")
        if self.ranking.metric not in names:
            raise ValueError(f"ranking.metric {self.ranking.metric!r} is not one of the phase's metrics "
                             f"({', '.join(names)})")
        unknown_ranked = [m.metric for m in self.ranking.metrics or [] if m.metric not in names]
        if unknown_ranked:
            raise ValueError(f"ranking.metrics: {', '.join(map(repr, unknown_ranked))} not among the phase's metrics "
                             f"({', '.join(names)})")
        self._ranking_scheme_fits_the_metrics()
        if self.limits.shards > 1 and self.run_mode != "batch":
            raise ValueError("limits.shards splits a batch-mode run; per-case mode runs cases side by side with "
                             "limits.cases_in_parallel instead")
        if self.missing_cases == "worst":
            for metric in self.metrics:
                output = next(o for o in self.outputs if o.slug == metric.prediction)
                if output.minimum is None or output.maximum is None:
                    raise ValueError(f"missing_cases 'worst' needs minimum and maximum on output {output.slug!r}")
        self._test_set_or_sites()
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        for stamp in (self.opens_at, self.closes_at):
            if stamp is not None and stamp.tzinfo is None:
                raise ValueError("opens_at/closes_at need a time zone, e.g. 2027-01-31T23:59:00Z")
        return self

    def _test_set_or_sites(self) -> None:
        """A phase's cases are in a test_set folder or at sites; a site sends back per-case values and per-class
        score counts only (docs/sites.md), so a phase held at sites uses nothing that needs the ground truth or
        the whole set in one place."""
        if (self.test_set is None) == (not self.sites):
            raise ValueError("give either test_set (a folder of this challenge) or sites (the registered sites "
                             "holding the hidden cases, docs/sites.md), not both" if self.sites else
                             "give test_set (a folder of this challenge) or sites (the registered sites holding "
                             "the hidden cases, docs/sites.md)")
        if not self.sites:
            return
        if len(set(self.sites)) != len(self.sites):
            raise ValueError("sites: each site may appear once")
        if self.evaluator is not None:
            raise ValueError("sites: a phase held at sites cannot have an evaluator (an organiser's container would "
                             "need the ground truth in one place); use metric plugins")
        if self.analysis.readers is not None:
            raise ValueError("sites: a phase held at sites cannot compare readers (their calls and the ground truth "
                             "would have to meet centrally); remove analysis.readers")
        if self.limits.shards > 1:
            raise ValueError("sites: a phase held at sites runs one part per site; remove limits.shards")
        registry = metric_registry()
        truths = {g.slug: g for g in self.ground_truth}
        for index, metric in enumerate(self.metrics):
            plugin = registry[metric.name]
            if gives_per_case_values(plugin):
                continue
            if getattr(plugin, "input_kind", None) == "scalar" and _is_binary(truths[metric.target]):
                continue
            raise ValueError(f"metrics[{index}] {metric.name!r}: a phase held at sites can use case-level metrics "
                             "(a site sends per-case values) and set-level metrics of a scalar score against a "
                             "binary ground truth (a site sends per-class score counts); this one needs the "
                             "ground truth of the whole set in one place")

    def _image_rules_fit(self) -> None:
        """image rules check a participant's outputs; same_grid_as names an image input of the phase."""
        for group in ("inputs", "ground_truth"):
            for interface in getattr(self, group):
                if interface.image is not None:
                    raise ValueError(f"{group}: {interface.slug!r}: image rules check a participant's outputs; "
                                     "declare them on outputs only")
        image_inputs = [i.slug for i in self.inputs if i.kind == "image"]
        for output in self.outputs:
            grid = output.image.same_grid_as if output.image else None
            if grid is not None and grid not in image_inputs:
                raise ValueError(f"outputs: {output.slug!r}: image.same_grid_as {grid!r} names no image input of "
                                 f"the phase (image inputs: {', '.join(image_inputs) or 'none'})")

    def ranked_metric_names(self) -> list[str]:
        """The metrics the "#" ranks by: ranking.metrics, or the ranking metric alone."""
        return [m.metric for m in self.ranking.metrics] if self.ranking.metrics else [self.ranking.metric]

    def higher_is_better(self, name: str) -> bool:
        """A metric's own direction: the plugin's, or the evaluator aggregate's as declared."""
        for aggregate in self.evaluator.aggregates if self.evaluator else []:
            if aggregate.name == name:
                return aggregate.higher_is_better
        return bool(metric_registry()[name].higher_is_better)

    def ranking_order(self) -> str:
        """The ranking metric's order: ranking.order, its order in ranking.metrics, or its own direction."""
        listed = next((m.order for m in self.ranking.metrics or [] if m.metric == self.ranking.metric), None)
        order = self.ranking.order or listed
        return order or ("descending" if self.higher_is_better(self.ranking.metric) else "ascending")

    def ranking_across(self) -> dict[str, Any] | None:
        """Phase.ranking_across: every ranked metric with its resolved order and weight, and the combination."""
        if not self.ranking.metrics:
            return None
        metrics = []
        for ranked in self.ranking.metrics:
            if ranked.metric == self.ranking.metric:
                order = self.ranking_order()
            else:
                order = ranked.order or ("descending" if self.higher_is_better(ranked.metric) else "ascending")
            metrics.append({"metric": ranked.metric, "order": order, "weight": ranked.weight})
        return {"metrics": metrics, "combine": self.ranking.combine or "mean"}

    def _ranking_scheme_fits_the_metrics(self) -> None:
        """A scheme other than aggregate-then-rank is computed by the worker's analysis from the predictions: every
        ranked metric must be a metric plugin it recomputes (not an evaluator's aggregate, whose per-case values and
        bootstrap it does not have); rank-then-aggregate also needs per-case values."""
        scheme = self.analysis.ranking_scheme
        if scheme == "aggregate-then-rank":
            return
        registry = metric_registry()
        plugins = {m.name for m in self.metrics}
        ranked = self.ranked_metric_names()
        for name in ranked:
            where = "ranking.metric" if len(ranked) == 1 else "ranking.metrics"
            if name not in plugins:
                raise ValueError(
                    f"analysis.ranking_scheme {scheme!r} is computed from the predictions, but {where} {name!r} is "
                    f"an evaluator's aggregate (the platform has no per-case values or bootstrap for it); rank it "
                    f"with 'aggregate-then-rank', or by a metric plugin")
            plugin = registry[name]
            if getattr(plugin, "input_kind", "scalar") != "scalar" and not gives_per_case_values(plugin):
                raise ValueError(
                    f"analysis.ranking_scheme {scheme!r} is computed by the analysis, which bootstraps scalar "
                    f"predictions and the per-case values of case-level metrics; {where} {name!r} is a set-level "
                    f"metric of {plugin.input_kind} outputs: rank it with 'aggregate-then-rank'")
            if scheme == "rank-then-aggregate" and not gives_per_case_values(plugin):
                case_level = sorted(n for n, cls in registry.items() if gives_per_case_values(cls))
                raise ValueError(
                    f"analysis.ranking_scheme 'rank-then-aggregate' ranks the entries on every case and averages "
                    f"their ranks, but {where} {name!r} is a set-level metric (computed over the whole set, with no "
                    f"per-case value); choose ranking_scheme 'aggregate-then-rank' or 'significance', or rank by a "
                    f"case-level metric ({', '.join(case_level)})")


def _is_binary(interface: Interface) -> bool:
    """A ground truth of 0/1 or true/false: a JSON boolean, or a JSON integer with minimum 0 and maximum 1."""
    if interface.kind != "json":
        return False
    if interface.json_type == "boolean":
        return True
    return interface.json_type == "integer" and interface.minimum == 0 and interface.maximum == 1


class ChallengeSpec(_Strict):
    version: Literal[1] = 1
    slug: Annotated[str, Field(pattern=SLUG_PATTERN)]
    title: str
    description: str = ""
    prepare: str | None = None
    organisers: list[str] = []  # usernames who organise it (more can be added on the site)
    join_policy: Literal["auto", "review"] = "auto"  # requests to join: accepted at once, or by an organiser
    terms: str = ""  # what a participant accepts before joining (Markdown); none when empty
    max_team_size: Annotated[int, Field(ge=1, le=1000)] | None = None  # the most members a team may have
    public_files: list[str] = []
    phases: Annotated[list[PhaseSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_phases(self) -> ChallengeSpec:
        slugs = [p.slug for p in self.phases]
        if len(set(slugs)) != len(slugs):
            raise ValueError("phases: each phase slug may appear once")
        return self


def load_challenge_spec(path: Path) -> tuple[ChallengeSpec, Path]:
    """Read and validate a challenge folder (or its challenge.yaml); returns the spec and the folder."""
    spec_path = path / SPEC_FILE_NAME if path.is_dir() else path
    if not spec_path.is_file():
        raise ChallengeSpecError(f"{spec_path}: no such file; a challenge folder holds a {SPEC_FILE_NAME}")
    try:
        raw = yaml.safe_load(spec_path.read_text())
    except yaml.YAMLError as exc:
        raise ChallengeSpecError(f"{spec_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ChallengeSpecError(f"{spec_path}: the top level must be a mapping of keys to values")
    try:
        spec = ChallengeSpec.model_validate(raw)
    except ValidationError as exc:
        raise ChallengeSpecError(format_validation_error(spec_path, exc)) from None
    return spec, spec_path.parent


def format_validation_error(spec_path: Path, exc: ValidationError) -> str:
    lines = [f"{spec_path}: {exc.error_count()} problem(s):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key; remove it or check its spelling")
        elif error["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            lines.append(f"  - {key}: {error['msg']}")
    return "\n".join(lines)
