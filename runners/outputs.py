"""Collecting what an untrusted container wrote to /output, without following its links."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

SYMLINK = "symbolic link"
HARDLINK = "hard link"
SPECIAL = "device or special file"
SETID = "setuid/setgid bit"
BAD_NAME = "file name is not valid UTF-8"
UNREADABLE = "unreadable directory"


@dataclass
class OutputListing:
    """What collect_outputs found.

    files: relative posix path -> path of every acceptable regular file (in walk order).
    rejected: relative posix path -> reason it was not accepted.
    total_bytes: sum of the sizes of ``files``.
    over_limit: the walk stopped early because the total size passed max_bytes or the number of
        entries passed max_files (then too_many_files is set as well); the listing is incomplete.
    """

    files: dict[str, Path] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0
    over_limit: bool = False
    too_many_files: bool = False


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def collect_outputs(output_dir: Path, max_bytes: int, max_files: int = 100_000) -> OutputListing:
    """Walk output_dir without following symbolic links and list the regular files worth keeping.

    Symbolic links, hard links (a regular file with more than one link might be a host file), devices,
    FIFOs, sockets and setuid/setgid files are listed in ``rejected`` and never opened. Directories are
    descended into (never through a link). The walk stops, with ``over_limit`` set, as soon as the total
    size exceeds max_bytes or more than max_files entries (files, directories, rejects) were seen.
    """
    listing = OutputListing()
    entries = 0
    stack: list[tuple[str, str]] = [(os.fspath(output_dir), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            it = os.scandir(directory)
        except OSError:
            if not prefix:
                raise
            listing.rejected[_printable(prefix.rstrip("/"))] = UNREADABLE
            continue
        with it:
            for entry in it:
                entries += 1
                if entries > max_files:
                    listing.over_limit = listing.too_many_files = True
                    return listing
                if _visit(listing, entry, f"{prefix}{entry.name}", stack, max_bytes):
                    return listing
    return listing


def _visit(
    listing: OutputListing, entry: os.DirEntry[str], rel: str, stack: list[tuple[str, str]], max_bytes: int
) -> bool:
    """Classify one entry; True when the size limit was passed and the walk must stop."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        listing.rejected[_printable(rel)] = BAD_NAME
        return False
    st = entry.stat(follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        listing.rejected[rel] = SYMLINK
    elif stat.S_ISDIR(mode):
        stack.append((entry.path, f"{rel}/"))
    elif not stat.S_ISREG(mode):
        listing.rejected[rel] = SPECIAL
    elif mode & (stat.S_ISUID | stat.S_ISGID):
        listing.rejected[rel] = SETID
    elif st.st_nlink > 1:
        listing.rejected[rel] = HARDLINK
    else:
        listing.total_bytes += st.st_size
        if listing.total_bytes > max_bytes:
            listing.over_limit = True
            return True
        listing.files[rel] = Path(entry.path)
    return False


def read_output_bytes(path: Path, max_bytes: int) -> bytes:
    """Read a collected output file: never through a symbolic link, never more than max_bytes.

    Raises ValueError when the file is not a regular file or is larger than max_bytes, OSError (ELOOP)
    when path itself is a symbolic link.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # non-blocking: a FIFO never hangs
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if st.st_size > max_bytes:
            raise ValueError(f"{path} is {st.st_size} bytes, more than the {max_bytes} allowed")
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ValueError(f"{path} grew past the {max_bytes} bytes allowed")
    return data
