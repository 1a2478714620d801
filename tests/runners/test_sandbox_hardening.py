"""The sandbox's scratch space, system calls and socket families, checked from inside a real container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.docker_runner import DockerRunner
from runners.sandbox import MIB, SandboxPolicy
from runners.seccomp import ALLOWED_SOCKET_FAMILIES, REMOVED_SYSCALLS, sandbox_profile

pytestmark = pytest.mark.docker

POLICY = SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=256, cpus=1, pids=64, tmp_mb=8, output_mb=1,
                                   log_kb=64)


def test_profile_is_dockers_default_minus_what_escapes() -> None:
    profile = sandbox_profile()
    allowed = set(profile["syscalls"][0]["names"])
    assert not allowed & REMOVED_SYSCALLS
    assert {"read", "write", "execve", "connect", "socketpair", "mmap"} <= allowed
    socket_rules = [rule for rule in profile["syscalls"] if rule["names"] == ["socket"]]
    assert [rule["args"][0]["value"] for rule in socket_rules] == list(ALLOWED_SOCKET_FAMILIES)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert not [rule for rule in profile["syscalls"] if "caps" in rule.get("includes", {})]


def test_newer_engines_keep_their_own_profile() -> None:
    assert any(opt.startswith("seccomp=") for opt in POLICY.container_kwargs("1.43")["security_opt"])
    assert POLICY.container_kwargs("1.44")["security_opt"] == ["no-new-privileges"]
    assert any(opt.startswith("seccomp=") for opt in POLICY.container_kwargs(None)["security_opt"])


PROBE = r"""
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
report = {}
S = socket
for name, family, kind in [("vsock", 40, S.SOCK_STREAM), ("alg", 38, S.SOCK_SEQPACKET), ("tipc", 30, S.SOCK_RDM),
                           ("packet", S.AF_PACKET, S.SOCK_RAW), ("inet", S.AF_INET, S.SOCK_STREAM),
                           ("inet6", S.AF_INET6, S.SOCK_DGRAM), ("unix", S.AF_UNIX, S.SOCK_STREAM),
                           ("netlink", S.AF_NETLINK, S.SOCK_RAW)]:
    try:
        socket.socket(family, kind).close()
        report[name] = "ok"
    except OSError as exc:
        report[name] = os.strerror(exc.errno)
params = ctypes.create_string_buffer(120)
report["io_uring_setup"] = "ok" if libc.syscall(425, 8, params) >= 0 else os.strerror(ctypes.get_errno())
report["unshare_user"] = "ok" if libc.unshare(0x10000000) == 0 else os.strerror(ctypes.get_errno())
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
report["seccomp_mode"] = status["Seccomp"].strip()
mounts = {}
for line in open("/proc/self/mountinfo"):
    fields, _, rest = line.partition(" - ")
    fields = fields.split()
    mounts[fields[4]] = {"options": fields[5].split(","), "super": rest.split()[2].split(",")}
report["tmp"], report["shm"] = mounts["/tmp"], mounts["/dev/shm"]
for where in ("/tmp", "/dev/shm"):
    written = 0
    try:
        with open(f"{where}/fill", "wb") as f:
            while True:
                f.write(bytes(1 << 20))
                written += 1 << 20
    except OSError as exc:
        report[f"fill {where}"] = [written, os.strerror(exc.errno)]
    os.unlink(f"{where}/fill")
print(json.dumps(report))
"""


def test_sockets_syscalls_and_scratch_space_inside(runner: DockerRunner, python_base_image: str,
                                                  io_dirs: tuple[Path, Path]) -> None:
    result = runner.run(python_base_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=POLICY,
                        command=["python3", "-c", PROBE])
    assert result.succeeded, result.failure_message()
    report = json.loads(result.stdout)

    for blocked in ("vsock", "alg", "tipc", "packet", "io_uring_setup", "unshare_user"):
        assert report[blocked] == "Operation not permitted", blocked
    for allowed in ("inet", "inet6", "unix", "netlink"):
        assert report[allowed] == "ok", allowed
    assert report["seccomp_mode"] == "2"  # a filter is installed
    for where in ("tmp", "shm"):
        assert {"nosuid", "nodev", "noexec"} <= set(report[where]["options"]), where
        assert f"size={8 * 1024}k" in report[where]["super"], where
    for where in ("/tmp", "/dev/shm"):
        written, error = report[f"fill {where}"]
        assert error == "No space left on device" and 7 * MIB <= written <= 8 * MIB, where
