"""A re-evaluation run on a test set version held at sites (docs/sites.md; app/pipeline/reevaluation.py).

The re-evaluation run (a row with its own claim, lease and budget turn) is handed to one part per site holding cases
of that version, exactly as a submission's own run is (app/pipeline/sites.py): the row stays running (its turn of the
budget taken) with no lease expiry while the sites work, each part is claimed, leased and retried alone by the site's
workers, and when every part is final a central worker takes the row back and stores the submission's run on that
version from the pooled results, beside its other runs. The submission itself is never touched.
"""

from __future__ import annotations

import logging
import uuid

from app import transitions
from app.models.reevaluation import ReevaluationRun
from app.pipeline.persist import LeaseLost
from app.pipeline.plan import plan_attempt
from app.pipeline.reevaluation import Claimed, fail_claimed, store_pooled_run
from app.pipeline.sites import (
    final_parts,
    participant_failure,
    platform_failure,
    pooled_scoring,
    site_logs,
    usage_totals,
)
from app.resources import Resources

log = logging.getLogger(__name__)


def pool_reevaluation_at_sites(resources: Resources, row_id: int, worker_name: str) -> str:
    """Take the re-evaluation run back from its sites once every part is final, and store its run on the version (or
    its failure); "skipped" while a part is not final or another worker pools it."""
    owner = f"{worker_name}/{uuid.uuid4().hex[:12]}"[-64:]
    with resources.session() as session:
        row = session.get(ReevaluationRun, row_id)
        if row is None:
            return "skipped"
        found = final_parts(session, row.submission_id, row_id)
        if found is None:
            return "skipped"
        parts, _, test_set_id = found
        if not transitions.take_reevaluation_from_sites(session, row_id, owner=owner,
                                                        lease_seconds=resources.settings.lease_seconds):
            return "skipped"
        claimed = Claimed(row_id, row.reevaluation_id, owner)
        plan = plan_attempt(session, row.submission_id, owner, test_set_id=test_set_id)
    try:
        if (why := participant_failure(parts)) is not None:
            return fail_claimed(resources, claimed, why)
        if (reason := platform_failure(parts)) is not None:
            return fail_claimed(resources, claimed, f"the platform failed at a site ({reason}); this is not the "
                                                    "submission's fault")
        scoring, usage = pooled_scoring(plan, parts)
        totals = usage_totals(parts)
        state = store_pooled_run(
            resources, plan, claimed, worker_name, stdout=site_logs(resources, plan, parts, "stdout"),
            stderr=site_logs(resources, plan, parts, "stderr"), exit_code=totals["exit_code"],
            wall=totals["wall_seconds"], cpu=totals["cpu_seconds"], peak=totals["peak_memory_mb"],
            load=totals["image_load_seconds"], scoring=scoring,
            usage={key: (u.wall_seconds, u.cpu_seconds, u.peak_memory_mb) for key, u in usage.items()})
        log.info("re-evaluation run %s: pooled %s site(s): %s", row_id, len(parts), state)
        return state
    except LeaseLost:
        return "stopped"
