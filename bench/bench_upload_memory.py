"""Peak memory of the web process while a big image archive is uploaded through the API and stored in S3.

    .venv/bin/python bench/bench_upload_memory.py [--gib 0.5] [--layers 8]

The issue's size is `--gib 2` (about 6 GiB of disk while it runs: the archive, the spooled upload, S3).

A generated `docker save` archive (legacy layout, plain tar) of `--layers` layers of random bytes, `--gib` GiB in
all, with a config whose diff_ids are the layers' real hashes, so it passes every upload check
(runners/image_archive.py: one streaming pass, each layer hashed against its diff_id). Storage is a SeaweedFS
server with its S3 gateway on loopback, started the way the tests start theirs (tests/fixtures/seaweedfs.py),
and the site is `podium web` (waitress) in a process of its own, with PODIUM_STORAGE_URL=s3://... The archive is
POSTed to the phase's submissions endpoint over loopback HTTP, streamed from disk.

Printed: the web process's resident memory before the upload (after a warm-up request) and its peak during it
(VmHWM from /proc, the kernel's high-water mark; sampled VmRSS beside it), the upload's wall time, and as the
baseline the same file put into the same bucket with boto3 directly (time side by side). Aim (issue 13): peak
under 150 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from _web import start_web  # noqa: E402 - bench/_web.py, beside this script
from sqlalchemy import select  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.models import Phase, Submission  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.usecases.apply_challenge import apply_challenge  # noqa: E402
from app.usecases.users import create_user  # noqa: E402
from tests.fixtures.seaweedfs import s3_client, start_seaweedfs  # noqa: E402

CHALLENGE = REPO / "challenges" / "breast-cancer-wisconsin"
MiB = 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=0.5)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podium-bench-upload-"))
    weed = start_seaweedfs(work / "seaweedfs")
    try:
        _bench(args, work, weed.endpoint)
    finally:
        weed.stop()
        shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path, endpoint: str) -> None:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    env = {"PODIUM_DATA_DIR": str(work / "data"), "PODIUM_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
           "PODIUM_SECRET_KEY": "bench", "PODIUM_STORAGE_URL": f"s3://{bucket}", "PODIUM_S3_ENDPOINT_URL": endpoint}
    os.environ.update(env)
    settings = Settings.from_env()
    upgrade(settings.database_url)
    resources = Resources(settings)
    with resources.session() as session:
        apply_challenge(session, resources.store, CHALLENGE)
        phase = session.scalars(select(Phase).where(Phase.slug == "test")).one()
        phase.max_upload_mb = int(args.gib * 1024) + 64
        _, token = create_user(session, "bench", display_name="bench")
    started = time.perf_counter()
    small = _archive(work, 8 * MiB, 1, "small.tar")
    archive = _archive(work, int(args.gib * 1024**3), args.layers, "big.tar")
    size = archive.stat().st_size
    print(f"archive: {size / 1024**3:.2f} GiB, {args.layers} layers of random bytes, generated in "
          f"{time.perf_counter() - started:.0f} s")

    server, base = start_web(env, work)
    try:
        at_start = _status(server.pid)
        requests.get(f"{base}/challenges/breast-cancer-wisconsin/test/leaderboard", timeout=60).raise_for_status()
        after_page = _status(server.pid)
        with small.open("rb") as body:  # warm-up: the first upload imports the S3 client and the archive checks
            requests.post(f"{base}/api/v1/challenges/breast-cancer-wisconsin/phases/test/submissions", data=body,
                          timeout=600, headers={"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/octet-stream",
                                                "Content-Length": str(small.stat().st_size)}).raise_for_status()
        before = _status(server.pid)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(_status(server.pid)["VmRSS"])
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        with archive.open("rb") as body:
            response = requests.post(f"{base}/api/v1/challenges/breast-cancer-wisconsin/phases/test/submissions",
                                     data=body, timeout=3600,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/octet-stream",
                                              "Content-Length": str(size)})
        upload = time.perf_counter() - started
        done.set()
        sampler.join()
        after = _status(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    body_json = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    with resources.session() as session:
        state = session.scalar(select(Submission.state).order_by(Submission.id.desc()).limit(1))
    print(f"upload through the API: HTTP {response.status_code}, submission {body_json.get('id')} {state}, "
          f"{upload:.1f} s ({size / MiB / upload:.0f} MiB/s: spool to disk, check every layer, store in S3)")
    peak = after["VmHWM"]
    print(f"web process memory: {at_start['VmRSS'] / 1024:.0f} MB resident once started, "
          f"{after_page['VmRSS'] / 1024:.0f} MB after a leaderboard page, {before['VmRSS'] / 1024:.0f} MB after an "
          f"8 MiB upload (peak so far {before['VmHWM'] / 1024:.0f} MB)")
    print(f"  the big upload: peak {after['VmHWM'] / 1024:.0f} MB, {(after['VmHWM'] - before['VmHWM']) / 1024:+.0f} MB "
          f"over the peak before it")
    print(f"web process memory: {before['VmRSS'] / 1024:.0f} MB resident before (peak so far "
          f"{before['VmHWM'] / 1024:.0f} MB); peak during the upload {peak / 1024:.0f} MB (VmHWM; sampled VmRSS max "
          f"{max(samples, default=0) / 1024:.0f} MB); ratio peak / before {peak / before['VmRSS']:.2f}x; "
          f"aim < 150 MB: {'met' if peak / 1024 < 150 else 'MISSED'}")

    client = s3_client(endpoint)
    started = time.perf_counter()
    with archive.open("rb") as body:
        client.upload_fileobj(body, bucket, "bench/bare-put")
    bare = time.perf_counter() - started
    print(f"baseline: the same file put into the same bucket with boto3: {bare:.1f} s; ratio upload / bare put "
          f"{upload / bare:.1f}x")
    resources.close()


def _archive(work: Path, total: int, layers: int, name: str) -> Path:
    """A `docker save` archive (legacy layout) of `layers` layers of random bytes, `total` bytes of data."""
    layer_dir = work / f"layers-{name}"
    layer_dir.mkdir()
    diff_ids, names = [], []
    for n in range(layers):
        path = layer_dir / f"layer-{n}.tar"
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as layer:
            blob = layer_dir / "blob"
            with blob.open("wb") as out:
                left = total // layers
                while left > 0:
                    chunk = os.urandom(min(left, 16 * MiB))
                    out.write(chunk)
                    left -= len(chunk)
            info = layer.gettarinfo(str(blob), arcname=f"data/blob-{n}")
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
            with blob.open("rb") as handle:
                layer.addfile(info, handle)
            blob.unlink()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(16 * MiB):
                digest.update(chunk)
        diff_ids.append(f"sha256:{digest.hexdigest()}")
        names.append(path)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/true"], "User": "65534:65534"},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}).encode()
    config_id = hashlib.sha256(config).hexdigest()
    layer_ids = [hashlib.sha256(d.encode()).hexdigest() for d in diff_ids]
    manifest = json.dumps([{"Config": f"{config_id}.json", "RepoTags": ["podium-bench/big:latest"],
                            "Layers": [f"{i}/layer.tar" for i in layer_ids]}]).encode()
    archive = work / name
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in (("manifest.json", manifest), (f"{config_id}.json", config),
                           ("repositories", json.dumps({"podium-bench/big": {"latest": layer_ids[-1]}}).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            out.addfile(info, io.BytesIO(data))
        for layer_id, path in zip(layer_ids, names, strict=True):
            folder = tarfile.TarInfo(layer_id)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            out.addfile(folder)
            out.add(str(path), arcname=f"{layer_id}/layer.tar")
            path.unlink()
    return archive


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


if __name__ == "__main__":
    main()
