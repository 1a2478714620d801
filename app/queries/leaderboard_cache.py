"""The one cache of leaderboards (issue 13: a phase of 10,000 submissions takes seconds to rank, and its page and
JSON are read far more often than its results change).

A board is kept under a key that holds everything it is built from, so nothing has to remember to invalidate it:
a change to any of these makes a new key, and the old entry simply ages out of the bounded store.
- the phase's own row (every setting: metrics, columns, ranking, split, policies, publication, test set);
- the phase's submissions: how many, the newest id and the newest `updated_at` (every state change, a hidden or
  shown submission and a final selection move it: app/transitions.py and the moderation use cases set it);
- the phase's runs: how many and the newest id (a re-run deletes and re-creates them), and the newest score id of
  the whole site (scores are written and deleted only in the transaction that moves their submission on, or
  deleted with their run; a score in another phase just rebuilds this board once more);
- the newest analysis of the phase (the scheme's ranks and the readers' rows come from it);
- the challenge's teams (an entrant's name) and the database the session reads;
- what the caller adds (sort metric, subset, prices).
Reading the key is two aggregate queries over the phase's submissions and runs and three index reads; the board
itself is built only on a miss.

Entries are per process (each web process fills its own) and shared by its threads; callers get a shallow copy
and must not change the rows.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from app.models import EvaluationRun, Phase, PhaseAnalysis, Score, Submission, Team

MAX_ENTRIES = 256

T = TypeVar("T")

_entries: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def results_fingerprint(session: Session, phase: Phase) -> tuple[Hashable, ...]:
    """Everything a phase's leaderboard is built from, as a hashable value: it changes whenever the board can."""
    settings = hashlib.sha256(repr(sorted(
        (attribute.key, getattr(phase, attribute.key)) for attribute in inspect(Phase).column_attrs
    )).encode()).hexdigest()
    submissions = (select(func.count(Submission.id), func.max(Submission.id), func.max(Submission.updated_at))
                   .where(Submission.phase_id == phase.id))
    runs = (select(func.count(EvaluationRun.id), func.max(EvaluationRun.id))
            .join(Submission, Submission.id == EvaluationRun.submission_id).where(Submission.phase_id == phase.id))
    scores = select(func.max(Score.id))  # the newest score anywhere: one index read (a phase's scores: 30,000 rows)
    analysis = select(func.max(PhaseAnalysis.id)).where(PhaseAnalysis.phase_id == phase.id).scalar_subquery()
    teams = select(Team.id, Team.name).where(Team.challenge_id == phase.challenge_id).order_by(Team.id)
    return (str(session.get_bind().engine.url), phase.id, settings, tuple(session.execute(submissions).one()),
            tuple(session.execute(runs).one()), session.scalar(scores), session.scalar(select(analysis)),
            tuple(tuple(team) for team in session.execute(teams)))


def remembered(key: Hashable, build: Callable[[], T]) -> T:
    """The value kept under `key`, or `build()` kept there (the least recently used entry goes beyond
    MAX_ENTRIES). A shallow copy either way, so a caller may set the top-level fields of what it gets."""
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return copy.copy(_entries[key])  # type: ignore[return-value]
    value = build()  # outside the lock: two threads may both build on a miss; either result is the same
    with _lock:
        _entries[key] = value
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return copy.copy(value)


def forget_all() -> None:
    """Empty the cache (tests that measure a cold build)."""
    with _lock:
        _entries.clear()
