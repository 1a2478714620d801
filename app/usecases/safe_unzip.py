"""Unpack an uploaded .zip (hostile input) by hand, never with extractall.

Only regular files and folders; no absolute names, no `..`, no links, no name twice; at most `max_entries` entries
and `max_bytes` in all (counted while writing, not from the archive's claims). Used for challenge bundles and test
set archives uploaded through the site.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from app.errors import ServiceError

_CHUNK = 1 << 20


class UnsafeArchive(ServiceError):
    """The archive cannot be unpacked as it is; the message says what to fix."""


def unpack_zip(archive: Path, into: Path, *, what: str, top_file: str, max_entries: int, max_bytes: int) -> Path:
    """Unpack `archive` into the empty folder `into`; returns the folder holding `top_file` (the top, or its one
    folder). `what` names the archive in messages ("the bundle", "the test set archive")."""
    try:
        archive_file = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise UnsafeArchive(f"{what} is not a .zip archive; zip the folder ({top_file} at its top)") from None
    with archive_file:
        entries = archive_file.infolist()
        if len(entries) > max_entries:
            raise UnsafeArchive(f"{what} has {len(entries)} entries; at most {max_entries} are accepted")
        written = 0
        for entry in entries:
            name = PurePosixPath(entry.filename)
            if entry.filename.startswith("/") or ".." in name.parts or "\\" in entry.filename or \
                    ":" in entry.filename or "\x00" in entry.filename:
                raise UnsafeArchive(f"{what} holds an unsafe name {entry.filename!r}; names must be relative "
                                    "paths inside it")
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise UnsafeArchive(f"{what} holds a symbolic link {entry.filename!r}; put the file itself in")
            target = into.joinpath(*name.parts)
            try:
                if entry.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if target.exists():
                    raise UnsafeArchive(f"{what} holds {entry.filename!r} twice")
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive_file.open(entry) as source, target.open("xb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise UnsafeArchive(f"{what} unpacks to more than {max_bytes // 1024**3} GiB; ask the "
                                                "operator to apply it with `podium challenge apply`")
                        sink.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
                raise UnsafeArchive(f"{entry.filename!r} cannot be read from {what} ({type(exc).__name__}); "
                                    "zip the folder again") from None
    if (into / top_file).is_file():
        return into
    tops = [child for child in into.iterdir() if child.name != "__MACOSX"]
    if len(tops) == 1 and (tops[0] / top_file).is_file():
        return tops[0]
    raise UnsafeArchive(f"{what} has no {top_file} at its top (or in its one top folder)")
