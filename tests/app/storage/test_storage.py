"""Both storage backends, the same behaviour: local directory and S3 on a real SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import pytest

from app.storage import ArtifactStore, InvalidKey, ObjectNotFound, StorageError
from app.storage.factory import open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path: Path) -> ArtifactStore:  # type: ignore[no-untyped-def]
    if request.param == "local":
        return open_store(f"file://{tmp_path / 'store'}")
    endpoint = request.getfixturevalue("seaweedfs_endpoint")
    return open_store(request.getfixturevalue("s3_bucket_url") + "/some/prefix", s3_endpoint_url=endpoint)


class PatternStream:
    """A readable stream of `size` pseudo-random bytes that never holds more than one chunk."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        n = min(n, len(self.block))
        self.remaining -= n
        return self.block[:n]


def test_round_trips(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("a/b/c.json", b"0.5")
    assert store.get_bytes("a/b/c.json") == b"0.5"
    source = tmp_path / "file.bin"
    source.write_bytes(b"x" * 1000)
    assert store.put_file("a/file.bin", source) == 1000
    assert store.put_stream("a/stream.bin", io.BytesIO(b"yz")) == 2
    with store.open_read("a/stream.bin") as handle:
        assert handle.read(1) == b"y" and handle.read() == b"z"
    store.download_to("a/file.bin", tmp_path / "out" / "copy.bin")
    assert (tmp_path / "out" / "copy.bin").read_bytes() == b"x" * 1000
    assert store.size("a/file.bin") == 1000
    assert store.exists("a/b/c.json") and not store.exists("a/b/nope.json")


def test_listing_and_deleting(store: ArtifactStore) -> None:
    for key in ("s/1/out.json", "s/1/logs/stderr.txt", "s/10/out.json", "t/x"):
        store.put_bytes(key, b"1")
    assert store.list("s/1/") == ["s/1/logs/stderr.txt", "s/1/out.json"]
    assert store.list("s/1") == ["s/1/logs/stderr.txt", "s/1/out.json", "s/10/out.json"]
    assert store.list("nothing/") == []
    assert store.delete_prefix("s/") == 3
    assert store.list("") == ["t/x"]
    store.delete("t/x")
    store.delete("t/x")  # deleting what is gone is not an error
    assert store.list("") == []


def test_missing_objects_are_named(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="no object 'missing/key'"):
        store.get_bytes("missing/key")
    with pytest.raises(ObjectNotFound):
        store.size("missing/key")
    with pytest.raises(ObjectNotFound):
        store.download_to("missing/key", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a\\b", "a/./b", "", "a/.."])
def test_unsafe_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(StorageError, match="known schemes: file, s3"):
        open_store("ftp://host/x")


def test_large_uploads_stream_with_constant_memory(store: ArtifactStore) -> None:
    size = 200 * 1024 * 1024
    expected = hashlib.sha256()
    source = PatternStream(size)
    while chunk := source.read(1 << 20):
        expected.update(chunk)
    tracemalloc.start()
    try:
        assert store.put_stream("big/blob.bin", PatternStream(size)) == size
        digest = hashlib.sha256()
        with store.open_read("big/blob.bin") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == expected.hexdigest()
    assert peak < 96 * 1024 * 1024, f"peak traced memory {peak / 1024**2:.0f} MiB"
