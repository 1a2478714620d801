"""Containers that fill the writable places, or plant links and special files for the worker to follow."""

from __future__ import annotations

import shutil

import pytest

from tests.security.conftest import root_only
from tests.security.images import HostileImages
from tests.security.instance import Platform

pytestmark = [pytest.mark.docker, root_only()]

OUTPUT = "malignancy-likelihood.json"
SCRATCH_BYTES = 64 * 1024 * 1024  # the example phase's tmp_mb, also the size of /dev/shm
MIB = 1024 * 1024


def test_filling_output_and_scratch_space_is_contained(platform: Platform, hostile: HostileImages,
                                                       baseline_archives) -> None:  # type: ignore[no-untyped-def]
    attacks = ("fill-output", "sparse-output", "many-files", "fill-scratch")
    ids = {name: platform.submit(platform.participant(name), hostile.attack(name).archive) for name in attacks}
    neighbour = platform.submit(platform.participant("neighbour"), baseline_archives["single-feature"].archive)
    disk_before = shutil.disk_usage(platform.settings.data_dir).used

    platform.drain()

    results = {name: platform.result(sid) for name, sid in ids.items()}
    assert {name: (r["state"], r["failure_message"]) for name, r in results.items()} == {
        "fill-output": ("failed", "output limit exceeded (16 MiB in /output)"),
        "sparse-output": ("failed", "output limit exceeded (16 MiB in /output)"),
        "many-files": ("failed", "output limit exceeded (100000 files and directories in /output)"),
        "fill-scratch": ("succeeded", None),
    }
    # The writes failed inside the container (ENOSPC), at the caps, not after the fact.
    assert platform.log(ids["fill-output"], "stdout") == b"dd exit status: 1\n"
    assert "No space left on device" in results["fill-output"]["run"]["stderr_tail"]
    assert platform.log(ids["many-files"], "stdout") == b"files created: 99544\n"  # 100000 - 456 - 1 - root
    assert platform.log(ids["fill-scratch"], "stdout") == (
        f"/tmp: No space left on device after {SCRATCH_BYTES} bytes\n"
        f"/dev/shm: No space left on device after {SCRATCH_BYTES} bytes\n").encode()
    # Nothing of the oversized runs reached storage, and the worker's disk barely moved (shared with
    # other work on this machine, hence the generous bound: the attacks wrote 16 MiB, 1 TiB and 100000 files).
    for name in ("fill-output", "sparse-output", "many-files"):
        assert platform.resources.store.list(f"submissions/{ids[name]}/outputs/") == [], name
    assert shutil.disk_usage(platform.settings.data_dir).used - disk_before < 512 * MIB
    other = platform.result(neighbour)
    assert other["state"] == "succeeded", other["failure_message"]


def test_links_and_special_files_in_output_are_reported_never_followed(platform: Platform,
                                                                       hostile: HostileImages) -> None:
    submission = platform.submit(platform.participant("linker"), hostile.attack("links").archive)

    platform.drain()

    cases = platform.test_set().case_ids
    result = platform.result(submission)

    def ignored(index: int, reason: str) -> str:
        return f"{cases[index]}: /output/{cases[index]}/{OUTPUT} was ignored ({reason}); write a regular file"

    def missing(index: int) -> str:
        return f"{cases[index]}: /output/{cases[index]}/{OUTPUT} is missing"

    problems = [ignored(0, "symbolic link"),  # -> /etc/passwd
                missing(1),  # the case folder itself is a link to /etc
                ignored(2, "hard link"), ignored(3, "hard link"),  # two outputs sharing one inode
                missing(4),  # a hard link to /input: EXDEV, so nothing
                ignored(5, "device or special file"),  # a FIFO (it would hang a naive reader)
                ignored(6, "setuid/setgid bit"),
                ignored(8, "symbolic link")]  # -> ../../../../etc/shadow, relative to the worker's folder
    assert result["state"] == "failed"
    assert result["failure_message"] == (
        "8 of 228 cases have no valid output, so the submission was not scored; every case needs every "
        "declared output (see the container contract):\n  - " + "\n  - ".join(problems))
    assert (result["run"]["cases_valid"], result["run"]["cases_invalid"]) == (220, 8)
    stdout = platform.log(submission, "stdout").decode()
    assert "Invalid cross-device link" in stdout  # ln /input/... /output/...
    assert f"mknod: /output/{cases[7]}/mem: Operation not permitted" in stdout  # no CAP_MKNOD
    assert f"setuid bit set on /output/{cases[6]}/{OUTPUT}" in stdout  # allowed on its own file, refused here
    # Only regular files were stored; what the links point at was never read.
    store = platform.resources.store
    for index in (0, 1, 2, 3, 4, 5, 6, 8):
        assert store.list(f"submissions/{submission}/outputs/{cases[index]}/") == [], cases[index]
    assert store.get_bytes(f"submissions/{submission}/outputs/{cases[7]}/{OUTPUT}") == b"0.5"
