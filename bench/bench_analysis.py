"""The phase analysis as its entries grow, and how many analyses a burst of scored submissions costs.

    .venv/bin/python bench/bench_analysis.py [--entries 10,100] [--burst 40] [--burst-interval 0.05]

The issue's sizes are `--entries 10,100,1000`. The phase is the breast-cancer example's `test` phase (228 hidden
cases, AUROC and average precision). For each size E in `--entries`, E participants each have one succeeded
submission whose per-case predictions (noisy functions of the ground truth) are written straight into a fresh
SQLite database; then the worker's analysis
(app.pipeline.analysis.analyse_phase: paired bootstrap CIs, rank uncertainty, breakdowns, figures) runs once,
timed. The baseline, measured side by side: the leaderboard it starts from (build_leaderboard), the same rows.

Coalescing: `--burst` submissions are scored one after another (`--burst-interval` s apart) while a worker
(RQ, burst mode, in this process) runs whatever the queue holds; each scored submission asks for an analysis
the way the worker does (app.tasks.queues.enqueue_analysis). Printed: requests made, analyses run. Without
coalescing every request would be one analysis over a growing phase (sum over k of T(k): quadratic over the
phase's life); with it, at most one waits and one runs per phase, so a burst costs about (burst length / T) + 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rq import Queue, SimpleWorker  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.models import (  # noqa: E402
    Case,
    CaseOutcome,
    EvaluationRun,
    Phase,
    PhaseAnalysis,
    Score,
    Submission,
    SubmissionState,
    User,
)
from app.pipeline.analysis import analyse_phase  # noqa: E402
from app.queries.leaderboard import build_leaderboard  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.tasks.queues import enqueue_analysis, redis_connection  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402

CHALLENGE = REPO / "challenges" / "breast-cancer-wisconsin"
TRUTH = CHALLENGE / "data" / "test" / "ground_truth"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", default="10,100")
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--burst-interval", type=float, default=0.05)
    args = parser.parse_args()
    sizes = [int(size) for size in args.entries.split(",")]
    timings: list[tuple[int, float, float]] = []
    for size in sizes:
        with _phase() as (resources, phase_id, added):
            added(size)
            with resources.session() as session:
                started = time.perf_counter()
                board = build_leaderboard(session, session.get(Phase, phase_id), scheme_ranks=False)
                leaderboard = time.perf_counter() - started
            assert len(board.rows) == size
            started = time.perf_counter()
            assert analyse_phase(resources, phase_id) is not None
            analysis = time.perf_counter() - started
            timings.append((size, analysis, leaderboard))
            print(f"{size:5d} entries: analysis {analysis:7.2f} s ({analysis / size * 1000:6.1f} ms per entry); "
                  f"leaderboard build {leaderboard * 1000:6.0f} ms; ratio analysis / leaderboard "
                  f"{analysis / leaderboard:5.0f}x")
    for (small, t_small, _), (large, t_large, _) in zip(timings, timings[1:], strict=False):
        print(f"  {small} -> {large} entries ({large / small:.0f}x): analysis time x{t_large / t_small:.1f}")
    _burst(args.burst, args.burst_interval)


class _phase:
    """A fresh data folder and SQLite database with the example applied; `added(n)` writes n scored entries."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.work = Path(tempfile.mkdtemp(prefix="podium-bench-analysis-"))
        os.environ.update({"PODIUM_DATA_DIR": str(self.work / "data"),
                           "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}", "PODIUM_SECRET_KEY": "bench"})
        os.environ.pop("PODIUM_DATABASE_URL", None)
        self.settings = Settings.from_env()
        upgrade(self.settings.database_url)
        self.resources = Resources(self.settings)
        with self.resources.session() as session:
            apply_challenge(session, self.resources.store, CHALLENGE)
            phase = session.scalars(select(Phase).where(Phase.slug == "test")).one()
            self.phase_id = phase.id
            self.test_set_id = phase.current_test_set_id
            self.cases = [(case.id, json.loads((TRUTH / case.case_key / "malignant.json").read_text()))
                          for case in session.scalars(select(Case).where(Case.test_set_id == self.test_set_id))]
        self.rng = random.Random(5)
        self.count = 0
        return self.resources, self.phase_id, self.add

    def add(self, n: int) -> None:
        now = datetime.now(UTC)
        with self.resources.session() as session:
            for _ in range(n):
                self.count += 1
                user = User(username=f"bench-{self.count:05d}")
                session.add(user)
                session.flush()
                submission = Submission(phase_id=self.phase_id, user_id=user.id, state=SubmissionState.SUCCEEDED,
                                        upload_key="k", finished_at=now)
                session.add(submission)
                session.flush()
                run = EvaluationRun(submission_id=submission.id, test_set_id=self.test_set_id, exit_code=0,
                                    finished_at=now, cases_valid=len(self.cases))
                session.add(run)
                session.flush()
                noise = self.rng.uniform(0.2, 1.5)
                session.execute(insert(CaseOutcome), [
                    {"run_id": run.id, "case_id": case_id, "status": "valid", "message": "",
                     "prediction": {"malignancy-likelihood": min(1.0, max(0.0, truth * 0.5 + 0.25
                                                                         + self.rng.gauss(0, noise / 3)))},
                     "values": {}} for case_id, truth in self.cases])
                value = 0.6 + 0.4 * self.rng.random()
                session.add_all([Score(run_id=run.id, metric=metric, subset="all", value=value)
                                 for metric in ("auroc", "average_precision")])
                session.flush()
                session.query(Submission).filter(Submission.id == submission.id).update(
                    {"updated_at": datetime.now(UTC)})

    def __exit__(self, *exc: object) -> None:
        self.resources.close()
        shutil.rmtree(self.work, ignore_errors=True)


def _burst(count: int, interval: float) -> None:
    """`count` submissions scored `interval` s apart, each asking for an analysis; a worker runs the queue."""
    with _phase() as (resources, phase_id, added):
        added(20)  # a phase under way
        settings = Settings.from_env()
        connection = redis_connection(settings)
        queue = Queue(settings.queue_name, connection=connection)
        requests_made = 0
        done = threading.Event()

        def score_burst() -> None:
            nonlocal requests_made
            for _ in range(count):
                added(1)
                enqueue_analysis(settings, phase_id, connection)  # what the worker does after scoring
                requests_made += 1
                time.sleep(interval)
            done.set()

        producer = threading.Thread(target=score_burst)
        started = time.perf_counter()
        producer.start()
        worker = SimpleWorker([queue], connection=connection)  # jobs in this process, one at a time
        while not done.is_set() or queue.count:
            worker.work(burst=True, logging_level="WARNING")
            time.sleep(0.02)
        producer.join()
        elapsed = time.perf_counter() - started
        with resources.session() as session:
            analyses = session.scalar(select(func.count(PhaseAnalysis.id))
                                      .where(PhaseAnalysis.phase_id == phase_id)) or 0
            covered = session.scalars(select(PhaseAnalysis.submission_ids).where(PhaseAnalysis.phase_id == phase_id)
                                      .order_by(PhaseAnalysis.id.desc()).limit(1)).first() or []
        print(f"burst: {requests_made} submissions scored over {elapsed:.1f} s (from 20 to {20 + count} entries), "
              f"{requests_made} analysis requests -> {analyses} analyses run (coalesced "
              f"{requests_made / max(analyses, 1):.1f}:1); the last covers {len(covered)} entries")
        queue.delete(delete_jobs=True)
        connection.close()


if __name__ == "__main__":
    main()
