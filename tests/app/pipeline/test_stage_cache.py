"""Staged test sets on a worker's disk: reused without a download, capped in size, least recently used out first,
never removed while an attempt (in this or another worker process) uses them (app/pipeline/stage_cache.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pipeline import stage_cache
from app.pipeline.staging import stage_ground_truth, stage_inputs
from app.storage import StorageError
from app.storage.local import LocalStore

CASE_BYTES = 100_000


@pytest.fixture(autouse=True)
def _released() -> Iterator[None]:
    yield
    stage_cache.release_all()


def _test_set(store: LocalStore, name: str) -> str:
    """A stored test set of two cases, 100 kB of input each; its storage prefix (also its content hash here)."""
    for case in ("c1", "c2"):
        store.put_bytes(f"{name}/inputs/{case}/scan.bin", os.urandom(CASE_BYTES))
        store.put_bytes(f"{name}/ground_truth/{case}/label.json", b"1")
    return name


def _stage(store: LocalStore, name: str, cache: Path, max_bytes: int | None = None) -> Path:
    return stage_inputs(store, storage_prefix=name, content_hash=name, cases=[("c1", {}), ("c2", {})],
                        input_paths=["scan.bin"], cache_root=cache, max_bytes=max_bytes)


def test_a_second_submission_to_the_same_test_set_stages_nothing(tmp_path: Path) -> None:
    store, cache = LocalStore(tmp_path / "store"), tmp_path / "cache"
    first = _stage(store, _test_set(store, "set-a"), cache)
    store.delete_prefix("set-a/")  # any download now would fail
    stage_cache.release_all()
    with pytest.raises(StorageError):
        store.download_to("set-a/inputs/c1/scan.bin", tmp_path / "x")
    assert _stage(store, "set-a", cache) == first
    assert (first / "c1" / "scan.bin").stat().st_size == CASE_BYTES


def test_the_least_recently_used_staged_test_set_goes_when_a_new_one_passes_the_cap(tmp_path: Path) -> None:
    store, cache = LocalStore(tmp_path / "store"), tmp_path / "cache"
    budget = 5 * CASE_BYTES  # two test sets of 2 x 100 kB (and their cases.json) fit, three do not
    a = _stage(store, _test_set(store, "set-a"), cache, budget)
    time.sleep(0.02)
    b = _stage(store, _test_set(store, "set-b"), cache, budget)
    stage_cache.release_all()
    time.sleep(0.02)
    _stage(store, "set-a", cache, budget)  # used again: set-b is now the least recently used
    stage_cache.release_all()
    time.sleep(0.02)
    c = _stage(store, _test_set(store, "set-c"), cache, budget)
    assert a.exists() and c.exists() and not b.exists()
    assert sum(f.bytes for f in stage_cache.staged_folders(cache)) <= budget
    stage_cache.release_all()
    again = _stage(store, "set-b", cache, budget)  # evicted: staged again from storage on its next use
    assert (again / "c2" / "scan.bin").stat().st_size == CASE_BYTES


HOLDER = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_SH)
print("held", flush=True)
time.sleep(60)
"""


def test_a_staged_test_set_another_worker_uses_is_never_removed(tmp_path: Path) -> None:
    store, cache = LocalStore(tmp_path / "store"), tmp_path / "cache"
    truth = stage_ground_truth(store, storage_prefix=_test_set(store, "set-a"), content_hash="set-a",
                               case_ids=["c1", "c2"], truth_paths=["label.json"], cache_root=cache)
    inputs = _stage(store, "set-a", cache)
    stage_cache.release_all()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(inputs.parent / f"{inputs.name}.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        removed = stage_cache.evict(cache, max_bytes=0)
        assert removed == [truth]  # the unused ground truth goes; the inputs another process holds stay
        assert (inputs / "c1" / "scan.bin").exists()
    finally:
        holder.kill()
        holder.wait()
    assert stage_cache.evict(cache, max_bytes=0) == [inputs]
