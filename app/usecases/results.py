"""Organisers publish a phase's results or hide them from participants (docs/results.md).

While a phase's results are not published, only its challenge's organisers and the admins read its leaderboard
rows, its analysis and figures, scores of submissions and per-case results; participants still read their
submissions' states and failure messages. Nothing is recomputed: the switch changes who reads what is stored.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import Phase, User
from app.permissions import require_organiser


def set_results_published(session: Session, phase: Phase, actor: User, *, published: bool) -> Phase:
    """Publish (True) or hide (False) the phase's results. Organisers of its challenge and admins only. Flushes."""
    require_organiser(actor, phase, to="publish or hide this phase's results")
    phase.results_published = published
    session.flush()
    return phase


def set_report_published(session: Session, phase: Phase, actor: User, *, published: bool) -> Phase:
    """Publish (True) or hide (False) the phase's decision report from participants (docs/report.md): published,
    a participant reads it with their own entry only, and only while the results are published too. Flushes."""
    require_organiser(actor, phase, to="publish or hide this phase's report")
    phase.report_published = published
    session.flush()
    return phase
