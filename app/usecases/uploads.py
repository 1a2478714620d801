"""Spool an upload stream to a local temporary file with constant memory, a size cap and a hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.errors import TooLarge

CHUNK_BYTES = 1 << 20


@dataclass
class SpooledUpload:
    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def spool_upload(stream: IO[bytes], *, max_bytes: int, tmp_dir: Path) -> SpooledUpload:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=tmp_dir)
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(upload_too_large_message(max_bytes))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledUpload(path=path, size=size, sha256=digest.hexdigest())


def upload_too_large_message(max_bytes: int) -> str:
    return (f"the upload is larger than this phase's limit of {_mib(max_bytes)}; "
            "make the image smaller (e.g. a slimmer base image) and upload again")


def _mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB"
