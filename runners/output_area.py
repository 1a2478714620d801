"""/output for one run, capped while the container runs: a private tmpfs mounted on the worker.

A bind mount of a host folder lets a container fill the host disk before anything can check its size.
Instead, each run gets its own tmpfs, mounted by the worker (root) next to the caller's output folder
and bound into the container at /output:

* ``size`` is the phase's output limit (plus one page, so that exactly ``output_bytes`` fits): a write
  past it fails with ENOSPC inside the container, and the host never holds more;
* ``nr_inodes`` caps the number of files and directories (MAX_OUTPUT_ENTRIES), so empty files cannot
  exhaust kernel memory either;
* ``nosuid,nodev,noexec``: nothing written there can be run, and no device node or setuid bit counts;
* its pages are charged to the container's memory cgroup, so the runner raises the container's memory
  limit by the size of the tmpfs: the participant's memory budget is unchanged.

After the container is gone, ``collect`` copies what it wrote into the caller's output folder without
following a single link, re-checking the limits (a sparse file's apparent size counts in full), and
``close`` unmounts the tmpfs (lazily, so it never fails as busy) on every path, errors included.
A worker killed with SIGKILL leaves its tmpfs mounted; ``sweep_stale_areas`` (called before every run)
unmounts those whose process is gone.

The folder under the mount point is root-only (0700): should the engine not see the worker's mounts (it
runs in another mount namespace), the container finds an unwritable /output and the run fails loudly
instead of writing to the host disk uncapped.

When the worker cannot mount (not root, or no CAP_SYS_ADMIN), ``BindOutputArea`` binds the caller's
folder as before: capped only after the run, by the collector. The runner logs a warning then.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runners.sandbox import MIB

log = logging.getLogger(__name__)

MAX_OUTPUT_ENTRIES = 100_000  # files, directories and links under /output (the collector's default too)
MAX_OUTPUT_DEPTH = 64  # directory levels under /output
AREA_PREFIX = ".podium-output-"
MOUNT_SOURCE = "podium-output"
PAGE = os.sysconf("SC_PAGE_SIZE")
_AREA_NAME = re.compile(rf"^{re.escape(AREA_PREFIX)}(\d+)-[0-9a-f]{{12}}$")
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH, _UMOUNT_NOFOLLOW = 2, 8
_COPY_CHUNK = 1 << 20


class OutputAreaError(OSError):
    """The worker could not set up or tear down an output area (an infrastructure fault)."""


@dataclass(frozen=True)
class OutputLimits:
    max_bytes: int
    max_entries: int = MAX_OUTPUT_ENTRIES
    max_depth: int = MAX_OUTPUT_DEPTH


class OutputArea(Protocol):
    @property
    def source(self) -> Path:
        """The host folder to bind at /output."""

    @property
    def memory_bytes(self) -> int:
        """Memory its contents may take, to add to the container's memory limit."""

    def collect(self, destination: Path) -> str | None:
        """Copy the outputs into destination (after the container is gone); why they exceed the limits, or
        None when they do not (then destination holds them all; otherwise it is left empty)."""

    def close(self) -> None:
        """Release the area; safe to call twice."""


# ---- the tmpfs area -------------------------------------------------------------------------------------


class TmpfsOutputArea:
    """A private, capped tmpfs for one run. Needs root (CAP_SYS_ADMIN) in the engine's mount namespace."""

    def __init__(self, mount_point: Path, limits: OutputLimits, uid: int, gid: int) -> None:
        self._mount_point = mount_point
        self.limits = limits
        self.uid = uid
        self.gid = gid
        self._mounted = False

    @classmethod
    def create(cls, beside: Path, limits: OutputLimits, uid: int, gid: int) -> TmpfsOutputArea:
        """Mount a new area in a fresh folder inside ``beside`` (a folder of the worker's)."""
        mount_point = beside / f"{AREA_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        os.mkdir(mount_point, 0o700)  # what the container would see if the engine missed the mount
        area = cls(mount_point, limits, uid, gid)
        size = _round_up(limits.max_bytes, PAGE) + PAGE
        options = f"size={size},nr_inodes={limits.max_entries + 2},mode=0755,uid={uid},gid={gid}"
        try:
            _mount(MOUNT_SOURCE, mount_point, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, options)
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(mount_point)
            raise
        area._mounted = True
        return area

    @property
    def source(self) -> Path:
        return self._mount_point

    @property
    def memory_bytes(self) -> int:
        return _round_up(self.limits.max_bytes, PAGE) + PAGE

    def usage(self) -> tuple[int, int]:
        """(bytes allocated, entries) in the area right now, the root folder not counted."""
        st = os.statvfs(self._mount_point)
        return (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_files - st.f_ffree - 1

    def collect(self, destination: Path) -> str | None:
        used, entries = self.usage()
        problem = None
        if used > _round_up(self.limits.max_bytes, PAGE):
            problem = _bytes_message(self.limits.max_bytes)
        elif entries > self.limits.max_entries:
            problem = _entries_message(self.limits.max_entries)
        else:
            problem = copy_tree(self._mount_point, destination, self.limits, self.uid, self.gid)
        if problem is not None:
            empty_folder(destination)
        return problem

    def close(self) -> None:
        if self._mounted:
            _umount(self._mount_point)
            self._mounted = False
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self._mount_point)


# ---- the fallback: a plain bind mount --------------------------------------------------------------------


class BindOutputArea:
    """The caller's folder itself, bound at /output: capped only after the run (by the collector)."""

    def __init__(self, folder: Path, uid: int, gid: int) -> None:
        self._folder = folder
        prepare_bind_folder(folder, uid, gid)

    @property
    def source(self) -> Path:
        return self._folder

    @property
    def memory_bytes(self) -> int:
        return 0

    def collect(self, destination: Path) -> str | None:
        return None  # the container wrote into destination directly

    def close(self) -> None:
        pass


def prepare_bind_folder(folder: Path, uid: int, gid: int) -> None:
    """Let the container's user write folder: chown it when running as root, else open it to all."""
    if os.geteuid() == 0:
        os.chown(folder, uid, gid, follow_symlinks=False)
        os.chmod(folder, 0o755)
    else:
        os.chmod(folder, 0o777)


# ---- copying out, never through a link -------------------------------------------------------------------


@dataclass
class _CopyState:
    limits: OutputLimits
    uid: int
    gid: int
    destination_fd: int
    bytes: int = 0
    entries: int = 0
    problem: str | None = None


def copy_tree(source: Path, destination: Path, limits: OutputLimits, uid: int, gid: int) -> str | None:
    """Copy source into the empty folder destination; why it exceeds the limits, or None.

    Nothing is followed: directories are opened with O_NOFOLLOW relative to their parent, symbolic links
    are copied as links (the same target text), FIFOs, sockets and devices become FIFOs, hard links within
    source stay hard links, and regular files keep their permission bits, setuid/setgid included: the
    collector (runners/outputs.py) still sees, reports and ignores all of those, as the contract says.
    Everything is owned by uid:gid (the container's user, who owns nothing else). A file's apparent size
    counts (a sparse file is refused, not expanded).
    """
    if any(os.scandir(destination)):
        raise ValueError(f"{destination} must be empty")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    src_fd = os.open(source, flags)
    dst_fd = os.open(destination, flags)
    try:
        state = _CopyState(limits, uid, gid, dst_fd)
        _copy_dir(src_fd, dst_fd, b"", 1, state, {})
        return state.problem
    finally:
        os.close(src_fd)
        os.close(dst_fd)


def _copy_dir(src_fd: int, dst_fd: int, prefix: bytes, depth: int, state: _CopyState,
              inodes: dict[int, bytes]) -> None:
    with os.scandir(src_fd) as entries:
        for entry in entries:
            state.entries += 1
            if state.entries > state.limits.max_entries:
                state.problem = _entries_message(state.limits.max_entries)
                return
            name = os.fsencode(entry.name)
            st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if depth > state.limits.max_depth:
                    state.problem = f"directories nested more than {state.limits.max_depth} deep in /output"
                    return
                _copy_subdir(src_fd, dst_fd, name, prefix, depth, state, inodes)
            elif stat.S_ISREG(st.st_mode):
                _copy_file(src_fd, dst_fd, name, st, prefix, state, inodes)
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
                os.chown(name, state.uid, state.gid, dir_fd=dst_fd, follow_symlinks=False)
            else:  # FIFO, socket or device node: a FIFO stands in, so that the collector reports it
                os.mkfifo(name, 0o600, dir_fd=dst_fd)
                os.chown(name, state.uid, state.gid, dir_fd=dst_fd, follow_symlinks=False)
            if state.problem:
                return


def _copy_subdir(src_fd: int, dst_fd: int, name: bytes, prefix: bytes, depth: int, state: _CopyState,
                 inodes: dict[int, bytes]) -> None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    os.mkdir(name, 0o755, dir_fd=dst_fd)
    os.chown(name, state.uid, state.gid, dir_fd=dst_fd, follow_symlinks=False)
    child_src = os.open(name, flags, dir_fd=src_fd)
    try:
        child_dst = os.open(name, flags, dir_fd=dst_fd)
        try:
            _copy_dir(child_src, child_dst, prefix + name + b"/", depth + 1, state, inodes)
        finally:
            os.close(child_dst)
    finally:
        os.close(child_src)


def _copy_file(src_fd: int, dst_fd: int, name: bytes, st: os.stat_result, prefix: bytes, state: _CopyState,
               inodes: dict[int, bytes]) -> None:
    first = inodes.get(st.st_ino) if st.st_nlink > 1 else None
    if first is not None:
        with contextlib.suppress(OSError):  # a path too long to link: a copy of the data will do
            os.link(first, name, src_dir_fd=state.destination_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return
    if st.st_size > state.limits.max_bytes - state.bytes:
        state.problem = _bytes_message(state.limits.max_bytes)
        return
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src_fd)
    try:
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                      dir_fd=dst_fd)
        try:
            copied = _copy_data(src, dst, st.st_size)
            os.fchown(dst, state.uid, state.gid)  # before fchmod: chown clears setuid/setgid
            os.fchmod(dst, stat.S_IMODE(st.st_mode) & 0o6777)  # setuid/setgid kept: the collector refuses those
        finally:
            os.close(dst)
    finally:
        os.close(src)
    state.bytes += copied
    if st.st_nlink > 1:
        inodes[st.st_ino] = prefix + name


def _copy_data(src: int, dst: int, size: int) -> int:
    """Copy exactly the size bytes fstat reported (the container is gone: nothing grows the file now)."""
    copied = 0
    while copied < size:
        sent = os.sendfile(dst, src, copied, min(_COPY_CHUNK, size - copied))
        if sent == 0:
            break
        copied += sent
    return copied


def empty_folder(folder: Path) -> None:
    """Remove everything inside folder (never following links), keeping folder itself."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _bytes_message(max_bytes: int) -> str:
    return f"{_human(max_bytes)} in /output"


def _entries_message(max_entries: int) -> str:
    return f"{max_entries} files and directories in /output"


def _human(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


# ---- mounts ----------------------------------------------------------------------------------------------


_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _mount(source: str, target: Path, fstype: str, flags: int, options: str) -> None:
    result = _c().mount(source.encode(), os.fsencode(target), fstype.encode(), ctypes.c_ulong(flags),
                        options.encode())
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {fstype} on {target}: {os.strerror(code)}")


def _umount(target: Path) -> None:
    if _c().umount2(os.fsencode(target), _MNT_DETACH | _UMOUNT_NOFOLLOW) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point (any more)
            raise OutputAreaError(code, f"umount {target}: {os.strerror(code)}")


def mounted_areas() -> list[Path]:
    """Mount points of output areas in this process's mount namespace (whoever made them)."""
    found = []
    with open("/proc/self/mountinfo", "rb") as handle:
        for line in handle:
            left, _, right = line.partition(b" - ")
            fields, after = left.split(), right.split()
            if len(fields) < 5 or len(after) < 2 or after[0] != b"tmpfs" or after[1] != MOUNT_SOURCE.encode():
                continue
            path = Path(os.fsdecode(_unescape_mountinfo(fields[4])))
            if _AREA_NAME.match(path.name):
                found.append(path)
    return found


def sweep_stale_areas() -> list[Path]:
    """Unmount and remove the areas whose worker process is gone (killed before it could clean up)."""
    swept = []
    for path in mounted_areas():
        match = _AREA_NAME.match(path.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        try:
            _umount(path)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(path)
        except OSError as exc:
            log.warning("could not remove the stale output area %s: %s", path, exc)
            continue
        log.warning("removed the output area %s of a worker process that is gone", path)
        swept.append(path)
    return swept


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unescape_mountinfo(field: bytes) -> bytes:
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)
