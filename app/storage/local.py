"""Local-directory backend: one file per key under a root directory.

Every write goes to a temporary file next to its destination and is renamed over it with ``os.replace``,
so readers see the old object or the new one, and a crash mid-write never leaves a truncated object under
the real key (at worst a stray ``.podium-tmp-*`` file, which ``list`` ignores).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from app.storage.base import InvalidKey, ObjectNotFound, StorageError, check_key, check_prefix

CHUNK_SIZE = 1024 * 1024
TEMP_PREFIX = ".podium-tmp-"


def write_atomically(dest: Path, stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> int:
    """Copy ``stream`` to ``dest`` through a temp file in the same directory; return the bytes written.

    Errors on the destination side become StorageError; errors raised by ``stream`` itself (a client that
    disconnects mid-upload, say) propagate unchanged. Either way the temp file is removed.
    """
    tmp, fd = _create_temp_next_to(dest)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(chunk_size):
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise StorageError(f"cannot write {dest}: {exc}") from exc
                written += len(chunk)
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise StorageError(f"cannot write {dest}: {exc}") from exc
        try:
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"cannot move {tmp.name} to {dest}: {exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def _create_temp_next_to(dest: Path) -> tuple[Path, int]:
    # A concurrent delete may prune the (then empty) parent directory between mkdir and open: retry.
    for attempt in range(3):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create directory {dest.parent}: {exc}") from exc
        tmp = dest.parent / f"{TEMP_PREFIX}{dest.name[:64]}.{secrets.token_hex(8)}"
        try:
            # os.open with 0o666 honours the umask, unlike tempfile.mkstemp's fixed 0o600.
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            if attempt == 2:
                raise StorageError(f"cannot create a temporary file in {dest.parent}") from None
        except OSError as exc:
            raise StorageError(f"cannot create a temporary file in {dest.parent}: {exc}") from exc
    raise AssertionError("unreachable")


class LocalStore:
    """Objects as files under ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._root_text = str(self.root).rstrip("/")  # "" for "/": keys are joined with a "/" before them
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage directory {self.root}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def describe(self) -> str:
        return f"local directory {self.root}"

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """The key's file name under the root, as a string (reads skip building a Path)."""
        check_key(key)
        if key.rpartition("/")[2].startswith(TEMP_PREFIX):
            raise InvalidKey(f"invalid storage key {key!r}: names starting with {TEMP_PREFIX!r} are reserved")
        name = f"{self._root_text}/{key}"
        # The key itself cannot climb out ('..' is rejected), but a symlink inside the root could: resolve the
        # path (every component from /) only when a component under the root is a symlink.
        if self._may_be_linked(key) and not Path(name).resolve().is_relative_to(self.root):
            raise InvalidKey(f"invalid storage key {key!r}: resolves outside {self.describe()}")
        return name

    def _may_be_linked(self, key: str) -> bool:
        """Whether a component of ``key`` under the root is a symlink (or could not be checked).

        One lstat per existing component: the root is already resolved and check_key refuses '..', '.' and
        empty segments, so a path with no symlink below the root stays inside it. A component that does not
        exist ends the walk: nothing below it exists either.
        """
        current = self._root_text
        for part in key.split("/"):
            current = f"{current}/{part}"
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return False
            except OSError:
                return True
            if stat.S_ISLNK(mode):
                return True
        return False

    def _missing(self, key: str) -> ObjectNotFound:
        return ObjectNotFound(f"no object {key!r} in {self.describe()}")

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        return write_atomically(self._path(key), stream)

    def put_file(self, key: str, path: Path) -> int:
        dest = self._path(key)
        with open(path, "rb") as src:
            return write_atomically(dest, src)

    def put_bytes(self, key: str, data: bytes) -> None:
        write_atomically(self._path(key), io.BytesIO(data))

    def open_read(self, key: str) -> io.BufferedReader:
        name = self._file(key)
        try:
            return open(name, "rb")  # noqa: SIM115 - the caller closes it (it is the context manager)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {self.describe()}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as src:
            return src.read()

    def download_to(self, key: str, path: Path) -> None:
        with self.open_read(key) as src:
            write_atomically(Path(path), src)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise self._missing(key)
        return st.st_size

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        # Walk only the deepest directory the prefix fully names ("a/b/c" -> "a/b"), then filter.
        directory = prefix.rpartition("/")[0]
        base = f"{self._root_text}/{directory}" if directory else self._root_text or "/"
        skip = len(self._root_text) + 1  # os.walk's folder names start with base: cut the root and its "/"
        keys = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel_dir = dirpath[skip:]
            for name in filenames:
                if name.startswith(TEMP_PREFIX):
                    continue
                key = f"{rel_dir}/{name}" if rel_dir else name
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r} from {self.describe()}: {exc}") from exc
        self._prune_empty_dirs(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def _prune_empty_dirs(self, directory: Path) -> None:
        """Remove now-empty directories up to (not including) the root, so deleted trees leave no husks."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
