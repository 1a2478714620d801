"""Upload-to-score time of one submission through Podium against a bare `docker run` of the same image.

    .venv/bin/python bench/bench_submission_overhead.py [--repeats 3]

Podium's path: API upload (streamed, validated, stored) -> RQ -> worker: stage inputs, docker load,
sandboxed run, collect and store outputs, score with bootstrap CIs. The baseline is the same image
already loaded, run once with `docker run --rm --network none` on the same /input. Both on this machine,
side by side in one run; the ratio is what Podium's safety and bookkeeping cost per submission.
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

from app import create_app  # noqa: E402
from app.cli.baselines import build_baselines  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.tasks.worker import run_worker  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402
from app.usecases.users import create_user  # noqa: E402
from runners.docker_runner import DockerRunner  # noqa: E402

CHALLENGE = REPO / "challenges" / "breast-cancer-wisconsin"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    env = {"PODIUM_DATA_DIR": str(work / "data"), "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"}
    os.environ.update(env)
    settings = Settings.from_env()
    upgrade(settings.database_url)
    resources = Resources(settings)
    with resources.session() as session:
        apply_challenge(session, resources.store, CHALLENGE)
        _, token = create_user(session, "bench", display_name="bench")
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    archive = build_baselines(CHALLENGE, work / "baselines", runner)[0]
    client = create_app(settings).test_client()

    def submit_and_score() -> dict:
        """One submission through the API and a worker; the times go into the lists below, the run is returned."""
        started = time.perf_counter()
        with archive.archive.open("rb") as body:
            response = client.post("/api/v1/challenges/breast-cancer-wisconsin/phases/test/submissions",
                                   input_stream=body, headers={
                                       "Authorization": f"Bearer {token}",
                                       "Content-Type": "application/octet-stream",
                                       "Content-Length": str(archive.archive.stat().st_size)})
        submission_id = response.get_json()["id"]
        uploaded = time.perf_counter()
        run_worker(settings, burst=True, reconcile=False)  # the run, then the phase's analysis
        finished = time.perf_counter()
        result = client.get(f"/api/v1/submissions/{submission_id}",
                            headers={"Authorization": f"Bearer {token}"}).get_json()
        assert result["state"] == "succeeded", result
        return {"total": finished - started, "upload": uploaded - started, "worker": finished - uploaded,
                "container": result["run"]["container_seconds"], "load": result["run"]["image_load_seconds"]}

    known = [submit_and_score() for _ in range(args.repeats)]
    podium_times = [r["total"] for r in known]
    container_times = [r["container"] for r in known]
    upload_times = [r["upload"] for r in known]
    worker_times = [r["worker"] for r in known]

    input_dir = next((settings.worker_cache_dir / "inputs").iterdir())
    bare_times = []
    for _ in range(max(args.repeats, 3)):
        out = Path(tempfile.mkdtemp(prefix="bare-out-"))
        os.chmod(out, 0o777)
        started = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{input_dir}:/input:ro",
                        "-v", f"{out}:/output", archive.tag], check=True, capture_output=True)
        bare_times.append(time.perf_counter() - started)
        subprocess.run(["rm", "-rf", str(out)], check=True)

    # A new image: the engine does not hold it, so the worker downloads the archive and runs `docker load`. Against
    # the same by hand: `docker load` of the archive, then the bare `docker run`.
    image_id = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", archive.tag], check=True,
                              capture_output=True, text=True).stdout.strip()
    fresh, by_hand = [], []
    for _ in range(args.repeats):
        subprocess.run(["docker", "rmi", "--force", image_id], check=True, capture_output=True)
        fresh.append(submit_and_score())  # the worker loads it (and keeps it in its image cache)
        subprocess.run(["docker", "rmi", "--force", image_id], check=True, capture_output=True)
        out = Path(tempfile.mkdtemp(prefix="bare-out-"))
        os.chmod(out, 0o777)
        started = time.perf_counter()
        subprocess.run(["docker", "load", "-i", str(archive.archive)], check=True, capture_output=True)
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{input_dir}:/input:ro",
                        "-v", f"{out}:/output", archive.tag], check=True, capture_output=True)
        by_hand.append(time.perf_counter() - started)
        subprocess.run(["rm", "-rf", str(out)], check=True)

    podium, bare = statistics.median(podium_times), statistics.median(bare_times)
    print(f"image archive: {archive.archive.stat().st_size / 1024**2:.1f} MiB, 228 cases")
    print(f"podium upload -> scored (median of {args.repeats}): {podium:.2f} s "
          f"(container itself {statistics.median(container_times):.2f} s)")
    print(f"  where it went (medians): upload, check and store {statistics.median(upload_times):.2f} s; worker "
          f"(start, stage, run, collect, score, then the phase's analysis) {statistics.median(worker_times):.2f} s, "
          f"of which the container {statistics.median(container_times):.2f} s")
    print("  (the image is on this engine already: built here, so the worker labels it instead of a docker load)")
    print(f"bare docker run of the loaded image (median of {len(bare_times)}): {bare:.2f} s")
    print(f"ratio podium / bare docker run: {podium / bare:.1f}x (aim: at most bare + 0.5 s = {bare + 0.5:.2f} s)")
    new, manual = statistics.median(r["total"] for r in fresh), statistics.median(by_hand)
    load = statistics.median(r["load"] for r in fresh)
    uploads, containers = (statistics.median(r[k] for r in fresh) for k in ("upload", "container"))
    print(f"new image: podium upload -> scored (median of {args.repeats}): {new:.2f} s, of which image download + "
          f"docker load {load:.2f} s, upload {uploads:.2f} s, container {containers:.2f} s")
    print(f"new image by hand: docker load + docker run --network none (median of {len(by_hand)}): {manual:.2f} s")
    print(f"ratio podium / (docker load + docker run): {new / manual:.2f}x (aim: at most 1.3x)")
    resources.close()


if __name__ == "__main__":
    main()
