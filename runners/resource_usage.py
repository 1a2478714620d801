"""What a container used: its CPU seconds and peak memory, sampled from its cgroup while it runs.

The engine removes a container's cgroup as soon as its last process exits (runc deletes it before `wait`
returns), so nothing can be read afterwards: a thread samples the cgroup every SAMPLE_SECONDS from the start
and keeps the last figures.

- CPU seconds: cgroup v2 `cpu.stat` usage_usec, else cgroup v1 `cpuacct.usage` (nanoseconds). The counter is
  cumulative, so the last sample holds all the CPU time but that of the final interval: the figure is low by
  at most SAMPLE_SECONDS x the CPUs the container used.
- Peak memory (as the kernel charges it: anonymous memory, page cache and the tmpfs pages of /tmp, /dev/shm
  and /output): cgroup v2 `memory.peak` (kernels from 5.19), else cgroup v1 `memory.max_usage_in_bytes` (both
  high-water marks the kernel keeps), else the highest cgroup v2 `memory.current` sampled. Whichever is higher
  of the mark and the samples is kept.

The files are found through /proc/<pid>/cgroup of the container's first process and /proc/self/mountinfo,
and used only when the path names the container's id (a worker in another PID namespace would see another
process). When they cannot be read (an engine on another host, a worker in a container without the host's
/sys/fs/cgroup), the engine's stats stream (`docker stats`, about one sample a second) is read instead:
cpu_stats.cpu_usage.total_usage, and memory_stats.max_usage (cgroup v1) or the highest memory_stats.usage.

A statistic that cannot be had is None: it never fails a run.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker import APIClient

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.1
_PROC = Path("/proc")


@dataclass(frozen=True)
class ResourceUsage:
    """What a run used; None where it could not be measured. source says where the figures came from."""

    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    source: str = "none"


@dataclass(frozen=True)
class CgroupFiles:
    """The files of one container's cgroup that the sampler reads (None: not available on this host)."""

    cpu_usec: Path | None = None  # v2 cpu.stat (usage_usec line)
    cpu_nsec: Path | None = None  # v1 cpuacct.usage
    memory_peak: Path | None = None  # v2 memory.peak or v1 memory.max_usage_in_bytes
    memory_current: Path | None = None  # v2 memory.current or v1 memory.usage_in_bytes

    @property
    def usable(self) -> bool:
        return (self.cpu_usec or self.cpu_nsec) is not None or self.memory_peak is not None \
            or self.memory_current is not None

    def describe(self) -> str:
        cpu = "cpu.stat usage_usec" if self.cpu_usec else "cpuacct.usage" if self.cpu_nsec else "no cpu"
        memory = (self.memory_peak.name if self.memory_peak else
                  f"highest sampled {self.memory_current.name}" if self.memory_current else "no memory")
        return f"cgroup: {cpu}, {memory}"


def _cgroup_mounts(mountinfo: str) -> tuple[dict[str, Path], Path | None]:
    """v1 controller -> its mount point, and the v2 (unified) mount point, from /proc/self/mountinfo."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, extra = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(extra) < 3:
            continue
        if extra[0] == "cgroup2":
            v2 = Path(fields[4])
        elif extra[0] == "cgroup":
            for option in extra[2].split(","):
                v1.setdefault(option, Path(fields[4]))
    return v1, v2


def find_cgroup_files(pid: int, container_id: str, proc: Path = _PROC) -> CgroupFiles:
    """The cgroup files of the container whose first process is `pid` (as this process sees them)."""
    try:
        membership = (proc / str(pid) / "cgroup").read_text()
        v1, v2 = _cgroup_mounts((proc / "self" / "mountinfo").read_text())
    except OSError:
        return CgroupFiles()
    v1_dirs: dict[str, Path] = {}
    v2_dir: Path | None = None
    for line in membership.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if container_id not in path:  # another process than the container's: never read its figures
            continue
        relative = path.lstrip("/")
        if controllers == "" and v2 is not None:
            v2_dir = v2 / relative
        for controller in controllers.split(","):
            if controller in v1:
                v1_dirs[controller] = v1[controller] / relative

    def existing(directory: Path | None, name: str) -> Path | None:
        return directory / name if directory is not None and (directory / name).is_file() else None

    memory_v1 = v1_dirs.get("memory")
    return CgroupFiles(
        cpu_usec=existing(v2_dir, "cpu.stat"),
        cpu_nsec=existing(v1_dirs.get("cpuacct"), "cpuacct.usage"),
        memory_peak=existing(v2_dir, "memory.peak") or existing(memory_v1, "memory.max_usage_in_bytes"),
        memory_current=existing(v2_dir, "memory.current") or existing(memory_v1, "memory.usage_in_bytes"),
    )


def _read_int(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # the cgroup went away with the container, or an odd file
        return None


def _read_usage_usec(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


class ResourceSampler(threading.Thread):
    """Samples one running container's CPU time and memory until stop(); usage() holds the figures."""

    def __init__(self, api: APIClient, container_id: str, interval: float = SAMPLE_SECONDS, *,
                 read_cgroup: bool = True) -> None:
        """read_cgroup=False: the engine's stats stream only, as when the cgroup files cannot be read."""
        super().__init__(name="podium-container-resources", daemon=True)
        self._api = api
        self._id = container_id
        self._read_cgroup = read_cgroup
        self._interval = interval
        self._stopped = threading.Event()
        self._cpu_seconds: float | None = None
        self._peak: int | None = None
        self._source = "none"

    def stop(self) -> ResourceUsage:
        """Stop sampling (the container has stopped) and return what was measured."""
        self._stopped.set()
        self.join(2.0)
        return self.usage()

    def usage(self) -> ResourceUsage:
        return ResourceUsage(self._cpu_seconds, self._peak, self._source)

    def run(self) -> None:
        try:
            attrs = self._api.inspect_container(self._id)
            pid = int((attrs.get("State") or {}).get("Pid") or 0)
            files = find_cgroup_files(pid, self._id) if pid > 0 and self._read_cgroup else CgroupFiles()
            if files.usable:
                self._source = files.describe()
                self._sample_files(files)
            else:
                self._source = "engine stats"
                self._sample_stats()
        except Exception as exc:  # noqa: BLE001 - a statistic is never worth a run: keep what was measured
            log.warning("container %s: could not measure its CPU and memory: %r", self._id, exc)

    def _sample_files(self, files: CgroupFiles) -> None:
        while True:
            usec = _read_usage_usec(files.cpu_usec)
            nsec = _read_int(files.cpu_nsec) if usec is None else None
            if usec is not None:
                self._cpu_seconds = usec / 1e6
            elif nsec is not None:
                self._cpu_seconds = nsec / 1e9
            for value in (_read_int(files.memory_peak), _read_int(files.memory_current)):
                if value is not None:
                    self._peak = max(self._peak or 0, value)
            if self._stopped.wait(self._interval):
                return

    def _sample_stats(self) -> None:
        stream: Any = self._api.stats(self._id, stream=True, decode=True)
        for sample in stream:  # ends when the container stops
            cpu = (sample.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
            if cpu:
                self._cpu_seconds = cpu / 1e9
            memory = sample.get("memory_stats") or {}
            for value in (memory.get("max_usage"), memory.get("usage")):
                if value:
                    self._peak = max(self._peak or 0, int(value))
            if self._stopped.is_set():
                return
