"""Server time of a big phase's leaderboard (page and JSON) against the bare SQL SELECT of the same rows.

    .venv/bin/python bench/bench_leaderboard.py [--submissions 2000] [--cases 100] [--participants N]
                                                [--databases sqlite,postgresql] [--requests 60]
                                                [--http-seconds 5] [--http-clients 4] [--profile]

The issue's size is `--submissions 10000 --cases 1000` (10 million case outcomes; a few minutes to write per
database). The phase is the breast-cancer example's `test` phase with a third metric (Brier score) and a test set
of `--cases` cases; `--participants` (default a tenth of the submissions) each submit the same number of times;
every submission succeeded, with a run, 3 scores and one outcome per case, written straight into the database
with bulk inserts (executemany for SQLite, COPY for PostgreSQL) into a fresh database of its own.

Measured per database, side by side in one run:
- server time (the app's WSGI call, the body included) of the leaderboard page and of its JSON, through Flask's
  test client in process, p50/p95 over `--requests` requests each (alternating), after one warm-up request;
- the baseline: the leaderboard's own SELECT (its joins and filters) as bare SQL, its rows fetched, same count;
- requests per second over loopback HTTP against `podium web` (waitress, the server the CLI starts; a process of
  its own) from `--http-clients` client threads for `--http-seconds` each, page and JSON.
`--profile` prints the top functions (cProfile, cumulative) of one uncached page and one uncached JSON request.
Aim (issue 13): p95 under 50 ms. With the leaderboard cache (app/queries/leaderboard_cache.py) the first request
after a change rebuilds the board: its time is printed as "uncached".
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import requests  # noqa: E402
from _web import Timed, start_web  # noqa: E402 - bench/_web.py, beside this script
from sqlalchemy import insert, select, update  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.models import Case, EvaluationRun, Phase, Score, Submission, SubmissionState, TestSet, User  # noqa: E402
from app.queries.leaderboard_cache import forget_all, results_fingerprint  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402

CHALLENGE = REPO / "challenges" / "breast-cancer-wisconsin"
SLUG, PHASE = "breast-cancer-wisconsin", "test"
METRICS = ("auroc", "average_precision", "brier_score")
ADMIN_URL = os.environ.get("PODIUM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BARE_SELECT = """
SELECT s.id, u.username, t.name, r.id, r.container_seconds, sc.metric, sc.value, sc.ci_low, sc.ci_high
FROM submissions s JOIN users u ON u.id = s.user_id LEFT JOIN teams t ON t.id = s.team_id
JOIN evaluation_runs r ON r.submission_id = s.id AND r.test_set_id = :test_set
JOIN scores sc ON sc.run_id = r.id
WHERE s.phase_id = :phase AND s.state = 'succeeded' AND s.hidden_at IS NULL AND sc.subset = 'all'
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--participants", type=int, default=None)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--http-clients", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    participants = args.participants or max(1, args.submissions // 10)
    print(f"phase: {args.submissions} submissions from {participants} participants x {args.cases} cases x "
          f"{len(METRICS)} metrics ({args.submissions * args.cases:,} case outcomes)")
    for database in args.databases.split(","):
        work = Path(tempfile.mkdtemp(prefix="podium-bench-board-"))
        url, drop = _database(database, work)
        try:
            _bench_one(database, url, work, args, participants)
        finally:
            drop()
            shutil.rmtree(work, ignore_errors=True)


def _database(kind: str, work: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{work / 'podium.db'}", lambda: None
    name = f"podium_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


def _bench_one(database: str, url: str, work: Path, args: argparse.Namespace, participants: int) -> None:
    env = {"PODIUM_DATA_DIR": str(work / "data"), "PODIUM_DATABASE_URL": url,
           "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}", "PODIUM_SECRET_KEY": "bench"}
    os.environ.update(env)
    settings = Settings.from_env()
    upgrade(settings.database_url)
    resources = Resources(settings)
    started = time.perf_counter()
    phase_id, test_set_id = _fill(resources, args.submissions, args.cases, participants)
    print(f"\n== {database}: written in {time.perf_counter() - started:.0f} s")

    app = create_app(settings)
    timer = Timed(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    client = app.test_client()
    page = f"/challenges/{SLUG}/{PHASE}/leaderboard"
    api = f"/api/v1/challenges/{SLUG}/phases/{PHASE}/leaderboard"
    uncached = {}
    for name, path in (("page", page), ("JSON", api)):
        forget_all()  # a cold build, as the first request after any change to the phase's results
        uncached[name] = _one(client, timer, path)
    rows = len(client.get(api).get_json()["rows"])
    times: dict[str, list[float]] = {"page": [], "JSON": [], "bare SELECT": [], "cache key": []}
    engine = resources.engine
    bare_sql = BARE_SELECT.replace(":test_set", str(test_set_id)).replace(":phase", str(phase_id))
    with engine.connect() as connection:
        for _ in range(args.requests):
            times["page"].append(_one(client, timer, page))
            times["JSON"].append(_one(client, timer, api))
            sent = time.perf_counter()
            found = connection.exec_driver_sql(bare_sql).fetchall()
            times["bare SELECT"].append(time.perf_counter() - sent)
            with resources.session() as session:
                phase = session.get(Phase, phase_id)
                assert phase is not None
                sent = time.perf_counter()
                results_fingerprint(session, phase)
                times["cache key"].append(time.perf_counter() - sent)
    print(f"leaderboard: {rows} rows; the bare SELECT returns {len(found):,} rows")
    print(f"uncached (a cold build, as after any change to the results): page {uncached['page'] * 1000:.0f} ms, "
          f"JSON {uncached['JSON'] * 1000:.0f} ms")
    bare = statistics.median(times["bare SELECT"])
    for name, values in times.items():
        print(f"{name:12s} p50 {_p(values, 0.5):8.1f} ms  p95 {_p(values, 0.95):8.1f} ms  "
              f"ratio p50 / bare SELECT {statistics.median(values) / bare:6.1f}x  "
              f"{_verdict(values) if name in ('page', 'JSON') else ''}")
    if args.profile:
        _profile(app, client, timer, resources, phase_id, (page, api))
    if args.http_seconds > 0:
        _http(settings, env, work, (page, api), args.http_seconds, args.http_clients)
    resources.close()


def _fill(resources: Resources, submissions: int, cases: int, participants: int) -> tuple[int, int]:
    """The example challenge applied, then a big phase written with bulk inserts. Returns (phase id, test set id)."""
    with resources.session() as session:
        apply_challenge(session, resources.store, CHALLENGE)
    rng = random.Random(13)
    now = datetime.now(UTC)
    with resources.session() as session:
        phase = session.scalars(select(Phase).where(Phase.slug == PHASE)).one()
        phase.metrics = [*phase.metrics, {"name": "brier_score", "prediction": "malignancy-likelihood",
                                          "target": "malignant"}]
        test_set = TestSet(phase_id=phase.id, version=99, content_hash="bench" * 8, storage_prefix="bench/",
                           case_count=cases)
        session.add(test_set)
        session.flush()
        session.execute(insert(Case), [{"test_set_id": test_set.id, "case_key": f"case-{i:05d}", "meta": {},
                                        "inputs": {}} for i in range(cases)])
        phase.current_test_set_id = test_set.id
        phase_id, test_set_id = phase.id, test_set.id
        case_ids = list(session.scalars(select(Case.id).where(Case.test_set_id == test_set_id).order_by(Case.id)))
        first_user = (session.scalar(select(User.id).order_by(User.id.desc())) or 0) + 1
        session.execute(insert(User), [{"id": first_user + i, "username": f"bench-{i:05d}", "display_name": ""}
                                       for i in range(participants)])
        first_submission = (session.scalar(select(Submission.id).order_by(Submission.id.desc())) or 0) + 1
        first_run = (session.scalar(select(EvaluationRun.id).order_by(EvaluationRun.id.desc())) or 0) + 1
        session.execute(insert(Submission), [
            {"id": first_submission + i, "phase_id": phase_id, "user_id": first_user + i % participants,
             "state": SubmissionState.SUCCEEDED, "comment": f"bench {i}",
             "created_at": now - timedelta(minutes=submissions - i),
             "updated_at": now, "finished_at": now} for i in range(submissions)])
        session.execute(insert(EvaluationRun), [
            {"id": first_run + i, "submission_id": first_submission + i, "test_set_id": test_set_id,
             "started_at": now, "finished_at": now, "exit_code": 0, "container_seconds": 1.0 + rng.random(),
             "cpu_seconds": 1.0, "peak_memory_mb": 100.0, "cases_valid": cases, "cases_invalid": 0, "notes": [],
             "participant_notes": []} for i in range(submissions)])
        scores = []
        for i in range(submissions):
            skill = rng.random()
            for metric in METRICS:
                value = 1 - skill / 2 if metric == "brier_score" else 0.5 + skill / 2
                scores.append({"run_id": first_run + i, "metric": metric, "subset": "all", "value": value,
                               "ci_low": value - 0.05, "ci_high": value + 0.05, "detail": ""})
        session.execute(insert(Score), scores)
    _bulk_outcomes(resources, range(first_run, first_run + submissions), case_ids)
    return phase_id, test_set_id


def _bulk_outcomes(resources: Resources, run_ids: range, case_ids: list[int]) -> None:
    """One outcome per run and case, in chunks: executemany on SQLite, COPY on PostgreSQL."""
    prediction = json.dumps({"malignancy-likelihood": 0.5})
    values = json.dumps({"auroc": None})
    raw = resources.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if resources.engine.dialect.name == "sqlite":
            sql = ("INSERT INTO case_outcomes (run_id, case_id, status, message, prediction, \"values\") "
                   "VALUES (?, ?, 'valid', '', ?, ?)")
            for run_id in run_ids:
                cursor.executemany(sql, [(run_id, case_id, prediction, values) for case_id in case_ids])
        else:
            copy_sql = ("COPY case_outcomes (run_id, case_id, status, message, prediction, \"values\") "
                        "FROM STDIN")
            with cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
                for run_id in run_ids:
                    for case_id in case_ids:
                        copy.write_row((run_id, case_id, "valid", "", prediction, values))
        raw.commit()
        if resources.engine.dialect.name != "sqlite":
            cursor.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()


def _one(client: Any, timer: Timed, path: str) -> float:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return timer.last


def _verdict(values: list[float]) -> str:
    return f"(aim p95 < 50 ms: {'met' if _p(values, 0.95) < 50 else 'MISSED'})"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def _profile(app: Any, client: Any, timer: Timed, resources: Resources, phase_id: int,
             paths: tuple[str, ...]) -> None:
    """One request per path from the cache, then one after a change to the phase (the board rebuilt), under
    cProfile."""
    for path in paths:
        timer.profiler = cProfile.Profile()
        _one(client, timer, path)
        profiler, timer.profiler = timer.profiler, None
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        print(f"-- profile of {path}, cached ({timer.last * 1000:.0f} ms; by own time)")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    for path in paths:
        with resources.session() as session:  # a change every leaderboard must see: a new comment
            session.execute(update(Submission).where(Submission.phase_id == phase_id,
                                                     Submission.id == select(Submission.id).where(
                                                         Submission.phase_id == phase_id).limit(1)
                                                     .scalar_subquery()).values(comment="profiled"))
        timer.profiler = cProfile.Profile()
        _one(client, timer, path)
        profiler, timer.profiler = timer.profiler, None
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
        print(f"-- profile of {path} ({timer.last * 1000:.0f} ms)")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


def _http(settings: Settings, env: dict[str, str], work: Path, paths: tuple[str, ...], seconds: float,
          clients: int) -> None:
    """`podium web` (waitress) in a process of its own; `clients` threads request one path as fast as they can."""
    server, base = start_web(env, work)
    try:
        for path in paths:
            requests.get(base + path, timeout=120).raise_for_status()  # built once; the load reads the cache
            done: list[float] = []
            stop = time.monotonic() + seconds

            def hammer(path: str = path, done: list[float] = done, stop: float = stop) -> None:
                with requests.Session() as http:
                    while time.monotonic() < stop:
                        sent = time.perf_counter()
                        response = http.get(base + path, timeout=60)
                        response.raise_for_status()
                        done.append(time.perf_counter() - sent)

            threads = [threading.Thread(target=hammer) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            print(f"HTTP {path}: {len(done) / elapsed:.1f} requests/s from {clients} clients over {elapsed:.1f} s "
                  f"(round trip p50 {_p(done, 0.5):.0f} ms, p95 {_p(done, 0.95):.0f} ms; waitress, 8 threads)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
