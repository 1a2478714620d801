"""The staging and scoring steps of a plan, as every kind of run calls them: a submission's attempt
(app/pipeline/attempt.py), a re-evaluation run (reevaluation.py) and a site's part (site_part.py). Each passes the
store its test set lives in: central storage, or the site's own."""

from __future__ import annotations

from pathlib import Path

from app.pipeline.per_case import per_case_wording
from app.pipeline.plan import AttemptPlan
from app.pipeline.scoring import Message, ScoringResult, score_outputs
from app.pipeline.staging import stage_case_inputs, stage_ground_truth, stage_inputs, staged_input_images
from app.storage import ArtifactStore
from runners.outputs import OutputListing, read_output_bytes


def stage_plan_inputs(store: ArtifactStore, plan: AttemptPlan, *, cache_root: Path, max_bytes: int | None) -> Path:
    """The plan's cases staged as its run mode lays them out: one batch /input, or a folder per case (per-case)."""
    cases = [(case.key, case.inputs) for case in plan.cases]
    if plan.per_case:
        return stage_case_inputs(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                                 cases=cases, interfaces=plan.inputs, cache_root=cache_root, max_bytes=max_bytes)
    return stage_inputs(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash, cases=cases,
                        input_paths=[i.relative_path for i in plan.inputs], cache_root=cache_root, max_bytes=max_bytes)


def stage_plan_truth(store: ArtifactStore, plan: AttemptPlan, *, cache_root: Path, max_bytes: int | None) -> Path:
    """The plan's hidden reference, readable only by the worker's user."""
    return stage_ground_truth(store, storage_prefix=plan.storage_prefix, content_hash=plan.content_hash,
                              case_ids=plan.case_keys, truth_paths=[g.relative_path for g in plan.ground_truth],
                              cache_root=cache_root,
                              image_folders=[g.relative_path for g in plan.ground_truth if g.kind == "image"],
                              max_bytes=max_bytes)


def score_plan(plan: AttemptPlan, listing: OutputListing, truth_dir: Path, *, input_dir: Path | None,
               case_failures: dict[str, Message] | None = None) -> ScoringResult:
    """The collected outputs scored with the phase's metrics and missing-case policy (per-case mode: messages name
    outputs as a case's own container wrote them). input_dir: the staged inputs, for an image output's
    same_grid_as."""
    scoring = score_outputs(case_keys=plan.case_keys, outputs=plan.outputs, ground_truth=plan.ground_truth,
                            metrics=plan.metrics, output_files=listing.files, rejected_files=listing.rejected,
                            truth_dir=truth_dir, read_output=read_output_bytes, missing_cases=plan.missing_cases,
                            metadata=plan.case_metadata, subsets=plan.subsets(), cluster_by=plan.cluster_by,
                            case_failures=case_failures,
                            input_images=staged_input_images(input_dir, plan.case_keys, plan.inputs)
                            if input_dir else None)
    if plan.per_case:
        per_case_wording(scoring)
    return scoring
