"""The staged test sets on a worker's disk (app/pipeline/staging.py), capped in size, least recently used out first.

Each staged folder `<cache>/<kind>/<name>` (kind: inputs, per-case-inputs, ground-truth) has two files beside it:
`<name>.lock`, which every attempt using the folder holds a shared lock on until it ends (`hold`, `release_all`),
and `<name>.bytes`, its size, whose modification time is the folder's last use. After a new folder is staged,
`evict` removes the least recently used others until the total fits the budget; a folder another attempt holds is
never removed (its exclusive lock cannot be taken) and waits for a later pass. A second submission to the same test
set stages nothing: its folder is there, and using it only refreshes its last use.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

KINDS = ("inputs", "per-case-inputs", "ground-truth")
COMPLETE_MARKER = ".podium-complete"
_held: dict[Path, IO[str]] = {}  # staged folders this process uses, with their open (shared-locked) lock files


@dataclass(frozen=True)
class StagedFolder:
    path: Path
    bytes: int
    last_used: float


def hold(final: Path) -> None:
    """Take a shared lock on a staged folder (or one about to be staged) for the rest of this attempt. Waits only
    while an eviction of that very folder finishes; the caller checks afterwards whether the folder is complete."""
    if final in _held:
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    handle = open(final.parent / f"{final.name}.lock", "a")  # noqa: SIM115 - held open until release_all
    fcntl.flock(handle, fcntl.LOCK_SH)
    _held[final] = handle


def release_all() -> None:
    """The attempt is over: the folders it used may be evicted (a forked work horse also releases them by exiting)."""
    while _held:
        _, handle = _held.popitem()
        handle.close()


def used(final: Path) -> None:
    """Note a use of a complete staged folder (its size is measured once, when it is first noted)."""
    sidecar = final.parent / f"{final.name}.bytes"
    if not sidecar.exists():
        sidecar.write_text(str(_size(final)))
    os.utime(sidecar)


def staged_folders(cache_root: Path) -> list[StagedFolder]:
    """Complete staged folders, least recently used first."""
    found = []
    for kind in KINDS:
        parent = cache_root / kind
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            if folder.name.startswith(".") or not (folder / COMPLETE_MARKER).exists():
                continue
            sidecar = parent / f"{folder.name}.bytes"
            try:
                found.append(StagedFolder(folder, int(sidecar.read_text()), sidecar.stat().st_mtime))
            except (OSError, ValueError):  # staged before sizes were kept, or being written: measure it now
                used(folder)
                found.append(StagedFolder(folder, _size(folder), sidecar.stat().st_mtime))
    return sorted(found, key=lambda f: f.last_used)


def evict(cache_root: Path, max_bytes: int) -> list[Path]:
    """Remove least recently used staged folders, not in use by any attempt, until the rest fit in max_bytes."""
    folders = staged_folders(cache_root)
    total = sum(f.bytes for f in folders)
    removed: list[Path] = []
    for folder in folders:
        if total <= max_bytes:
            break
        if _remove_unless_held(folder.path):
            total -= folder.bytes
            removed.append(folder.path)
    if removed:
        log.info("stage cache: removed %d staged folder(s) least recently used; %.1f MiB kept", len(removed),
                 total / 1024**2)
    return removed


def _remove_unless_held(folder: Path) -> bool:
    with open(folder.parent / f"{folder.name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # an attempt (here or in another worker process) uses it
        try:
            doomed = folder.parent / f".evicting-{uuid.uuid4().hex}"
            os.rename(folder, doomed)
            (folder.parent / f"{folder.name}.bytes").unlink(missing_ok=True)
            shutil.rmtree(doomed, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return True


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total
