"""collect_outputs and read_output_bytes on a directory an untrusted container could have written."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from runners.outputs import collect_outputs, read_output_bytes


def _write(path: Path, data: bytes = b"0.5") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_regular_files_are_listed_with_relative_posix_paths(tmp_path: Path) -> None:
    _write(tmp_path / "c1" / "x.json", b"0.83")
    _write(tmp_path / "c2" / "deep" / "mask.mha", b"M" * 100)
    (tmp_path / "empty").mkdir()

    listing = collect_outputs(tmp_path, max_bytes=1000)

    assert listing.files == {"c1/x.json": tmp_path / "c1" / "x.json",
                             "c2/deep/mask.mha": tmp_path / "c2" / "deep" / "mask.mha"}
    assert listing.rejected == {}
    assert listing.total_bytes == 104
    assert not listing.over_limit


def test_links_special_and_setid_files_are_rejected_never_followed(tmp_path: Path) -> None:
    secret = _write(tmp_path.parent / f"{tmp_path.name}-host-secret", b"top secret")
    out = tmp_path / "out"
    _write(out / "c1" / "ok.json")
    (out / "c1" / "link.json").symlink_to(secret)
    (out / "dirlink").symlink_to(tmp_path.parent, target_is_directory=True)
    os.link(secret, out / "c1" / "hard.json")
    os.mkfifo(out / "c1" / "fifo.json")
    setuid = _write(out / "c1" / "setuid.bin")
    setuid.chmod(0o4755)
    setgid = _write(out / "c1" / "setgid.bin")
    setgid.chmod(0o2755)

    listing = collect_outputs(out, max_bytes=1000)

    assert listing.files == {"c1/ok.json": out / "c1" / "ok.json"}
    assert listing.rejected == {
        "c1/link.json": "symbolic link",
        "dirlink": "symbolic link",
        "c1/hard.json": "hard link",
        "c1/fifo.json": "device or special file",
        "c1/setuid.bin": "setuid/setgid bit",
        "c1/setgid.bin": "setuid/setgid bit",
    }
    assert listing.total_bytes == 3


def test_unix_socket_is_a_special_file(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        assert collect_outputs(tmp_path, max_bytes=10).rejected == {"s": "device or special file"}


def test_over_limit_stops_the_walk(tmp_path: Path) -> None:
    for index in range(10):
        _write(tmp_path / f"c{index}" / "x.bin", b"x" * 100)

    listing = collect_outputs(tmp_path, max_bytes=450)

    assert listing.over_limit
    assert not listing.too_many_files
    assert listing.total_bytes > 450
    assert len(listing.files) == 4


def test_exactly_at_the_limit_is_fine(tmp_path: Path) -> None:
    _write(tmp_path / "a", b"x" * 50)
    _write(tmp_path / "b", b"x" * 50)
    listing = collect_outputs(tmp_path, max_bytes=100)
    assert not listing.over_limit
    assert listing.total_bytes == 100


def test_too_many_entries(tmp_path: Path) -> None:
    for index in range(20):
        _write(tmp_path / f"f{index}", b"")
    listing = collect_outputs(tmp_path, max_bytes=10, max_files=10)
    assert listing.over_limit and listing.too_many_files


def test_non_utf8_names_are_rejected(tmp_path: Path) -> None:
    with open(os.path.join(os.fsencode(tmp_path), b"bad-\xff.json"), "wb") as f:
        f.write(b"1")
    listing = collect_outputs(tmp_path, max_bytes=10)
    assert listing.files == {}
    assert list(listing.rejected.values()) == ["file name is not valid UTF-8"]


def _rejected_as(uid: int, root: Path) -> dict[str, str]:
    """collect_outputs(root).rejected, computed in a child process running as `uid` (root reads anything)."""
    import json

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, collect, report
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            os.write(write_end, json.dumps(collect_outputs(root, max_bytes=10).rejected).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_unreadable_directory_is_rejected() -> None:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="podium-unreadable-"))
    try:
        root.chmod(0o755)
        locked = root / "locked"
        _write(locked / "x")
        locked.chmod(0)
        assert _rejected_as(65534, root) == {"locked": "unreadable directory"}
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)


def test_read_output_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.json", b"0.83")
    assert read_output_bytes(path, 4) == b"0.83"
    with pytest.raises(ValueError, match="more than the 3 allowed"):
        read_output_bytes(path, 3)


def test_read_output_bytes_refuses_symlinks_and_fifos(tmp_path: Path) -> None:
    target = _write(tmp_path / "target", b"secret")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError) as excinfo:
        read_output_bytes(tmp_path / "link", 100)
    assert excinfo.value.errno == errno.ELOOP

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match="not a regular file"):
        read_output_bytes(tmp_path / "fifo", 100)  # must not block waiting for a writer
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
