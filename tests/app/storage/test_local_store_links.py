"""The local store refuses a key that a symbolic link inside its folder leads outside it, whatever the operation,
and still serves keys whose links stay inside."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.storage.base import InvalidKey, ObjectNotFound
from app.storage.local import LocalStore

OPERATIONS: dict[str, Callable[[LocalStore, str], Any]] = {
    "get_bytes": lambda store, key: store.get_bytes(key),
    "open_read": lambda store, key: store.open_read(key).close(),
    "exists": lambda store, key: store.exists(key),
    "size": lambda store, key: store.size(key),
    "put_bytes": lambda store, key: store.put_bytes(key, b"overwritten"),
    "put_stream": lambda store, key: store.put_stream(key, io.BytesIO(b"overwritten")),
    "delete": lambda store, key: store.delete(key),
}


@pytest.fixture
def layout(tmp_path: Path) -> tuple[LocalStore, Path]:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"SECRET")
    (outside / "deep" / "secret.txt").write_bytes(b"SECRET")
    store = LocalStore(tmp_path / "storage")
    store.put_bytes("sets/v1/inputs/case-1.json", b"{}")
    (store.root / "sets" / "v1" / "escape").symlink_to(outside, target_is_directory=True)
    (store.root / "sets" / "v1" / "inputs" / "leak.json").symlink_to(outside / "secret.txt")
    (store.root / "top").symlink_to(outside, target_is_directory=True)
    return store, outside


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("key", ["sets/v1/escape/secret.txt", "sets/v1/escape/deep/secret.txt",
                                 "sets/v1/inputs/leak.json", "top/secret.txt", "top/new/file.txt",
                                 "sets/v1/escape/missing/file.txt"])
def test_a_link_out_of_the_folder_is_refused(layout: tuple[LocalStore, Path], operation: str, key: str) -> None:
    store, outside = layout
    with pytest.raises(InvalidKey, match="resolves outside"):
        OPERATIONS[operation](store, key)
    assert (outside / "secret.txt").read_bytes() == b"SECRET"
    assert (outside / "deep" / "secret.txt").read_bytes() == b"SECRET"
    assert not (outside / "new").exists() and not (outside / "missing").exists()


def test_links_that_stay_inside_and_plain_keys_still_work(layout: tuple[LocalStore, Path]) -> None:
    store, _ = layout
    (store.root / "alias").symlink_to(store.root / "sets", target_is_directory=True)
    assert store.get_bytes("alias/v1/inputs/case-1.json") == b"{}"
    assert store.get_bytes("sets/v1/inputs/case-1.json") == b"{}"
    store.put_bytes("fresh/a/b/c.bin", b"new")  # directories that do not exist yet
    assert store.get_bytes("fresh/a/b/c.bin") == b"new" and store.size("fresh/a/b/c.bin") == 3
    assert not store.exists("sets/v1/inputs/case-1.json/below")  # under a file: nothing there
    with pytest.raises(ObjectNotFound):
        store.get_bytes("sets/v1/inputs/case-1.json/below")
    store.delete("fresh/a/b/c.bin")
    assert not (store.root / "fresh").exists()


def test_a_folder_reached_through_a_link_is_its_real_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "linked")
    store = LocalStore(tmp_path / "linked")
    store.put_bytes("a/b.txt", b"x")
    assert store.root == (tmp_path / "real").resolve()
    assert (tmp_path / "real" / "a" / "b.txt").read_bytes() == b"x" and store.get_bytes("a/b.txt") == b"x"
