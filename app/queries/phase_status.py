"""Where a phase stands: not yet open, open, or closed, and whether a private part's scores are published."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from app.models import Phase
from app.models._types import utcnow


class PhaseState(enum.StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class PhaseStatus:
    state: PhaseState
    opens_at: datetime | None
    closes_at: datetime | None
    has_private_part: bool

    @property
    def private_published(self) -> bool:
        """The private part's scores are shown (a split phase that has closed)."""
        return self.has_private_part and self.state == PhaseState.CLOSED

    def summary(self) -> str:
        """One line for a page: the state and the dates that matter next."""
        if self.state == PhaseState.UPCOMING:
            text = f"Opens {_when(self.opens_at)}"
            return text + (f"; closes {_when(self.closes_at)}." if self.closes_at else ".")
        if self.state == PhaseState.OPEN:
            text = "Accepting submissions"
            text += f" until {_when(self.closes_at)}" if self.closes_at else " (no closing date)"
            if self.has_private_part:
                text += "; the leaderboard shows the public part of the test set, the private part when it closes"
            return text + "."
        text = f"Closed {_when(self.closes_at)}"
        if self.has_private_part:
            text += "; the final ranking on the private part of the test set is published"
        return text + "."


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "?"


def phase_status(phase: Phase, now: datetime | None = None) -> PhaseStatus:
    now = now or utcnow()
    if phase.opens_at is not None and now < phase.opens_at:
        state = PhaseState.UPCOMING
    elif phase.closes_at is not None and now >= phase.closes_at:
        state = PhaseState.CLOSED
    else:
        state = PhaseState.OPEN
    return PhaseStatus(state, phase.opens_at, phase.closes_at, phase.split_column is not None)
