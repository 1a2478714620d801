"""Batch mode against per-case mode on the same phase: upload to scored, and where per-case time goes.

    .venv/bin/python bench/bench_run_modes.py [--cases 200] [--parallel 1]

The issue's size is `--cases 1000`. One challenge (written to a temporary folder) with two phases on the same
generated test set of `--cases` cases (the breast-cancer example's interfaces: a JSON object in, a number out,
AUROC): `batch` (run_mode batch) and `per-case` (run_mode per-case, `--parallel` runs at once). One image serves
both: it reads /input/cases.json when there is one (batch) and /input/inputs.json otherwise (grand-challenge's
per-case layout), and writes a number per case. The same archive is uploaded through the API to each phase and a
burst worker runs it; the time is upload to scored (the phase's analysis included, as a participant waits for it),
printed with the container time: the batch run's one container, the per-case runs' sum, median and p95 per case
(CaseOutcome.wall_seconds). The baseline for "container start per case" is a bare `docker run --rm --network none`
of the same image on one case, median of 5. Aim (issue 13): batch at least 20x faster at 1,000 cases.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.models import CaseOutcome, EvaluationRun, Submission  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.tasks.worker import run_worker  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402
from app.usecases.users import create_user  # noqa: E402
from runners.docker_runner import DockerRunner  # noqa: E402
from runners.images import build_image, save_image  # noqa: E402

SLUG = "bench-run-modes"
PREDICT = """import json, os, sys
def likelihood(features):
    return min(1.0, max(0.0, features["x"]))
if os.path.exists("/input/cases.json"):
    for case in json.load(open("/input/cases.json")):
        os.makedirs(f"/output/{case['case_id']}", exist_ok=True)
        with open(f"/output/{case['case_id']}/likelihood.json", "w") as out:
            json.dump(likelihood(case["inputs"]["features"]), out)
else:
    values = {item["socket"]["slug"]: item["value"] for item in json.load(open("/input/inputs.json"))}
    with open("/output/likelihood.json", "w") as out:
        json.dump(likelihood(values["features"]), out)
"""
PHASE = """  - slug: {slug}
    title: {slug}
    submission_kind: container
    run_mode: {mode}
    test_set: data/test
    limits: {{time_limit_seconds: 3600, memory_mb: 256, cpus: 1.0, submissions_per_day: 50,
             cases_in_parallel: {parallel}}}
    inputs:
      - {{slug: features, kind: json, relative_path: features.json, json_type: object}}
    outputs:
      - {{slug: likelihood, kind: json, relative_path: likelihood.json, json_type: number, minimum: 0, maximum: 1}}
    ground_truth:
      - {{slug: label, kind: json, relative_path: label.json, json_type: integer, minimum: 0, maximum: 1}}
    metrics:
      - {{name: auroc, prediction: likelihood, target: label}}
    ranking: {{metric: auroc, order: descending}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podium-bench-modes-"))
    os.environ.update({"PODIUM_DATA_DIR": str(work / "data"), "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                       "PODIUM_SECRET_KEY": "bench"})
    settings = Settings.from_env()
    upgrade(settings.database_url)
    resources = Resources(settings)
    challenge = _challenge(work / "challenge", args.cases, args.parallel)
    with resources.session() as session:
        apply_challenge(session, resources.store, challenge)
        _, token = create_user(session, "bench", display_name="bench")
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    tag = f"podium-bench/run-modes:{uuid.uuid4().hex[:8]}"
    context = work / "image"
    context.mkdir()
    (context / "predict.py").write_text(PREDICT)
    (context / "Dockerfile").write_text('FROM podium/python-base:bookworm\nCOPY predict.py /opt/predict.py\n'
                                        'ENTRYPOINT ["python3", "/opt/predict.py"]\n')
    build_image(runner.client, context, tag)
    archive = work / "image.tar.gz"
    save_image(runner.client, tag, archive)
    client = create_app(settings).test_client()
    print(f"{args.cases} cases; image {archive.stat().st_size / 1024**2:.1f} MiB; per-case runs at once: "
          f"{args.parallel}; {os.cpu_count()} CPUs")

    times = {}
    for mode in ("batch", "per-case"):
        started = time.perf_counter()
        with archive.open("rb") as body:
            response = client.post(f"/api/v1/challenges/{SLUG}/phases/{mode}/submissions", input_stream=body,
                                   headers={"Authorization": f"Bearer {token}",
                                            "Content-Type": "application/octet-stream",
                                            "Content-Length": str(archive.stat().st_size)})
        assert response.status_code in (200, 201, 202), response.get_json()
        submission_id = response.get_json()["id"]
        uploaded = time.perf_counter() - started
        run_worker(settings, burst=True, reconcile=False)
        times[mode] = total = time.perf_counter() - started
        with resources.session() as session:
            state = session.scalar(select(Submission.state).where(Submission.id == submission_id))
            run = session.scalars(select(EvaluationRun).where(EvaluationRun.submission_id == submission_id)).one()
            walls = [w for w in session.scalars(select(CaseOutcome.wall_seconds)
                                                .where(CaseOutcome.run_id == run.id)) if w is not None]
        assert str(state) == "succeeded", state
        line = (f"{mode:8s}: upload to scored {total:7.1f} s ({total / args.cases * 1000:6.1f} ms per case); upload "
                f"{uploaded:.1f} s, container {run.container_seconds or 0:.1f} s, image load "
                f"{run.image_load_seconds or 0:.1f} s")
        if walls:
            ordered = sorted(walls)
            line += (f"; per case: {len(walls)} runs, sum {sum(walls):.1f} s, median {statistics.median(walls):.2f} s, "
                     f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s")
        print(line)

    case_dir = work / "bare-input"
    case_dir.mkdir()
    (case_dir / "inputs.json").write_text(json.dumps([{"socket": {"slug": "features"}, "value": {"x": 0.5}}]))
    bare = []
    for _ in range(5):
        out = Path(tempfile.mkdtemp(prefix="bare-out-"))
        os.chmod(out, 0o777)
        started = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{case_dir}:/input:ro",
                        "-v", f"{out}:/output", tag], check=True, capture_output=True)
        bare.append(time.perf_counter() - started)
        subprocess.run(["rm", "-rf", str(out)], check=True)
    start = statistics.median(bare)
    print(f"bare docker run of one case (median of 5): {start:.2f} s; x {args.cases} cases = "
          f"{start * args.cases / args.parallel:.0f} s at {args.parallel} at once: the floor of per-case mode")
    ratio = times["per-case"] / times["batch"]
    print(f"ratio per-case / batch: {ratio:.1f}x (aim: batch >= 20x faster at 1,000 cases"
          f"{': ' + ('met' if ratio >= 20 else 'MISSED') if args.cases >= 1000 else '; run --cases 1000'})")
    subprocess.run(["docker", "rmi", "-f", tag], check=False, capture_output=True)
    resources.close()


def _challenge(folder: Path, cases: int, parallel: int) -> Path:
    """A challenge with a batch and a per-case phase on one generated test set."""
    rng = random.Random(1)
    test = folder / "data" / "test"
    rows = ["case_id"]
    for n in range(cases):
        key = f"c{n:05d}"
        rows.append(key)
        label = n % 2
        (test / "inputs" / key).mkdir(parents=True)
        (test / "ground_truth" / key).mkdir(parents=True)
        (test / "inputs" / key / "features.json").write_text(json.dumps({"x": round(0.3 * label + 0.7 * rng.random(),
                                                                                     4)}))
        (test / "ground_truth" / key / "label.json").write_text(json.dumps(label))
    (test / "cases.csv").write_text("\n".join(rows) + "\n")
    phases = "".join(PHASE.format(slug=mode, mode=mode, parallel=parallel) for mode in ("batch", "per-case"))
    (folder / "challenge.yaml").write_text(f"version: 1\nslug: {SLUG}\ntitle: Bench run modes\nphases:\n{phases}")
    return folder


if __name__ == "__main__":
    main()
