"""Rank uncertainty at leaderboard scale: 10,000 cases, 20 entries, 1,000 paired replicates, in seconds."""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import MetricInput
from evaluation.ranking import rank_entries
from tests.evaluation.stats.metrics import AbsoluteError


def test_ten_thousand_cases_twenty_entries_thousand_replicates_take_seconds() -> None:
    rng = np.random.default_rng(0)
    n, k = 10_000, 20
    targets = rng.normal(size=n)
    ids = [f"c{i}" for i in range(n)]
    entries = {f"e{e:02d}": MetricInput(ids, targets + rng.normal(scale=0.5 + 0.01 * e, size=n), targets)
               for e in range(k)}
    started = time.perf_counter()
    for scheme in ("aggregate-then-rank", "rank-then-aggregate"):
        ranking = rank_entries(entries, AbsoluteError(), scheme, replicates=1000)
        assert ranking.uncertainty.replicates_used == 1000
        assert ranking.entries[0].entry == "e00"
    elapsed = time.perf_counter() - started
    assert elapsed < 30.0, f"took {elapsed:.1f} s"
