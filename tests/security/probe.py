"""A hostile algorithm: tries to break out of the sandbox in every way it can think of.

It runs inside the participant container (python-base image, built with USER 0:0) and prints one JSON
line per attempt: {"attack": ..., "blocked": true|false, "detail": ...}. Only when every attempt was
blocked does it write its (constant) predictions, so that the submission succeeds exactly when the
sandbox held. It never sends a packet that could leave the machine: attempts that could (DNS, other
hosts' addresses) only run once it has checked that there is no network interface besides loopback.

/opt/probe/targets.json (written by the test when the image is built) holds the worker's own IP
addresses and the SHA-256 of a canary the test plants on the host, next to the hidden data.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


TARGETS = json.loads(read("/opt/probe/targets.json"))
LIBC = ctypes.CDLL(None, use_errno=True)
RESULTS: list[dict[str, object]] = []
SKIP_TREES = ("/proc", "/sys", "/dev")
FORBIDDEN_NAMES = {"malignant.json", "ground_truth", "ground-truth", "podium.db", "secret_key", "stdout.txt",
                   "stderr.txt", "upload.tar", "upload.tar.gz", "docker.sock", "containerd.sock"}


def attempt(name: str) -> Callable[[Callable[[], tuple[bool, str]]], None]:
    """Run the decorated check at once and record whether the attack was blocked."""
    def run(check: Callable[[], tuple[bool, str]]) -> None:
        try:
            blocked, detail = check()
        except Exception as exc:  # a probe that crashes proves nothing: count it as not blocked
            blocked, detail = False, f"probe error: {exc!r}"
        RESULTS.append({"attack": name, "blocked": blocked, "detail": detail})
    return run


def errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def tcp(host: str, port: int, family: int = socket.AF_INET) -> str:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect((host, port))
        except OSError as exc:
            return errname(exc)
        return "CONNECTED"


def only_loopback() -> bool:
    routes = [line.split()[0] for line in read("/proc/net/route").splitlines()[1:] if line.strip()]
    routes6 = [line.split()[-1] for line in read("/proc/net/ipv6_route").splitlines() if line.strip()]
    return os.listdir("/sys/class/net") == ["lo"] and set(routes + routes6) <= {"lo"}


def syscall_blocked(number: int, *args: int) -> tuple[bool, str]:
    result = LIBC.syscall(number, *[ctypes.c_long(a) for a in args])
    code = ctypes.get_errno()
    if result != -1:
        return False, f"returned {result}"
    return code in (errno.EPERM, errno.ENOSYS), errno.errorcode.get(code, str(code))


def walk_image() -> tuple[list[str], list[str], list[str], int]:
    """Every readable path outside /proc, /sys, /dev: (forbidden names, canary hits, sockets, files seen)."""
    names, canary, sockets, seen = [], [], [], 0
    for root, dirs, files in os.walk("/", onerror=lambda _: None):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP_TREES]
        for name in dirs + files:
            path = os.path.join(root, name)
            if name in FORBIDDEN_NAMES:
                names.append(path)
            if name == "malignancy-likelihood.json" and not path.startswith("/output/"):
                names.append(path)
        for name in files:
            path = os.path.join(root, name)
            seen += 1
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                sockets.append(path)
            if stat.S_ISREG(st.st_mode) and st.st_size <= 1 << 20:
                try:
                    with open(path, "rb") as handle:
                        if hashlib.sha256(handle.read()).hexdigest() == TARGETS["canary_sha256"]:
                            canary.append(path)
                except OSError:
                    continue
    return names, canary, sockets, seen


# ---- network -------------------------------------------------------------------------------------------

for label, port in [("redis", 6379), ("postgresql", 5432), ("s3 (seaweedfs)", 8333), ("s3 (minio)", 9000),
                    ("web server", 5000), ("docker api", 2375)]:
    @attempt(f"tcp 127.0.0.1:{port} ({label})")
    def _() -> tuple[bool, str]:
        outcome = tcp("127.0.0.1", port)  # noqa: B023 - run at once, inside the loop
        return outcome != "CONNECTED", outcome


@attempt("tcp port scan of 127.0.0.1 and ::1")
def _() -> tuple[bool, str]:
    open_ports = []
    for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        for port in range(1, 65536):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                # A port in the ephemeral range may "connect" to itself (TCP simultaneous open): not a server.
                if sock.connect_ex((host, port)) == 0 and sock.getsockname() != sock.getpeername():
                    open_ports.append(f"{host}:{port}")
    return not open_ports, f"open: {open_ports}" if open_ports else "no open port on loopback"


@attempt("tcp to the worker's own addresses")
def _() -> tuple[bool, str]:
    if not only_loopback():
        return False, "the sandbox has a network interface besides lo; not trying"
    outcomes = {f"{ip}:{port}": tcp(ip, port) for ip in TARGETS["host_ips"] for port in (6379, 5432, 22, 80)}
    return "CONNECTED" not in outcomes.values(), json.dumps(sorted(set(outcomes.values())))


@attempt("dns lookup")
def _() -> tuple[bool, str]:
    if not only_loopback():
        return False, "the sandbox has a network interface besides lo; not trying"
    try:
        socket.getaddrinfo("example.com", 443)
    except socket.gaierror as exc:
        lookup = f"gaierror {exc.errno}"
    else:
        return False, "example.com resolved"
    servers = [line.split()[1] for line in read("/etc/resolv.conf").splitlines() if line.startswith("nameserver")]
    sent = []
    for server in servers:
        with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", (server, 53))
                sent.append(f"{server}: sent")
            except OSError as exc:
                sent.append(f"{server}: {errname(exc)}")
    return not [s for s in sent if s.endswith("sent")], f"{lookup}; {sent}"


@attempt("raw socket (AF_INET, SOCK_RAW)")
def _() -> tuple[bool, str]:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except OSError as exc:
        return True, errname(exc)
    return False, "created"


@attempt("packet socket (AF_PACKET)")
def _() -> tuple[bool, str]:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError as exc:
        return True, errname(exc)
    return False, "created"


@attempt("vsock socket to the hypervisor (created, never connected)")
def _() -> tuple[bool, str]:
    try:
        socket.socket(40, socket.SOCK_STREAM, 0).close()  # AF_VSOCK
    except OSError as exc:
        return True, errname(exc)
    return False, "created: a connect(2) to CID 2 would reach the VM's host"


@attempt("network interfaces and unix sockets of the host")
def _() -> tuple[bool, str]:
    interfaces = os.listdir("/sys/class/net")
    unix = read("/proc/net/unix").splitlines()[1:]
    return interfaces == ["lo"] and not unix, f"interfaces {interfaces}, {len(unix)} unix sockets"


# ---- data ----------------------------------------------------------------------------------------------

FOUND_NAMES, FOUND_CANARY, FOUND_SOCKETS, FILES_SEEN = walk_image()


@attempt("search the file system for ground truth and other submissions' files")
def _() -> tuple[bool, str]:
    return not FOUND_NAMES, f"{FILES_SEEN} files searched; found {FOUND_NAMES}"


@attempt("search every file's content for the canary planted next to the hidden data")
def _() -> tuple[bool, str]:
    return not FOUND_CANARY, f"found in {FOUND_CANARY}" if FOUND_CANARY else f"not in {FILES_SEEN} files"


@attempt("docker socket")
def _() -> tuple[bool, str]:
    known = [p for p in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock")
             if os.path.lexists(p)]
    return not known and not FOUND_SOCKETS, f"sockets: {known + FOUND_SOCKETS}"


@attempt("read other runs' inputs and outputs")
def _() -> tuple[bool, str]:
    cases = [case["case_id"] for case in json.loads(read("/input/cases.json"))]
    expected = {"cases.json", ".podium-complete", *(f"{c}/nuclei-features.json" for c in cases)}
    present = set()
    for root, _dirs, files in os.walk("/input"):
        present.update(os.path.relpath(os.path.join(root, f), "/input") for f in files)
    extra = sorted(present - expected)
    output = os.listdir("/output")
    return not extra and not output, f"unexpected in /input: {extra[:5]}; /output at start: {output[:5]}"


@attempt("secrets in the environment")
def _() -> tuple[bool, str]:
    markers = ("PODIUM", "AWS", "DATABASE", "REDIS", "SECRET", "TOKEN", "PASSWORD", "S3_", "POSTGRES", "DOCKER")
    suspicious = sorted(name for name in os.environ if any(marker in name.upper() for marker in markers))
    return not suspicious, json.dumps(dict(sorted(os.environ.items())))


# ---- file system ----------------------------------------------------------------------------------------

@attempt("write outside /output and /tmp")
def _() -> tuple[bool, str]:
    outcomes = {}
    for path in ("/probe", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/usr/lib/probe",
                 "/opt/probe/probe.py", "/var/tmp/probe", "/input/cases.json", "/input/probe", "/dev/probe",
                 "/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/sys/kernel/probe",
                 "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, "ab") as handle:
                handle.write(b"x")
            outcomes[path] = "WRITTEN"
        except OSError as exc:
            outcomes[path] = errname(exc)
    for name, action in (("rename /input/cases.json", lambda: os.rename("/input/cases.json", "/input/x")),
                         ("chmod /input/cases.json", lambda: os.chmod("/input/cases.json", 0o777)),
                         ("utime /input/cases.json", lambda: os.utime("/input/cases.json", (0, 0)))):
        try:
            action()
            outcomes[name] = "DONE"
        except OSError as exc:
            outcomes[name] = errname(exc)
    return not {"WRITTEN", "DONE"} & set(outcomes.values()), json.dumps(outcomes)


@attempt("device nodes (mknod)")
def _() -> tuple[bool, str]:
    outcomes = {}
    for path in ("/tmp/mem", "/output/mem", "/dev/shm/mem"):
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 1))  # /dev/mem
            outcomes[path] = "CREATED"
        except OSError as exc:
            outcomes[path] = errname(exc)
    return "CREATED" not in outcomes.values(), json.dumps(outcomes)


@attempt("run programs written to /tmp, /dev/shm or /output")
def _() -> tuple[bool, str]:
    outcomes = {}
    for folder in ("/tmp", "/dev/shm", "/output"):
        target = os.path.join(folder, "true")
        shutil.copy("/bin/true", target)
        os.chmod(target, 0o4755)  # setuid too: allowed on one's own file, ignored (nosuid)
        try:
            subprocess.run([target], check=True)
            outcomes[folder] = "RAN"
        except OSError as exc:
            outcomes[folder] = errname(exc)
        os.unlink(target)
    return "RAN" not in outcomes.values(), json.dumps(outcomes)


@attempt("setuid-root binary from the image")
def _() -> tuple[bool, str]:
    st = os.stat("/opt/probe/suid-python")
    assert st.st_uid == 0 and st.st_mode & stat.S_ISUID, "the image has no setuid-root python"
    euid = subprocess.run(["/opt/probe/suid-python", "-c", "import os; print(os.geteuid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return euid != "0", f"effective uid {euid}"


@attempt("run as root (the image says USER 0:0)")
def _() -> tuple[bool, str]:
    return os.getuid() != 0 and os.getgid() != 0, f"uid {os.getuid()} gid {os.getgid()} groups {os.getgroups()}"


@attempt("capabilities, no_new_privs and seccomp")
def _() -> tuple[bool, str]:
    status = dict(line.split(":\t", 1) for line in read("/proc/self/status").splitlines() if ":\t" in line)
    wanted = {"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000",
              "CapBnd": "0000000000000000", "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
    found = {key: status[key].strip() for key in wanted}
    return found == wanted, json.dumps(found)


@attempt("kernel interfaces: user namespaces, mount, bpf, perf, keyrings, userfaultfd, io_uring, modules")
def _() -> tuple[bool, str]:
    checks = {  # x86_64 system call numbers; harmless arguments
        "unshare(CLONE_NEWUSER)": (272, 0x10000000),
        "mount": (165, 0, 0, 0, 0, 0),
        "bpf": (321, 0, 0, 0),
        "perf_event_open": (298, 0, 0, -1, -1, 0),
        "keyctl": (250, 0, -3, 0),
        "add_key": (248, 0, 0, 0, 0, 0),
        "userfaultfd": (323, 0),
        "io_uring_setup": (425, 1, 0),
        "init_module": (175, 0, 0, 0),
        "kexec_load": (246, 0, 0, 0, 0),
        "open_by_handle_at": (304, -1, 0, 0),
    }
    outcomes = {name: syscall_blocked(number, *args) for name, (number, *args) in checks.items()}
    return all(blocked for blocked, _ in outcomes.values()), json.dumps({k: v[1] for k, v in outcomes.items()})


# ---- verdict -------------------------------------------------------------------------------------------

for result in RESULTS:
    print(json.dumps(result), flush=True)
escaped = [r["attack"] for r in RESULTS if not r["blocked"]]
if escaped:
    print(f"NOT CONTAINED: {escaped}", file=sys.stderr)
    sys.exit(0)  # no predictions: the submission fails, and the report says why
for case in json.loads(read("/input/cases.json")):
    folder = os.path.join("/output", case["case_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "malignancy-likelihood.json"), "w") as handle:
        json.dump(0.5, handle)
print(f"CONTAINED: {len(RESULTS)} attacks, all blocked", flush=True)
