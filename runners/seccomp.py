"""The seccomp profile of the sandbox: Docker's default, tightened where a hostile container could slip out.

Based on moby's ``profiles/seccomp/default.json`` of Docker 20.10.24 (Apache License 2.0), the profile
that engine applies by default, with these changes:

* ``socket`` is allowed only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK. ``network_mode="none"``
  gives a container its own network namespace, but AF_VSOCK is not namespaced: on a virtual machine
  (Firecracker, QEMU, Hyper-V) a container could open a stream to the hypervisor host (CID 2) despite
  having "no network". Rarely used families with a history of kernel bugs (AF_ALG, AF_TIPC, AF_RDS, ...)
  go with it. Docker >= 24 blocks AF_VSOCK itself.
* ``socketcall`` (the 32-bit x86 multiplexer) is not allowed: its arguments sit in memory, where seccomp
  cannot check the address family.
* ``io_uring_setup``, ``io_uring_enter`` and ``io_uring_register`` are not allowed: a large kernel attack
  surface that no algorithm needs (libraries fall back to ordinary I/O). Docker >= 25 blocks them itself.
* Rules that only apply to containers holding a capability are left out: the sandbox drops every one.

Engines newer than 20.10 apply their own (newer) default when this profile is not sent; see
``SandboxPolicy.container_kwargs``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
ALLOWED_SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK)
REMOVED_SYSCALLS = frozenset({"socket", "socketcall", "io_uring_setup", "io_uring_enter", "io_uring_register"})

# Docker 20.10.24's unconditional allow-list, verbatim.
_DOCKER_ALLOWED_TEXT = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter
io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap nanosleep
newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall
socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee
tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork
vmsplice wait4 waitid waitpid write writev
"""
_DOCKER_ALLOWED = tuple(_DOCKER_ALLOWED_TEXT.split())

_ARCH_MAP = [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    {"architecture": "SCMP_ARCH_MIPS64", "subArchitectures": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]},
    {"architecture": "SCMP_ARCH_MIPS64N32", "subArchitectures": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]},
    {"architecture": "SCMP_ARCH_MIPSEL64", "subArchitectures": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]},
    {"architecture": "SCMP_ARCH_MIPSEL64N32", "subArchitectures": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]},
    {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
]

_CLONE_NO_NAMESPACES = 2114060288  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET


def _allow(*names: str, **extra: Any) -> dict[str, Any]:
    return {"names": list(names), "action": "SCMP_ACT_ALLOW", **extra}


def _arg(index: int, value: int, op: str) -> dict[str, Any]:
    return {"index": index, "value": value, "op": op}


# Docker 20.10.24's conditional rules that apply to a container without capabilities, verbatim.
_DOCKER_CONDITIONAL: list[dict[str, Any]] = [
    _allow("ptrace", includes={"minKernel": "4.8"}),
    *(_allow("personality", args=[_arg(0, value, "SCMP_CMP_EQ")]) for value in (0, 8, 131072, 131080, 4294967295)),
    _allow("sync_file_range2", includes={"arches": ["ppc64le"]}),
    _allow("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls",
           includes={"arches": ["arm", "arm64"]}),
    _allow("arch_prctl", includes={"arches": ["amd64", "x32"]}),
    _allow("modify_ldt", includes={"arches": ["amd64", "x32", "x86"]}),
    _allow("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr", includes={"arches": ["s390", "s390x"]}),
    _allow("clone", args=[_arg(0, _CLONE_NO_NAMESPACES, "SCMP_CMP_MASKED_EQ")],
           excludes={"arches": ["s390", "s390x"]}),
    _allow("clone", args=[_arg(1, _CLONE_NO_NAMESPACES, "SCMP_CMP_MASKED_EQ")],
           includes={"arches": ["s390", "s390x"]}),
    # glibc falls back to clone when clone3 says ENOSYS.
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
]


def sandbox_profile() -> dict[str, Any]:
    """The profile as a JSON-ready dict (a fresh copy each call)."""
    allowed = [name for name in _DOCKER_ALLOWED if name not in REMOVED_SYSCALLS]
    sockets = [_allow("socket", args=[_arg(0, family, "SCMP_CMP_EQ")]) for family in ALLOWED_SOCKET_FAMILIES]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",  # EPERM for everything not allowed below
        "archMap": json.loads(json.dumps(_ARCH_MAP)),
        "syscalls": [_allow(*allowed), *sockets, *json.loads(json.dumps(_DOCKER_CONDITIONAL))],
    }


@lru_cache(maxsize=1)
def sandbox_profile_json() -> str:
    """The profile as compact JSON, the form Docker's ``security_opt`` "seccomp=<profile>" expects."""
    return json.dumps(sandbox_profile(), separators=(",", ":"), sort_keys=True)
