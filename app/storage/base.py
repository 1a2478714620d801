"""The artifact store interface shared by every backend, and key validation."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable


class StorageError(Exception):
    """The store failed (unreachable, refused, full); the message says which store and what failed."""


class ObjectNotFound(StorageError):
    pass


class InvalidKey(StorageError):
    pass


@runtime_checkable
class ArtifactStore(Protocol):
    def put_stream(self, key: str, stream: BinaryIO) -> int: ...
    def put_file(self, key: str, path: Path) -> int: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]: ...
    def get_bytes(self, key: str) -> bytes: ...
    def download_to(self, key: str, path: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def describe(self) -> str: ...


def check_key(key: str) -> str:
    """Keys are '/'-separated relative paths with no empty, '.' or '..' segments."""
    if not key or key.startswith("/") or "\\" in key or "\0" in key:
        raise InvalidKey(f"invalid storage key {key!r}: use a relative '/'-separated path")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(f"invalid storage key {key!r}: empty, '.' and '..' segments are not allowed")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string that may end with '/'."""
    if prefix:
        check_key(prefix.rstrip("/") or "x")
    return prefix
