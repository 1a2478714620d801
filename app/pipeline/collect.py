"""Collect step: read what the container wrote to /output, check the phase's limits, store the files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.pipeline.plan import AttemptPlan
from app.storage import ArtifactStore, keys
from runners.outputs import OutputListing, collect_outputs


@dataclass(frozen=True)
class Collected:
    listing: OutputListing | None
    refusal: str | None  # why nothing was collected (the participant's fault), or None


def collect(store: ArtifactStore, plan: AttemptPlan, output_dir: Path) -> Collected:
    listing = collect_outputs(output_dir, plan.policy.output_bytes)
    if listing.too_many_files:
        return Collected(None, "the container wrote too many files to /output")
    if listing.over_limit:
        return Collected(None, f"the outputs exceed this phase's limit of {plan.policy.output_bytes // 1024**2} MiB")
    for relative, path in listing.files.items():
        store.put_file(keys.submission_output(plan.submission_id, relative), path)
    return Collected(listing, None)
