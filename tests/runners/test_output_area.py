"""The capped /output: a private tmpfs per run, copied out without following links, removed on every path."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from runners.docker_runner import DockerRunner, RunnerError
from runners.output_area import (
    AREA_PREFIX,
    OutputLimits,
    TmpfsOutputArea,
    copy_tree,
    mounted_areas,
    sweep_stale_areas,
)
from runners.outputs import HARDLINK, SETID, SPECIAL, SYMLINK, collect_outputs
from runners.sandbox import MIB, SandboxPolicy

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")



def _policy(**overrides: float) -> SandboxPolicy:
    limits: dict[str, float] = dict(time_limit_seconds=30, memory_mb=64, cpus=1, pids=64, tmp_mb=8, output_mb=1,
                                    log_kb=64)
    limits.update(overrides)
    return SandboxPolicy.from_limits(**limits)  # type: ignore[arg-type]


def _areas_under(folder: Path) -> list[Path]:
    return [path for path in mounted_areas() if folder in path.parents]


@pytest.fixture
def runner(docker_client: docker.DockerClient, runner_scope: str) -> Iterator[DockerRunner]:
    yield DockerRunner(docker_client, output_area="tmpfs", scope=runner_scope)
    leftovers = docker_client.containers.list(
        all=True, filters={"label": ["podium.role=algorithm", f"podium.scope={runner_scope}"]})
    assert not [c for c in leftovers if c.labels.get("podium.test") == "output-area"]


@pytest.fixture
def io_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    yield input_dir, output_dir
    assert _areas_under(tmp_path) == [], "an /output area is still mounted"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(AREA_PREFIX)], "an area folder was left"


def _run(runner: DockerRunner, image: str, io_dirs: tuple[Path, Path], script: str, **policy: float):  # type: ignore[no-untyped-def]
    return runner.run(image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy(**policy),
                      command=["sh", "-c", script], labels={"podium.test": "output-area"})


# ---- in a container -------------------------------------------------------------------------------------


def test_output_is_a_private_capped_noexec_tmpfs(runner: DockerRunner, busybox_image: str,
                                                 io_dirs: tuple[Path, Path]) -> None:
    script = ("grep ' /output ' /proc/self/mountinfo; stat -c 'owner=%u:%g mode=%a' /output; "
              "mkdir /output/c1 && echo 0.5 > /output/c1/x.json && cp /bin/busybox /output/bb "
              "&& /output/bb true || echo 'exec=denied'")
    result = _run(runner, busybox_image, io_dirs, script, output_mb=4)

    assert result.succeeded, result
    mountinfo, owner, denied = result.stdout.decode().splitlines()
    options, _, super_options = mountinfo.partition(" - ")
    assert {"rw", "nosuid", "nodev", "noexec"} <= set(options.split()[5].split(","))
    assert super_options.startswith("tmpfs podium-output ")
    assert f"size={(4 * MIB + 4096) // 1024}k" in super_options and "nr_inodes=100002" in super_options
    assert owner == "owner=65534:65534 mode=755"
    assert denied == "exec=denied"
    assert (io_dirs[1] / "c1" / "x.json").read_text() == "0.5\n"
    assert (io_dirs[1] / "c1" / "x.json").stat().st_uid == 65534


def test_writing_past_the_cap_fails_inside_the_container(runner: DockerRunner, busybox_image: str,
                                                         io_dirs: tuple[Path, Path]) -> None:
    script = "dd if=/dev/zero of=/output/big bs=65536 count=1000 2>&1; echo written=$(stat -c %s /output/big)"
    result = _run(runner, busybox_image, io_dirs, script, output_mb=1)

    assert b"No space left on device" in result.stdout
    written = int(result.stdout.decode().rsplit("written=", 1)[1])
    assert MIB <= written <= MIB + 4096
    assert result.exit_code == 0 and not result.succeeded
    assert result.output_limit == "1 MiB in /output"
    assert result.failure_message() == "output limit exceeded (1 MiB in /output)"
    assert list(io_dirs[1].iterdir()) == []  # nothing collected from a run over the limit


def test_exactly_the_limit_fits(runner: DockerRunner, busybox_image: str, io_dirs: tuple[Path, Path]) -> None:
    result = _run(runner, busybox_image, io_dirs, "dd if=/dev/zero of=/output/x bs=1048576 count=1", output_mb=1)
    assert result.succeeded, result
    assert (io_dirs[1] / "x").stat().st_size == MIB


def test_a_sparse_file_is_refused_not_expanded(runner: DockerRunner, busybox_image: str,
                                               io_dirs: tuple[Path, Path]) -> None:
    result = _run(runner, busybox_image, io_dirs, "truncate -s 100G /output/huge && echo 1 > /output/small")
    assert result.output_limit == "1 MiB in /output"
    assert list(io_dirs[1].iterdir()) == []


def test_outputs_get_their_own_memory_allowance(runner: DockerRunner, busybox_image: str,
                                                io_dirs: tuple[Path, Path]) -> None:
    """tmpfs pages count against the container's memory cgroup; the runner adds the output cap to it."""
    result = _run(runner, busybox_image, io_dirs, "dd if=/dev/zero of=/output/x bs=1048576 count=48",
                  memory_mb=32, output_mb=64)
    assert result.succeeded, result.failure_message()
    assert (io_dirs[1] / "x").stat().st_size == 48 * MIB


def test_output_dir_must_be_empty(runner: DockerRunner, busybox_image: str, io_dirs: tuple[Path, Path]) -> None:
    (io_dirs[1] / "stale.json").write_text("1")
    with pytest.raises(ValueError, match="not empty"):
        _run(runner, busybox_image, io_dirs, "true")


# ---- cleanup on every path ---------------------------------------------------------------------------


def test_the_area_goes_after_a_timeout(runner: DockerRunner, busybox_image: str,
                                       io_dirs: tuple[Path, Path]) -> None:
    result = _run(runner, busybox_image, io_dirs, "echo 1 > /output/x; trap '' TERM; sleep 600",
                  time_limit_seconds=2)
    assert result.timed_out
    assert (io_dirs[1] / "x").read_text() == "1\n"  # what it wrote before the deadline is still collected


def test_the_area_goes_after_an_engine_error(runner: DockerRunner, io_dirs: tuple[Path, Path]) -> None:
    with pytest.raises(RunnerError, match="refused the run"):
        _run(runner, f"podium-test/no-such-image:{uuid.uuid4().hex[:8]}", io_dirs, "true")


def test_the_area_goes_after_a_keyboard_interrupt(runner: DockerRunner, busybox_image: str,
                                                  io_dirs: tuple[Path, Path]) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(runner, busybox_image, io_dirs, "sleep 600")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_stale_area_of_a_dead_worker_is_swept(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:  # a "worker" that mounts an area and dies without cleaning up
        try:
            TmpfsOutputArea.create(tmp_path, OutputLimits(MIB), 65534, 65534)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    [stale] = _areas_under(tmp_path)
    assert stale.name.startswith(f"{AREA_PREFIX}{pid}-")
    live = TmpfsOutputArea.create(tmp_path, OutputLimits(MIB), 65534, 65534)  # this process's: kept
    try:
        assert stale in sweep_stale_areas()
        assert _areas_under(tmp_path) == [live.source]
        assert not stale.exists()
    finally:
        live.close()
    live.close()  # twice: fine
    assert _areas_under(tmp_path) == []


def test_bind_mode_uses_the_folder_itself_and_warns_once(docker_client: docker.DockerClient, busybox_image: str,
                                                         io_dirs: tuple[Path, Path], runner_scope: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    runner = DockerRunner(docker_client, output_area="bind", scope=runner_scope)
    with caplog.at_level(logging.WARNING, logger="runners.docker_runner"):
        result = _run(runner, busybox_image, io_dirs, "grep -c ' /output .* - tmpfs ' /proc/self/mountinfo; "
                      "echo 1 > /output/x")
        (io_dirs[1] / "x").unlink()
        _run(runner, busybox_image, io_dirs, "true")
    assert result.stdout == b"0\n"  # not a tmpfs
    assert len([r for r in caplog.records if "plain bind mount" in r.message]) == 1


# ---- copying out (no container needed) ----------------------------------------------------------------


@pytest.fixture
def area(tmp_path: Path) -> Iterator[TmpfsOutputArea]:
    area = TmpfsOutputArea.create(tmp_path, OutputLimits(MIB, max_entries=20, max_depth=4), 65534, 65534)
    yield area
    area.close()


def test_copy_never_follows_links_and_keeps_them_visible(area: TmpfsOutputArea, tmp_path: Path) -> None:
    src, dst = area.source, tmp_path / "collected"
    dst.mkdir()
    (src / "c1").mkdir()
    (src / "c1" / "x.json").symlink_to("/etc/shadow")
    (src / "c2").symlink_to("/etc")
    (src / "c3").mkdir()
    (src / "c3" / "x.json").write_text("0.1")
    os.link(src / "c3" / "x.json", src / "c3" / "y.json")
    os.mkfifo(src / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(src / "sock"))
    (src / "setuid.json").write_text("0.2")
    os.chmod(src / "setuid.json", 0o4755)
    name = os.fsdecode(b"bad-\xff-name")
    (src / name).write_text("0.3")
    (src / "plain.json").write_text("0.4")

    assert area.collect(dst) is None

    assert os.readlink(dst / "c1" / "x.json") == "/etc/shadow" and os.readlink(dst / "c2") == "/etc"
    first, second = (dst / "c3" / "x.json").stat(), (dst / "c3" / "y.json").stat()
    assert first.st_ino == second.st_ino and first.st_nlink == 2
    assert stat.S_ISFIFO((dst / "fifo").lstat().st_mode) and stat.S_ISFIFO((dst / "sock").lstat().st_mode)
    assert stat.S_IMODE((dst / "setuid.json").stat().st_mode) == 0o4755
    assert (dst / name).read_text() == "0.3"
    assert {p.lstat().st_uid for p in dst.rglob("*")} == {65534}
    listing = collect_outputs(dst, max_bytes=MIB)
    assert listing.rejected == {"c1/x.json": SYMLINK, "c2": SYMLINK, "c3/x.json": HARDLINK,
                                "c3/y.json": HARDLINK, "fifo": SPECIAL, "sock": SPECIAL, "setuid.json": SETID,
                                "bad-\ufffd-name": "file name is not valid UTF-8"}
    assert sorted(listing.files) == ["plain.json"] and (dst / "plain.json").read_text() == "0.4"


def test_entries_are_capped_while_writing_and_when_copying(area: TmpfsOutputArea, tmp_path: Path) -> None:
    for index in range(20):
        (area.source / f"f{index}").touch()
    first = tmp_path / "first"
    first.mkdir()
    assert area.collect(first) is None  # 20 entries are allowed
    assert len(list(first.iterdir())) == 20

    (area.source / "f20").touch()  # one more fits, so that going over the limit is visible ...
    with pytest.raises(OSError, match="No space left on device"):  # ... and no further (nr_inodes)
        (area.source / "f21").touch()
    second = tmp_path / "second"
    second.mkdir()
    assert area.collect(second) == "20 files and directories in /output"
    assert list(second.iterdir()) == []
    third = tmp_path / "third"
    third.mkdir()
    assert copy_tree(area.source, third, OutputLimits(MIB, max_entries=5), 65534, 65534) == (
        "5 files and directories in /output")


def test_copy_stops_at_the_depth_limit(area: TmpfsOutputArea, tmp_path: Path) -> None:
    dst = tmp_path / "collected"
    dst.mkdir()
    (area.source / "a" / "b" / "c" / "d" / "e").mkdir(parents=True)
    assert area.collect(dst) == "directories nested more than 4 deep in /output"
    assert list(dst.iterdir()) == []


def test_a_full_area_is_over_the_limit(area: TmpfsOutputArea, tmp_path: Path) -> None:
    dst = tmp_path / "collected"
    dst.mkdir()
    with (area.source / "big").open("wb") as handle, pytest.raises(OSError, match="No space left on device"):
        handle.write(bytes(2 * MIB))
    assert area.collect(dst) == "1 MiB in /output"
    assert list(dst.iterdir()) == []
