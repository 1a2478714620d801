"""Throughput of 1 against 2 worker processes on the same batch of short submissions.

    .venv/bin/python bench/bench_workers.py [--submissions 10] [--workers 1,2] [--sqlite]

The issue's size is `--submissions 40` (about 15 minutes on a busy 2-core machine).

The breast-cancer example's `test` phase (228 cases, a baseline container that runs in well under a second),
its daily limit raised. For each worker count W: `--submissions` uploads of the same baseline archive through
the API (not timed), then W `podium worker --burst` processes are started at once and timed until the last one
exits (the queue empty: every submission run, scored, and the phase's coalesced analyses done). Every
submission must have succeeded. The ratio is time(1 worker) / time(W workers); the aim (issue 13) is >= 1.8x
for 2. The database is a fresh PostgreSQL database (`--sqlite`: the embedded SQLite file).

Where the time goes is printed per round: the median container time, image load, and the workers' total
seconds against the wall time (a worker process that waits for a CPU shows as wall time, not as work).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.cli.baselines import build_baselines  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.models import EvaluationRun, Phase, Submission  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402
from app.usecases.users import create_user  # noqa: E402
from runners.docker_runner import DockerRunner  # noqa: E402

CHALLENGE = REPO / "challenges" / "breast-cancer-wisconsin"
ADMIN_URL = os.environ.get("PODIUM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
UPLOAD = "/api/v1/challenges/breast-cancer-wisconsin/phases/test/submissions"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=10)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podium-bench-workers-"))
    env = {"PODIUM_DATA_DIR": str(work / "data"), "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
           "PODIUM_SECRET_KEY": "bench"}
    database = None
    if not args.sqlite:
        database = f"podium_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        env["PODIUM_DATABASE_URL"] = f"{ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    os.environ.update(env)
    try:
        _bench(args, env, work)
    finally:
        if database is not None:
            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _bench(args: argparse.Namespace, env: dict[str, str], work: Path) -> None:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    resources = Resources(settings)
    with resources.session() as session:
        apply_challenge(session, resources.store, CHALLENGE)
        phase = session.scalars(select(Phase).where(Phase.slug == "test")).one()
        phase.submissions_per_day = 10 * args.submissions
        _, token = create_user(session, "bench", display_name="bench")
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    archive = build_baselines(CHALLENGE, work / "baselines", runner)[0]
    client = create_app(settings).test_client()
    print(f"{args.submissions} submissions of {archive.archive.stat().st_size / 1024**2:.1f} MiB "
          f"({archive.tag}), 228 cases each; database: {'SQLite' if args.sqlite else 'PostgreSQL'}; "
          f"{os.cpu_count()} CPUs")
    walls: dict[int, float] = {}
    for workers in (int(w) for w in args.workers.split(",")):
        ids = []
        for _ in range(args.submissions):
            with archive.archive.open("rb") as body:
                response = client.post(UPLOAD, input_stream=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                    "Content-Length": str(archive.archive.stat().st_size)})
            assert response.status_code in (200, 201, 202), response.get_json()
            ids.append(response.get_json()["id"])
        started = time.perf_counter()
        cpu_before = os.times()
        processes = [subprocess.Popen([str(REPO / ".venv" / "bin" / "podium"), "worker", "--burst"],
                                      env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                      stderr=open(work / f"worker-{workers}-{n}.log", "w"))  # noqa: SIM115
                     for n in range(workers)]
        for process in processes:
            process.wait()
        walls[workers] = wall = time.perf_counter() - started
        cpu_after = os.times()
        children = (cpu_after.children_user + cpu_after.children_system
                    - cpu_before.children_user - cpu_before.children_system)
        with resources.session() as session:
            found = session.execute(select(Submission.state, EvaluationRun.container_seconds,
                                           EvaluationRun.image_load_seconds)
                                    .join(EvaluationRun, EvaluationRun.submission_id == Submission.id)
                                    .where(Submission.id.in_(ids))).all()
        states = [str(state) for state, _, _ in found]
        assert len(found) == len(ids) and set(states) == {"succeeded"}, (len(found), set(states))
        container = statistics.median(c for _, c, _ in found if c is not None)
        loads = [load for _, _, load in found if load is not None]
        print(f"{workers} worker(s): {wall:.1f} s for {len(ids)} submissions ({len(ids) / wall * 60:.1f} per minute; "
              f"{wall / len(ids):.2f} s each); container median {container:.2f} s, image load median "
              f"{statistics.median(loads) if loads else 0:.2f} s; the workers' CPU time {children:.1f} s "
              f"({children / wall:.2f} CPUs busy on average, the containers' own CPU not counted)")
    if 1 in walls:
        for workers, wall in walls.items():
            if workers != 1:
                ratio = walls[1] / wall
                print(f"ratio 1 worker / {workers} workers: {ratio:.2f}x (aim >= {0.9 * workers:.1f}x: "
                      f"{'met' if ratio >= 0.9 * workers else 'MISSED'})")
    resources.close()


if __name__ == "__main__":
    main()
