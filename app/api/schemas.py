"""The typed shapes of the REST API's requests and answers; the OpenAPI document is built from them.

Every JSON answer of a route is validated against its model before it leaves the server (app/api/openapi.py),
so the document cannot drift from what the code returns. The models describe the dictionaries the queries
already build (app.queries.*); they add no field and rename none.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.challenge_yaml import Interface
from app.models import ScoreSubset, SubmissionState
from app.queries.analysis_document import AnalysisDocument

# --- errors ---------------------------------------------------------------------------------------------------


class Error(BaseModel):
    """The one error format: every 4xx and 5xx JSON answer of the API."""

    error: str = Field(description="what was wrong, and what to do about it")
    submission_id: int | None = Field(
        description="the failed submission an upload was kept as (a refused archive); null otherwise")


# --- request parameters ---------------------------------------------------------------------------------------


class LeaderboardQuery(BaseModel):
    sort: str | None = Field(None, description="a metric of the phase to sort by; the ranking metric if absent")
    version: int | None = Field(None, ge=1, le=2**31 - 1,
                                description="a version of the phase's test set; the one it ranks on if absent")


class ReadersQuery(BaseModel):
    positive_at: float = Field(1.0, allow_inf_nan=False,
                               description="a reader's call is positive when their score is at least this")


class SubmitQuery(BaseModel):
    comment: str = Field("", description="a note on the submission, kept up to 500 characters (with a raw "
                                         "body; a multipart upload sends it as the form field 'comment')")


# --- challenges -----------------------------------------------------------------------------------------------


class PublicFile(BaseModel):
    name: str
    bytes: int = Field(description="size in bytes")


class PhaseRanking(BaseModel):
    metric: str = Field(description="the metric the leaderboard ranks by")
    order: Literal["descending", "ascending"]


class PhaseLimits(BaseModel):
    time_limit_seconds: int
    memory_mb: int
    cpus: float
    gpus: int = Field(description="GPUs per run; 0: none (the phase runs on CPU workers)")
    shards: int = Field(1, description="batch mode: the test set's parts, run by several workers at once")
    pids: int
    tmp_mb: int
    output_mb: int
    max_upload_mb: int
    submissions_per_day: int
    cases_in_parallel: int = Field(1, description="per-case mode: how many of a submission's cases run at once "
                                                  "(they share cpus; memory and the time limit apply per case)")


class PhaseInterface(Interface):
    """One input the algorithm container reads or one output it writes (as in challenge.yaml)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Phase(BaseModel):
    slug: str
    title: str
    submission_kind: str = Field(description="what participants submit: 'container'")
    run_mode: str = Field(description="how a submission runs: 'batch' (every case in one container run) or "
                                      "'per-case' (one run per case, laid out as grand-challenge.org does)")
    state: Literal["upcoming", "open", "closed"] = Field(description="before opens_at, accepting submissions, or "
                                                                     "after closes_at")
    opens_at: AwareDatetime | None = Field(description="submissions are accepted from then (null: open now)")
    closes_at: AwareDatetime | None = Field(description="and until then (null: no end)")
    metrics: list[str] = Field(description="the names of the scores the leaderboard shows")
    ranking: PhaseRanking
    log_visibility: Literal["full", "failure-message", "state"] = Field(
        description="what participants read of their runs: full logs, the platform's failure message only "
                    "(default: a container could print the hidden inputs), or just the state")
    inputs: list[PhaseInterface]
    outputs: list[PhaseInterface]
    limits: PhaseLimits


class Challenge(BaseModel):
    slug: str
    title: str
    description: str
    join_policy: Literal["auto", "review"] = Field(description="requests to join are accepted at once, or by an "
                                                               "organiser")
    terms: str = Field(description="what a participant accepts when joining (empty: none)")
    organisers: list[str] = Field(description="usernames of the challenge's organisers")
    max_team_size: int | None = Field(description="the most members a team may have (null: no limit)")
    public_files: list[PublicFile]
    phases: list[Phase]


# --- scores, leaderboards and analyses ------------------------------------------------------------------------


class ScoreCell(BaseModel):
    value: float | None
    ci_low: float | None = Field(description="lower end of the 95% bootstrap confidence interval")
    ci_high: float | None = Field(description="upper end of the 95% bootstrap confidence interval")


class MetricInfo(BaseModel):
    name: str
    title: str
    higher_is_better: bool


class LeaderboardRow(BaseModel):
    rank: int = Field(description="the row's place under the phase's ranking scheme (ranking_scheme; provisional "
                                  "when ranks_provisional): equal aggregate scores, or entries the significance "
                                  "scheme cannot tell apart, share a rank")
    participant: str = Field(description="the entrant: a team's name, or a participant's username")
    is_team: bool = Field(description="the entrant is a team (one row for all its members)")
    submitted_by: str = Field(description="the username of the member who uploaded this submission")
    submission_id: int
    submitted_at: AwareDatetime
    comment: str
    container_seconds: float | None
    cases_unscored: int = Field(description="cases without a valid output (excluded or scored worst, per the "
                                            "phase's missing_cases policy)")
    scores: dict[str, ScoreCell] = Field(description="metric name -> score")
    rank_score: float | None = Field(None, description="with a ranking across metrics (ranking_across): the "
                                     "weighted mean or median of the entry's ranks on those metrics, which rank "
                                     "orders (lower is better); null otherwise")
    cpu_seconds: float | None = Field(None, description="CPU seconds the run's container used (from its cgroup, "
                                      "docs/operations.md); null when not measured")
    peak_memory_mb: float | None = Field(None, description="the container's peak memory in MiB; null when not "
                                         "measured")
    cases_run: int = Field(0, description="the cases the run processed (its valid and invalid ones)")
    seconds_per_case: float | None = Field(None, description="container_seconds / cases_run: batch mode runs every "
                                           "case in one container, so this is the mean, not a time of each case")
    cost_per_case: float | None = Field(None, description="the run's cost at the operator's prices / cases_run, in "
                                        "prices.currency; null when no price is set or a needed figure was not "
                                        "measured")
    seconds_per_case_median: float | None = Field(None, description="per-case mode (one container run per case): "
                                                  "the median of the cases' wall times; null in batch mode")
    seconds_per_case_p95: float | None = Field(None, description="per-case mode: the 95th percentile of the cases' "
                                               "wall times; null in batch mode")
    cost_per_case_median: float | None = Field(None, description="per-case mode: the median of the cases' costs "
                                               "(each case's run priced on its own); null in batch mode, when no "
                                               "price is set or a case lacks a needed figure")
    cost_per_case_p95: float | None = Field(None, description="per-case mode: the 95th percentile of the cases' "
                                            "costs; null as cost_per_case_median")


class RankedMetric(BaseModel):
    metric: str
    order: Literal["descending", "ascending"] = Field(description="the direction it is ranked in")
    weight: float


class RankingAcross(BaseModel):
    metrics: list[RankedMetric]
    combine: Literal["mean", "median"] = Field(description="of each entry's per-metric ranks")


class BaselineRow(BaseModel):
    name: str = Field(description="the reader's name as in the phase's readers file")
    kind: Literal["reader"] = "reader"
    scores: dict[str, ScoreCell] = Field(description="metric name -> the metric on the reader's decisions (a call "
                                                     ">= positive_at is 1, else 0), with its CI")


class Prices(BaseModel):
    """The operator's prices of a run's resources (PODIUM_PRICE_*); null where not set."""

    cpu_hour: float | None = Field(description="per CPU-hour the container used")
    gb_hour: float | None = Field(description="per GiB of peak memory and hour of wall time")
    gpu_hour: float | None = Field(description="per GPU-hour (no run uses a GPU yet)")
    currency: str = Field(description="the prices' currency as the operator wrote it (may be empty)")


class Leaderboard(BaseModel):
    """Each entrant's (participant's or team's) best succeeded submission, ranked."""

    challenge: str
    phase: str
    ranking_metric: str
    sorted_by: str
    missing_cases: Literal["fail", "worst", "exclude"]
    subset: ScoreSubset = Field(description="which cases the scores cover: all, or the public (while the phase "
                                            "runs) or private (once it closed) part of a split test set")
    selection: str = Field(description="which submissions compete: each participant's best, or on a private "
                                       "part only their final submissions (and the rule for those who chose none)")
    published: bool = Field(True, description="the organisers published the phase's results; while false, "
                                              "only the challenge's organisers and the admins (sending their "
                                              "token) get rows, everyone else none")
    ranking_scheme: str = Field("aggregate-then-rank", description="the phase's ranking scheme: aggregate-then-rank, "
                                "rank-then-aggregate or significance (docs/statistics.md §3)")
    ranks_provisional: bool = Field(False, description="sorted by the ranking metric under another scheme than "
                                    "aggregate-then-rank: true while the scheme's ranking is being computed (rank "
                                    "is then the ranking metric's order); false when rank is the scheme's rank")
    ranking_across: RankingAcross | None = Field(None, description="the phase ranks across several metrics: rank "
                                                 "orders the weighted mean (or median) of each entry's ranks on "
                                                 "them (docs/statistics.md §3.6); null: by ranking_metric alone")
    baselines: list[BaselineRow] = Field(default_factory=list, description="readers as marked baseline rows (not "
                                         "ranked), from the newest analysis of these cases; empty without readers")
    metrics: list[MetricInfo] = Field(description="the leaderboard's columns: the phase's leaderboard_columns in "
                                                  "that order, or every metric")
    prices: Prices | None = Field(None, description="the operator's prices behind cost_per_case; null when none is "
                                  "set (then no cost is shown)")
    test_set_version: int | None = Field(None, description="the version of the phase's test set the scores are on "
                                         "(the one it ranks on unless `version` asked for another)")
    rows: list[LeaderboardRow]


class CaseResult(BaseModel):
    case_id: str
    status: Literal["valid", "missing", "invalid"]
    message: str = Field(description="what was wrong with the case's output (empty when valid); in the platform's "
                                     "words unless the viewer may read full logs")
    values: dict[str, float | None] = Field(description="per-case metric values that exist, by metric name")
    wall_seconds: float | None = Field(None, description="per-case mode: the wall time of the case's own container "
                                                         "run; null in batch mode")
    cpu_seconds: float | None = Field(None, description="per-case mode: its CPU seconds; null when not measured")
    peak_memory_mb: float | None = Field(None, description="per-case mode: its peak memory in MiB; null when not "
                                                           "measured")


class CaseResults(BaseModel):
    """A submission's per-case results (docs/results.md)."""

    submission_id: int
    part: Literal["all", "public"] = Field(description="which cases: all, or the public part while a split phase "
                                                       "runs")
    cases: list[CaseResult]


class PublishResults(BaseModel):
    """Publish a phase's results, or hide them from participants."""

    model_config = ConfigDict(extra="forbid")

    published: bool


class PhaseResults(BaseModel):
    challenge: str
    phase: str
    published: bool = Field(description="everyone may read the phase's results (false: its organisers only)")


class Analysis(AnalysisDocument):
    """The phase's latest statistical analysis (docs/statistics.md explains each part)."""

    computed_at: AwareDatetime
    submission_ids: list[int] = Field(description="the submissions it covers")
    figures: list[str] = Field(description="names of its figures (SVG), shown on the web pages")


# --- submissions ----------------------------------------------------------------------------------------------


class Run(BaseModel):
    """The submission's latest evaluation run."""

    exit_code: int | None
    container_seconds: float | None = Field(description="wall time of the container, start to exit")
    cpu_seconds: float | None = Field(None, description="CPU seconds the container used (from its cgroup, "
                                      "docs/operations.md); null when not measured")
    peak_memory_mb: float | None = Field(None, description="the container's peak memory in MiB; null when not "
                                         "measured")
    seconds_per_case: float | None = Field(None, description="container_seconds / the cases the run processed "
                                           "(batch mode: a mean, not a time of each case)")
    cpu_seconds_per_case: float | None = Field(None, description="cpu_seconds / the cases the run processed")
    image_load_seconds: float | None = Field(None, description="making the image ready on the worker's engine: a "
                                             "download and docker load, or next to nothing for an image it holds")
    cases_valid: int
    cases_invalid: int
    stderr_tail: str = Field(description="the last lines the container wrote to stderr (empty unless the viewer may "
                                         "read full logs)")
    notes: list[str] = Field(description="what to know although the run did not fail (ignored files, "
                                         "excluded cases); under the failure-message policy counts and "
                                         "kinds only, never the names the container chose")


class SitePart(BaseModel):
    """One site's part of a submission to a phase held at sites (docs/sites.md): its cases, run and scored by one of
    that site's workers."""

    site: str = Field(description="the site's name")
    state: Literal["pending", "running", "done", "failed"] = Field(
        description="pending: waiting for one of the site's workers (the site may be offline; its part runs when it "
                    "returns); running: at the site now; done: scored at the site; failed")
    attempts: int = Field(description="how many times a site worker took it")
    finished_at: AwareDatetime | None
    message: str | None = Field(description="why it failed, under the same rules as the submission's "
                                            "failure_message (null: not failed, or nothing the viewer may read)")
    failure_is_infrastructure: bool = Field(False, description="the site's platform failed, not the submission")
    scores: dict[str, ScoreCell] = Field(default_factory=dict, description="the site's own scores on its cases "
                                                                           "(organisers only; empty otherwise)")


class Submission(BaseModel):
    """A submission as its owner sees it: state, failure message, run and scores."""

    id: int
    challenge: str
    phase: str
    participant: str = Field(description="the username of who uploaded it")
    team: str | None = Field(description="the team it was submitted for (null: its participant competes alone)")
    state: SubmissionState
    comment: str
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    failure_message: str | None = Field(description="what went wrong and what to do (a failed submission)")
    failure_is_infrastructure: bool = Field(description="the platform failed, not the submission (never counts "
                                                        "against the participant's limits)")
    upload_bytes: int | None
    upload_sha256: str | None
    image_tags: list[str]
    selected_final: bool = Field(description="selected by its owner as a final submission (phases with a "
                                             "private part rank only final submissions there)")
    hidden: bool = Field(description="hidden from the leaderboard by the organisers")
    hidden_reason: str | None = Field(description="why, in the organisers' words")
    has_private_part: bool = Field(description="the phase splits its test set into a public and a private part")
    reruns: int = Field(0, description="how many times the organisers ran it again (each re-run replaces its "
                                       "results; never counts against the participant's limits)")
    results_published: bool = Field(True, description="the phase's results are published; while not, its "
                                                      "participants read no scores (organisers read everything)")
    scores_withheld: bool = Field(False, description="the results are not published, so the viewer reads no "
                                                    "scores (state and failure message stay)")
    case_results: bool = Field(False, description="the viewer may read its per-case results "
                                                 "(GET /submissions/{id}/cases)")
    can_rerun: bool = Field(False, description="the viewer may re-run it now (POST /submissions/{id}/rerun): an "
                                               "organiser, a finished submission with its archive")
    log_visibility: Literal["full", "failure-message", "state"] = Field(
        description="what the viewer may read of the runs: full logs, the platform's failure message only (no "
                    "container output), or just the state; organisers always read everything")
    run: Run | None
    scores: dict[str, ScoreCell] = Field(description="metric name -> score, on the cases the participant may "
                                                     "see (never the private part of an open phase)")
    scores_subset: ScoreSubset | None = Field(None, description="which cases the scores cover; present once "
                                                                "the submission has a run")
    sites: list[SitePart] = Field(default_factory=list, description="a phase held at sites: each site's part, by "
                                                                 "site name (empty for any other phase)")


class Limits(BaseModel):
    """Your submission limits in a phase. Submissions refused as unusable images, and failures that were the
    platform's fault, take no place."""

    per_day: int = Field(description="submissions allowed in any 24 hours")
    used_today: int = Field(description="submissions that take a place in the last 24 hours")
    remaining_today: int = Field(description="how many you may submit now (the total limit included)")
    next_frees_at: AwareDatetime | None = Field(description="when the oldest place of the last 24 hours frees")
    total: int | None = Field(description="submissions allowed over the phase's life (null: no limit)")
    used_total: int
    refused_today: int = Field(description="uploads refused as unusable images in the last 24 hours")
    refused_per_day: int = Field(description="refused uploads allowed in any 24 hours")
    counted_for: str = Field(description="whose submissions count: \"you\", or your team (a team's members "
                                         "share its limits)")


class ReadersUploaded(BaseModel):
    readers: int = Field(description="how many readers the file holds")
    positive_at: float


# --- API tokens -----------------------------------------------------------------------------------------------


class NewToken(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="what the token is for, e.g. 'laptop' or 'CI'")
    days: int = Field(90, ge=1, le=365, description="it expires after this many days (at most a year)")


class Token(BaseModel):
    """One of your API tokens (never its secret, which is shown only when it is made)."""

    id: int
    name: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = Field(description="it stops working then (null: never, for a token carried "
                                                         "over from before personal tokens)")
    last_used_at: AwareDatetime | None = Field(description="its last use, to the minute (null: never used)")
    revoked_at: AwareDatetime | None = Field(description="when it was revoked (null: it was not)")
    active: bool = Field(description="neither revoked nor expired: it works")


class CreatedToken(BaseModel):
    token: Token
    secret: str = Field(description="the token to send as 'Authorization: Bearer <secret>': shown only now, only "
                                    "its hash is kept")


class OpenAPIDocument(BaseModel):
    """This document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


# --- membership -------------------------------------------------------------------------------------------------

class JoinRequest(BaseModel):
    """A request to take part in a challenge."""

    model_config = ConfigDict(extra="forbid")

    accept_terms: bool = Field(False, description="you accept the challenge's terms (needed when it has any)")


class Decision(BaseModel):
    """An organiser's answer to a request to join."""

    model_config = ConfigDict(extra="forbid")

    accept: bool


class Participant(BaseModel):
    username: str
    status: Literal["pending", "accepted", "rejected"]
    requested_at: AwareDatetime
    decided_at: AwareDatetime | None
    terms_accepted_at: AwareDatetime | None


class Organisers(BaseModel):
    organisers: list[str] = Field(description="usernames, sorted")


# --- teams ------------------------------------------------------------------------------------------------------


class NewTeam(BaseModel):
    """A team to create; you become its first member."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="3-64 letters, digits, spaces and '_.-'; unique in "
                                                               "the challenge")


class Team(BaseModel):
    id: int
    challenge: str
    name: str
    members: list[str] = Field(description="usernames, in the order they joined")
    created_at: AwareDatetime
    invited: list[str] | None = Field(None, description="usernames invited and not yet answered (shown to the "
                                                        "team's members only)")


class NewInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=80, description="whom to invite")


class Invitation(BaseModel):
    """An open invitation to join a team."""

    id: int
    team_id: int
    team: str
    challenge: str
    username: str = Field(description="the invitee")
    invited_by: str | None
    created_at: AwareDatetime


class Visibility(BaseModel):
    """An organiser hides a submission from the leaderboard (with a reason its participant reads), or shows it."""

    model_config = ConfigDict(extra="forbid")

    hidden: bool
    reason: str = Field("", max_length=500, description="needed to hide")


# --- test-set versions and re-evaluations (app/api/test_set_versions.py) -------------------------------------------


class VersionQuery(BaseModel):
    version: int | None = Field(None, ge=1, le=2**31 - 1,
                                description="a version of the phase's test set; the one it ranks on if absent")


class CompareQuery(BaseModel):
    a: int = Field(ge=1, le=2**31 - 1, description="the version compared from (usually the one the phase ranks on)")
    b: int = Field(ge=1, le=2**31 - 1, description="the version compared to (usually the newer one)")


class TestSetVersion(BaseModel):
    __test__ = False

    version: int
    case_count: int
    created_at: AwareDatetime
    current: bool = Field(description="the version the phase ranks on (new submissions run on it)")
    scored_runs: int = Field(description="submissions with scores on this version")


class ReevaluationCounts(BaseModel):
    pending: int
    running: int
    done: int
    failed: int


class ReevaluationFailure(BaseModel):
    submission_id: int
    message: str = Field(description="why its run on this version failed, in the platform's words")


class Reevaluation(BaseModel):
    """Submissions of a phase run again on a version of its test set, at most `budget` at once."""

    id: int
    version: int
    budget: int
    selection: Literal["final", "selected"]
    requested_by: str | None
    created_at: AwareDatetime
    counts: ReevaluationCounts
    finished: bool
    failures: list[ReevaluationFailure]


class TestSetVersions(BaseModel):
    """Every version of a phase's test set, and the phase's re-evaluations (newest first)."""

    __test__ = False

    versions: list[TestSetVersion]
    reevaluations: list[Reevaluation]


class UseVersion(BaseModel):
    """Rank the phase on this version of its test set."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


class StartReevaluation(BaseModel):
    """Run the phase's final submissions, or the ones listed, on a version of its test set."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)
    budget: int = Field(2, description="how many runs may go at once")
    selection: Literal["final", "selected"] = "final"
    submission_ids: list[int] = Field(default_factory=list, description="with selection 'selected'")


class ComparisonCell(BaseModel):
    a: ScoreCell | None
    b: ScoreCell | None
    difference: float | None = Field(description="b - a")


class ComparisonRow(BaseModel):
    submission_id: int
    participant: str
    comment: str
    metrics: dict[str, ComparisonCell]


class Comparison(BaseModel):
    """Each algorithm scored on both versions: every metric with its CI on each, and the difference."""

    challenge: str
    phase: str
    version_a: int
    version_b: int
    ranking_metric: str
    metrics: list[MetricInfo]
    subset: ScoreSubset
    only_a: int = Field(description="submissions scored on version a only (not yet re-evaluated on b)")
    only_b: int
    rows: list[ComparisonRow]
