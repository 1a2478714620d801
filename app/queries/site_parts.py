"""What participants and organisers read of a phase held at sites (docs/sites.md, "What participants and organisers
see"): each site's part of a submission, and the sites of a phase with their cases and the parts waiting for them.

A part's failure message follows the same log-visibility rules as the submission's own failure message
(app/queries/submission_summary.py): full visibility (organisers always) reads the platform's full message; under
"failure-message" a participant reads the version in the platform's own words (participant_message); under "state"
nothing of a part the container failed. A part that failed because the site's platform kept failing is always
explained, in words that quote nothing from the site. What a site sent back (the part's `result`) is never shown to
participants; organisers read the site's own scores from it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    LogVisibility,
    Phase,
    Site,
    SitePartState,
    Submission,
    SubmissionSitePart,
    SubmissionState,
    TestSetPart,
)

# A part that failed with no participant's message failed because the site's platform kept failing (never the
# participant's fault): this is all a participant reads of it.
SITE_PLATFORM_FAILURE = ("the site's platform kept failing while running this part (not your submission's fault; "
                         "it does not count against your limits)")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def part_message(part: SubmissionSitePart, visibility: LogVisibility) -> str | None:
    """A failed part's message as a viewer with `visibility` may read it (None: nothing to read)."""
    if part.state != SitePartState.FAILED:
        return None
    infrastructure = part.participant_message is None
    if visibility == LogVisibility.FULL:
        return part.message or (SITE_PLATFORM_FAILURE if infrastructure else None)
    if infrastructure:
        return SITE_PLATFORM_FAILURE
    if visibility == LogVisibility.STATE:
        return None
    return part.participant_message


def submission_site_parts(session: Session, submission_id: int, visibility: LogVisibility, *,
                          organiser: bool) -> list[dict[str, Any]]:
    """Each site's part of a submission, by site name: state, attempts, when it finished and its message as the
    viewer may read it; per-site scores for organisers only. Empty for a submission that was never handed to sites."""
    rows = session.execute(select(SubmissionSitePart, Site.name).join(Site, Site.id == SubmissionSitePart.site_id)
                           .where(SubmissionSitePart.submission_id == submission_id).order_by(Site.name)).all()
    parts: list[dict[str, Any]] = []
    for part, name in rows:
        entry: dict[str, Any] = {
            "site": name,
            "state": str(part.state),
            "attempts": part.attempts,
            "finished_at": _iso(part.finished_at),
            "message": part_message(part, visibility),
            "failure_is_infrastructure": part.state == SitePartState.FAILED and part.participant_message is None,
            "scores": {},
        }
        if organiser and part.result:
            entry["scores"] = {metric: dict(score) for metric, score in
                               dict(part.result.get("site_scores") or {}).items()}
        parts.append(entry)
    return parts


def phase_sites_overview(session: Session, phase: Phase) -> list[dict[str, Any]]:
    """For the organisers' test set page: each site the phase names, its cases in the current version and when it
    loaded them (None: not loaded in that version), and how many parts of running submissions wait for it (pending)
    or run there now."""
    if not phase.sites:
        return []
    sites = {site.name: site for site in session.scalars(select(Site).where(Site.name.in_(phase.sites)))}
    loaded: dict[int, TestSetPart] = {}
    if phase.current_test_set_id is not None:
        loaded = {part.site_id: part for part in session.scalars(
            select(TestSetPart).where(TestSetPart.test_set_id == phase.current_test_set_id))}
    waiting: Counter[tuple[int, str]] = Counter()
    for site_id, state, count in session.execute(
            select(SubmissionSitePart.site_id, SubmissionSitePart.state, func.count())
            .join(Submission, Submission.id == SubmissionSitePart.submission_id)
            .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.RUNNING,
                   SubmissionSitePart.state.in_([SitePartState.PENDING, SitePartState.RUNNING]))
            .group_by(SubmissionSitePart.site_id, SubmissionSitePart.state)).all():
        waiting[(site_id, str(state))] = int(count)
    overview: list[dict[str, Any]] = []
    for name in phase.sites:
        site = sites.get(name)
        part = loaded.get(site.id) if site is not None else None
        overview.append({
            "site": name,
            "title": site.title if site is not None else "",
            "registered": site is not None,
            "case_count": part.case_count if part is not None else None,
            "loaded_at": part.loaded_at if part is not None else None,
            "pending": waiting[(site.id, SitePartState.PENDING.value)] if site is not None else 0,
            "running": waiting[(site.id, SitePartState.RUNNING.value)] if site is not None else 0,
        })
    return overview
