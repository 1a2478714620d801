"""Containers that try to exhaust the worker: processes, CPU time, memory, and output streams."""

from __future__ import annotations

import re
import resource

import pytest

from tests.security.images import HostileImages
from tests.security.instance import Platform

pytestmark = pytest.mark.docker

TIME_LIMIT = 6
PIDS_LIMIT = 64  # the example phase's limit
LOG_BYTES = 256 * 1024  # the example phase's log_kb
MIB = 1024 * 1024


def test_runaway_processes_end_at_their_limits_and_the_worker_carries_on(
        platform: Platform, hostile: HostileImages, baseline_archives) -> None:  # type: ignore[no-untyped-def]
    platform.set_limits(time_limit_seconds=TIME_LIMIT)
    attacks = ("fork-bomb", "cpu-spin", "sleeper", "memory-bomb")
    ids = {name: platform.submit(platform.participant(name), hostile.attack(name).archive) for name in attacks}
    neighbour = platform.submit(platform.participant("neighbour"), baseline_archives["single-feature"].archive)

    platform.drain()

    results = {name: platform.result(sid) for name, sid in ids.items()}
    outcomes = {name: (r["state"], r["failure_message"], r["failure_is_infrastructure"]) for name, r in results.items()}
    assert outcomes == {
        "fork-bomb": ("failed", f"time limit exceeded ({TIME_LIMIT} s)", False),
        "cpu-spin": ("failed", f"time limit exceeded ({TIME_LIMIT} s)", False),
        "sleeper": ("failed", f"time limit exceeded ({TIME_LIMIT} s)", False),  # SIGTERM ignored: SIGKILL
        "memory-bomb": ("failed", "memory limit exceeded (512 MiB)", False),
    }
    for name in ("fork-bomb", "cpu-spin", "sleeper"):
        assert TIME_LIMIT <= results[name]["run"]["container_seconds"] < TIME_LIMIT + 10, name
    pids = re.fullmatch(rb"pids.max=(\d+) pids.peak=(\d+|unknown) refused forks=(\d+)\n",
                        platform.log(ids["fork-bomb"], "stdout"))
    assert pids is not None
    assert int(pids.group(1)) == PIDS_LIMIT and int(pids.group(3)) > 0  # the bomb hit the limit ...
    assert pids.group(2) == b"unknown" or int(pids.group(2)) <= PIDS_LIMIT  # ... and the limit held
    assert platform.log(ids["sleeper"], "stdout") == b"sleeping for an hour with SIGTERM ignored\n"

    other = platform.result(neighbour)
    assert other["state"] == "succeeded", other["failure_message"]
    assert other["run"]["cases_valid"] == 228


def test_gigabytes_of_output_are_capped_and_the_worker_stays_small(platform: Platform,
                                                                   hostile: HostileImages) -> None:
    submission = platform.submit(platform.participant("flooder"), hostile.attack("flood").archive)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    children_after = platform.drain()  # 1 GiB on stdout, then 1 GiB of 41-byte lines on stderr

    result = platform.result(submission)
    assert result["state"] == "succeeded", result["failure_message"]
    assert result["run"]["cases_valid"] == 228
    assert platform.log(submission, "stdout") == bytes(LOG_BYTES)  # the first 256 KiB of zeros
    stderr = platform.log(submission, "stderr")
    assert len(stderr) == LOG_BYTES and stderr.endswith(b"\nflood done: this is the last line\n")  # the last
    tail = result["run"]["stderr_tail"].splitlines()
    assert len(tail) == 40 and tail[-1] == "flood done: this is the last line"
    # The work horse (a fork of this process) never held the flood: its peak stays near this process's.
    assert children_after <= max(children_before, own) + 128 * MIB, (
        f"a work horse peaked at {children_after / MIB:.0f} MiB (this process: {own / MIB:.0f} MiB)")
