"""What an attempt needs, read from the database once, before the long work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.challenge_yaml import Interface
from app.models import Submission, TestSet
from app.pipeline.scoring import ScoringConfigurationError
from runners.sandbox import SandboxPolicy

MIN_NANO_CPUS = 10_000_000  # the smallest CPU quota Docker accepts (0.01 CPU)


@dataclass(frozen=True)
class CasePlan:
    row_id: int
    key: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class AttemptPlan:
    """Everything the long part of an attempt needs; the database session is closed while it runs."""

    submission_id: int
    owner: str  # the lease owner: this attempt
    upload_key: str
    image_tags: list[str]
    image_config_digest: str | None  # "sha256:<hex>" of the archive's image config, checked when it was uploaded
    test_set_id: int
    storage_prefix: str
    content_hash: str
    cases: list[CasePlan]
    inputs: list[Interface]
    outputs: list[Interface]
    ground_truth: list[Interface]
    metrics: list[dict[str, str]]
    evaluator: dict[str, Any] | None
    case_metadata: dict[str, dict[str, str]]
    missing_cases: str
    split_column: str | None
    # The metadata column whose values group cases for the clustered bootstrap (analysis.cluster_by), or None.
    cluster_by: str | None
    policy: SandboxPolicy
    # "batch" (one run sees every case) or "per-case" (one run per case; app/pipeline/per_case.py).
    run_mode: str = "batch"
    cases_in_parallel: int = 1  # per-case mode: runs at once, sharing policy's CPUs
    shards: int = 1  # batch mode: the test set's parts, run by any free worker (app/pipeline/shards.py)

    @property
    def per_case(self) -> bool:
        return self.run_mode == "per-case"

    def case_policy(self) -> SandboxPolicy:
        """The sandbox of one case's run in per-case mode: the phase's CPUs shared by the runs at once; memory,
        time, output and the rest per run."""
        share = max(1, self.cases_in_parallel)
        return dataclasses.replace(self.policy, nano_cpus=max(MIN_NANO_CPUS, self.policy.nano_cpus // share))

    @property
    def case_keys(self) -> list[str]:
        return [case.key for case in self.cases]

    def subsets(self) -> dict[str, set[str]] | None:
        """The public and private parts of the test set, when the phase splits it."""
        if self.split_column is None:
            return None
        subsets: dict[str, set[str]] = {"public": set(), "private": set()}
        for case, meta in self.case_metadata.items():
            subsets.setdefault(meta.get(self.split_column, ""), set()).add(case)
        return {name: members for name, members in subsets.items() if name in ("public", "private")}


def plan_attempt(session: Session, submission_id: int, owner: str, *, test_set_id: int | None = None) -> AttemptPlan:
    """test_set_id: another version of the phase's test set than the current one (a re-evaluation)."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.upload_key is None:
        raise ScoringConfigurationError(f"submission {submission_id} has no stored upload")
    phase = submission.phase
    test_set = phase.current_test_set if test_set_id is None else session.get(TestSet, test_set_id)
    if test_set is None:
        raise ScoringConfigurationError(f"phase {phase.slug} has no test set")
    return AttemptPlan(
        submission_id=submission_id,
        owner=owner,
        upload_key=submission.upload_key,
        image_tags=submission.image_tags.split(),
        image_config_digest=submission.image_config_digest,
        test_set_id=test_set.id,
        storage_prefix=test_set.storage_prefix,
        content_hash=test_set.content_hash,
        cases=[CasePlan(c.id, c.case_key, c.inputs) for c in test_set.cases],
        inputs=[Interface.model_validate(i) for i in phase.inputs],
        outputs=[Interface.model_validate(o) for o in phase.outputs],
        ground_truth=[Interface.model_validate(g) for g in phase.ground_truth],
        metrics=list(phase.metrics),
        evaluator=phase.evaluator,
        case_metadata={c.case_key: c.meta for c in test_set.cases},
        cluster_by=(phase.analysis or {}).get("cluster_by"),
        missing_cases=phase.missing_cases,
        split_column=phase.split_column,
        run_mode=phase.run_mode,
        cases_in_parallel=phase.cases_in_parallel or 1,
        shards=phase.shards or 1,
        policy=SandboxPolicy.from_limits(time_limit_seconds=phase.time_limit_seconds, memory_mb=phase.memory_mb,
                                         cpus=phase.cpus, pids=phase.pids_limit, tmp_mb=phase.tmp_mb,
                                         output_mb=phase.output_mb, log_kb=phase.log_kb, gpus=phase.gpus),
    )
