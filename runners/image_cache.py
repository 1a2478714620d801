"""Algorithm images kept on a worker's engine after their runs, keyed by their config digest, evicted by size and age.

A resubmission of the same image (or the next phase's run of it) then skips the download and `docker load`:
app/pipeline/run.py asks the engine whether it holds an image whose id is the upload's config digest, which
identifies the image layer for layer (runners/image_archive.py checks every layer against it at upload). Only such
verified images are kept.

Each kept image carries the tag ``podium-cache-<scope>:<digest hex>`` (the scope keeps installations sharing an
engine out of each other's caches) and an entry in a small JSON index in the worker's cache folder (size and last
use), shared by the worker processes of one machine under a file lock. Eviction drops the tag: the engine removes
the image once no other tag or container holds it; an image a running container still uses keeps its entry and goes
at a later eviction.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

log = logging.getLogger(__name__)

CACHE_REPOSITORY_PREFIX = "podium-cache-"
_ENGINE_ERRORS = (docker.errors.APIError, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                  ConnectionError)


@dataclass(frozen=True)
class CacheEntry:
    image_id: str
    bytes: int
    last_used: float


class ImageCache:
    """max_bytes: the kept images' total size (as the engine reports each image's size) above which the least
    recently used go; max_age_seconds: unused for longer than this, an image goes. max_bytes 0 keeps nothing."""

    def __init__(self, client: docker.DockerClient, folder: Path, *, scope: str, max_bytes: int,
                 max_age_seconds: float) -> None:
        self.client = client
        self.folder = folder
        self.repository = f"{CACHE_REPOSITORY_PREFIX}{scope}".lower()
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def keep(self, image_id: str) -> None:
        """Keep a verified image after its run (tag it, note its size), then evict what no longer fits."""
        if not self.enabled:
            return
        try:
            size = int(self.client.images.get(image_id).attrs.get("Size") or 0)
            self.client.api.tag(image_id, self.repository, _tag(image_id), force=True)
        except _ENGINE_ERRORS:
            log.warning("image cache: could not keep %s", image_id, exc_info=True)
            return
        with self._index() as index:
            index[image_id] = CacheEntry(image_id, size, time.time())
            self._evict(index)

    def touch(self, image_id: str) -> None:
        """A run reuses a kept image: it is the most recently used now."""
        if not self.enabled:
            return
        with self._index() as index:
            entry = index.get(image_id)
            if entry is not None:
                index[image_id] = CacheEntry(image_id, entry.bytes, time.time())

    def entries(self) -> list[CacheEntry]:
        with self._index() as index:
            return sorted(index.values(), key=lambda e: e.last_used)

    def evict(self) -> list[str]:
        with self._index() as index:
            return self._evict(index)

    def _evict(self, index: dict[str, CacheEntry]) -> list[str]:
        """Drop the images unused for too long, then the least recently used until the rest fit; returns their ids."""
        now = time.time()
        victims = [e for e in index.values() if now - e.last_used > self.max_age_seconds]
        rest = sorted((e for e in index.values() if e not in victims), key=lambda e: e.last_used)
        total = sum(e.bytes for e in rest)
        while rest and total > self.max_bytes:
            oldest = rest.pop(0)
            victims.append(oldest)
            total -= oldest.bytes
        evicted = []
        for entry in victims:
            if self._drop(entry.image_id):
                del index[entry.image_id]
                evicted.append(entry.image_id)
        if evicted:
            log.info("image cache: evicted %d image(s); %d kept", len(evicted), len(index))
        return evicted

    def _drop(self, image_id: str) -> bool:
        try:
            self.client.images.remove(f"{self.repository}:{_tag(image_id)}")
        except docker.errors.ImageNotFound:
            return True  # gone already (removed by hand): forget it
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # a container uses it and this was its last tag: try again later
                return False
            log.warning("image cache: could not evict %s: %s", image_id, exc)
            return False
        except _ENGINE_ERRORS:
            return False
        return True

    @contextmanager
    def _index(self) -> Iterator[dict[str, CacheEntry]]:
        """The index, read and written under an exclusive lock shared by this machine's worker processes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.repository}.json"
        with open(self.folder / f"{self.repository}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = _read(path)
                yield index
                _write(path, index)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _tag(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


def _read(path: Path) -> dict[str, CacheEntry]:
    try:
        raw = json.loads(path.read_text())
        return {key: CacheEntry(key, int(value["bytes"]), float(value["last_used"])) for key, value in raw.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("image cache: the index %s is unreadable; starting a new one", path)
        return {}


def _write(path: Path, index: dict[str, CacheEntry]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({key: {"bytes": e.bytes, "last_used": e.last_used} for key, e in index.items()}))
    os.replace(temporary, path)
