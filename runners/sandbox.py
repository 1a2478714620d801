"""The sandbox every participant or organiser container runs in, as docker SDK keyword arguments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from docker.types import DeviceRequest, LogConfig, Ulimit

from runners.seccomp import sandbox_profile_json

MIB = 1024 * 1024
NOBODY = "65534:65534"
# IPC mode "none" needs API 1.32 (Docker 17.06); older engines get "private".
_IPC_NONE_MIN_API = (1, 32)
# From API 1.44 (Docker 25) the engine's own default seccomp profile blocks AF_VSOCK and io_uring; older
# engines get the runner's profile (runners/seccomp.py), which does.
_ENGINE_SECCOMP_MIN_API = (1, 44)


def _api_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits and isolation of one container run.

    wall_time_seconds: deadline from start to exit; the container is killed when it passes.
    memory_bytes: memory limit (RSS + page cache + tmpfs pages); memswap is the same, so no swap.
    nano_cpus: CPU quota in units of 1e-9 CPUs (2 CPUs = 2_000_000_000).
    pids_limit: maximum number of processes and threads inside the container.
    tmpfs_bytes: size of the tmpfs at /tmp (and of /dev/shm); both count against memory_bytes.
    output_bytes: size of /output while the container runs (a private tmpfs, see runners/output_area.py:
        allocated space, so each non-empty file takes at least one 4 KiB page) and cap on the total size of
        the files collected from it. Its pages get their own allowance on top of memory_bytes.
    log_bytes: cap on the kept stdout (its first bytes) and, separately, on the kept stderr (its last).
    user: "uid:gid" the process runs as, whatever the image's USER says.
    ipc_mode: "private" (own IPC namespace with its own /dev/shm) by default; "none" removes /dev/shm,
        which breaks Python's multiprocessing locks, pools and PyTorch data loaders.
    gpus: GPUs requested from the engine's GPU runtime (0: none); only GPU workers run such a policy.
    """

    wall_time_seconds: float
    memory_bytes: int
    nano_cpus: int
    pids_limit: int
    tmpfs_bytes: int
    output_bytes: int
    log_bytes: int
    user: str = NOBODY
    ipc_mode: str = "private"
    gpus: int = 0

    def __post_init__(self) -> None:
        for name in ("wall_time_seconds", "memory_bytes", "nano_cpus", "pids_limit", "tmpfs_bytes",
                     "output_bytes", "log_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxPolicy.{name} must be positive, got {getattr(self, name)!r}")
        if self.memory_bytes < 6 * MIB:
            raise ValueError("SandboxPolicy.memory_bytes must be at least 6 MiB (Docker's minimum)")
        if self.gpus < 0:
            raise ValueError(f"SandboxPolicy.gpus must not be negative, got {self.gpus!r}")
        if self.ipc_mode not in ("private", "none"):
            raise ValueError(f"SandboxPolicy.ipc_mode must be 'private' or 'none', got {self.ipc_mode!r}")
        uid, sep, gid = self.user.partition(":")
        if not (uid.isdigit() and sep and gid.isdigit()) or int(uid) == 0 or int(gid) == 0:
            raise ValueError(f"SandboxPolicy.user must be a numeric non-root 'uid:gid', got {self.user!r}")

    @classmethod
    def from_limits(
        cls,
        time_limit_seconds: float,
        memory_mb: int,
        cpus: float,
        pids: int,
        tmp_mb: int,
        output_mb: int,
        log_kb: int,
        gpus: int = 0,
    ) -> SandboxPolicy:
        """A policy from a phase's limits in human units (MiB, KiB, CPUs)."""
        return cls(
            wall_time_seconds=float(time_limit_seconds),
            memory_bytes=int(memory_mb) * MIB,
            nano_cpus=int(round(cpus * 1e9)),
            pids_limit=int(pids),
            tmpfs_bytes=int(tmp_mb) * MIB,
            output_bytes=int(output_mb) * MIB,
            log_bytes=int(log_kb) * 1024,
            gpus=int(gpus),
        )

    @property
    def uid(self) -> int:
        return int(self.user.split(":")[0])

    @property
    def gid(self) -> int:
        return int(self.user.split(":")[1])

    @property
    def cpu_threads(self) -> int:
        """Whole CPUs granted, at least 1: the thread count suggested to OpenMP/BLAS."""
        return max(1, math.ceil(self.nano_cpus / 1e9))

    def environment(self) -> dict[str, str]:
        """The whole environment the runner adds (the image's own ENV still applies); no platform secret."""
        threads = str(self.cpu_threads)
        return {
            "HOME": "/tmp",  # the root file system is read-only; /tmp is the only writable scratch
            "TMPDIR": "/tmp",
            # nproc inside the container shows every host CPU; without these BLAS/OpenMP start one thread
            # per host CPU, which is slow under a CPU quota and can hit pids_limit.
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }

    def container_kwargs(self, api_version: str | None = None, extra_memory_bytes: int = 0) -> dict[str, Any]:
        """Keyword arguments for ``docker.DockerClient().containers.create`` that make the sandbox.

        api_version: the engine's API version; IPC mode "none" is only asked of engines that know it, and
            engines older than Docker 25 (or of unknown version) get the runner's seccomp profile.
        extra_memory_bytes: added to the memory limit for memory-backed mounts the runner adds (the tmpfs
            behind /output), so that they do not eat into memory_bytes.
        """
        ipc_mode = self.ipc_mode
        if ipc_mode == "none" and api_version and _api_tuple(api_version) < _IPC_NONE_MIN_API:
            ipc_mode = "private"
        security_opt = ["no-new-privileges"]
        if not api_version or _api_tuple(api_version) < _ENGINE_SECCOMP_MIN_API:
            security_opt.append(f"seccomp={sandbox_profile_json()}")
        memory_limit = self.memory_bytes + max(0, extra_memory_bytes)
        kwargs: dict[str, Any] = {
            # No network at all: only a loopback interface inside the container.
            "network_mode": "none",
            # Root file system read-only; the only writable places are /tmp, /dev/shm and /output.
            "read_only": True,
            # Small scratch space, no executables, setuid binaries or device files on it.
            "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,mode=1777,size={self.tmpfs_bytes}"},
            # No capabilities, so root-owned files and privileged operations stay out of reach.
            "cap_drop": ["ALL"],
            # setuid/setgid binaries in the image cannot raise privileges; fewer system calls and socket
            # families (no AF_VSOCK: it crosses the network namespace to a VM's host).
            "security_opt": security_opt,
            # Never root, whatever the image's USER says.
            "user": self.user,
            # Bounds fork bombs and runaway thread pools.
            "pids_limit": self.pids_limit,
            # Memory limit; memswap equal to it means no swap.
            "mem_limit": memory_limit,
            "memswap_limit": memory_limit,
            # CPU quota.
            "nano_cpus": self.nano_cpus,
            # Own IPC namespace (no host or sibling shared memory); /dev/shm is memory-charged tmpfs.
            "ipc_mode": ipc_mode,
            # The runner reads the output from the attach stream and keeps a capped copy; the engine keeps
            # none: no disk, and no JSON encoding of every line in the shared daemon (a flood of short
            # lines costs dockerd far more CPU than the container).
            "log_config": LogConfig(type="none"),
            # Only what the runner sets; the engine never passes the worker's environment through.
            "environment": self.environment(),
            # No core dumps.
            "ulimits": [Ulimit(name="core", soft=0, hard=0)],
            # Not privileged, no host devices, no host namespaces.
            "privileged": False,
            "devices": [],
            # The image's entrypoint is PID 1; Docker's init process is not injected.
            "init": False,
            # Cannot be attached to interactively.
            "stdin_open": False,
            "tty": False,
        }
        if self.gpus:
            # The one exception to "no host devices": this many GPUs, through the engine's GPU runtime (the NVIDIA
            # container toolkit), as `docker run --gpus N` asks for them. Nothing else of the host comes with them.
            kwargs["device_requests"] = [DeviceRequest(count=self.gpus, capabilities=[["gpu"]])]
        if ipc_mode == "private":
            # /dev/shm: tmpfs (nosuid, nodev, noexec) of this size, memory-charged like /tmp.
            kwargs["shm_size"] = self.tmpfs_bytes
        return kwargs
