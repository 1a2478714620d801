"""Reading stored phase analyses (the web process never computes them: they need the ground truth)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Phase, PhaseAnalysis, User
from app.queries.analysis_document import document_of


def latest_analysis(session: Session, phase: Phase, *, test_set_id: int | None = None) -> PhaseAnalysis | None:
    """The newest analysis of what viewers may see now (never a private-part analysis of an open phase); test_set_id:
    of another version of the test set than the one the phase ranks on."""
    from app.queries.leaderboard import visible_subset

    found = newest_analysis(session, phase, test_set_id=test_set_id)
    if found is not None and document_of(found).subset != visible_subset(phase):
        return None
    return found


def analysis_for(session: Session, phase: Phase, viewer: User | None, *,
                 test_set_id: int | None = None) -> PhaseAnalysis | None:
    """latest_analysis as `viewer` (None: anonymous) may read it: none while the phase's results are not published,
    unless they organise the challenge (docs/results.md)."""
    from app.queries.leaderboard import results_visible

    return latest_analysis(session, phase, test_set_id=test_set_id) if results_visible(phase, viewer) else None


def newest_analysis(session: Session, phase: Phase, *, test_set_id: int | None = None) -> PhaseAnalysis | None:
    """The newest analysis of the phase on a version of its test set (None: the one it ranks on)."""
    return session.scalar(select(PhaseAnalysis).where(PhaseAnalysis.phase_id == phase.id,
                                                      PhaseAnalysis.test_set_id == (test_set_id
                                                                                    or phase.current_test_set_id))
                          .order_by(PhaseAnalysis.id.desc()).limit(1))
