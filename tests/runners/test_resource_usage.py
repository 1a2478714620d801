"""CPU seconds and peak memory of a real container, read from its cgroup while it runs (runners/resource_usage.py)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from runners.docker_runner import DockerRunner
from runners.resource_usage import CgroupFiles, ResourceSampler, find_cgroup_files
from runners.sandbox import MIB, SandboxPolicy

pytestmark = pytest.mark.docker

# Burns one second of CPU time (not wall time: the machine may be busy), then holds 50 MiB written page by page.
BURN_AND_ALLOCATE = """
import time
while time.process_time() < 1.0:
    pass
block = bytearray(50 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(0.5)
"""


def _policy() -> SandboxPolicy:
    return SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=256, cpus=1, pids=64, tmp_mb=16,
                                     output_mb=16, log_kb=64)


def test_a_busy_container_records_its_cpu_seconds_and_peak_memory(
        runner: DockerRunner, python_base_image: str, io_dirs: tuple[Path, Path]) -> None:
    input_dir, output_dir = io_dirs
    result = runner.run(python_base_image, input_dir=input_dir, output_dir=output_dir, policy=_policy(),
                        command=["python3", "-c", BURN_AND_ALLOCATE])
    assert result.succeeded, result.failure_message()
    assert result.cpu_seconds is not None and result.peak_memory_bytes is not None
    # One second burnt, plus the interpreter's start (~0.1 s); the last 0.1 s sampling interval may be missed.
    assert 0.8 <= result.cpu_seconds <= 1.6, result.cpu_seconds
    assert result.cpu_seconds <= result.wall_seconds + 0.2
    assert 50 * MIB <= result.peak_memory_bytes <= 200 * MIB, result.peak_memory_bytes / MIB


def test_an_idle_container_uses_far_less_cpu_than_its_wall_time(
        runner: DockerRunner, busybox_image: str, io_dirs: tuple[Path, Path]) -> None:
    input_dir, output_dir = io_dirs
    result = runner.run(busybox_image, input_dir=input_dir, output_dir=output_dir, policy=_policy(),
                        command=["sleep", "1.5"])
    assert result.succeeded, result.failure_message()
    assert result.wall_seconds >= 1.5
    assert result.cpu_seconds is not None and result.cpu_seconds < 0.1 * result.wall_seconds, result.cpu_seconds
    assert result.peak_memory_bytes is not None and 0 < result.peak_memory_bytes < 50 * MIB


def test_without_the_cgroup_files_the_engines_stats_are_read(docker_client: docker.DockerClient,
                                                             python_base_image: str, runner_scope: str) -> None:
    """The fallback for a worker that cannot read the cgroup (an engine on another host): about one sample a
    second, so the container holds its memory for two."""
    script = BURN_AND_ALLOCATE.replace("time.sleep(0.5)", "time.sleep(2.0)")
    container = docker_client.containers.run(python_base_image, ["python3", "-c", script], detach=True,
                                             labels={"podium.scope": runner_scope}, network_mode="none")
    try:
        sampler = ResourceSampler(docker_client.api, str(container.id), read_cgroup=False)
        sampler.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        usage = sampler.stop()
    finally:
        container.remove(force=True)
    assert usage.source == "engine stats"
    assert usage.cpu_seconds is not None and 0.5 <= usage.cpu_seconds <= 1.6, usage
    assert usage.peak_memory_bytes is not None and usage.peak_memory_bytes >= 50 * MIB, usage


def test_cgroup_files_are_found_only_for_the_containers_own_path(tmp_path: Path) -> None:
    """Hybrid hierarchy as on this project's hosts: v1 cpuacct and memory, cpu.stat on the unified mount."""
    container_id = "a" * 64
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "42").mkdir()
    root = tmp_path / "cgroup"
    (proc / "self" / "mountinfo").write_text(
        f"32 31 0:29 / {root}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        f"35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory\n"
        f"41 31 0:38 / {root}/unified rw,relatime - cgroup2 cgroup2 rw\n")
    (proc / "42" / "cgroup").write_text(
        f"4:memory:/docker/{container_id}\n2:cpuacct:/docker/{container_id}\n0::/docker/{container_id}\n")
    for folder, names in (("cpuacct", ["cpuacct.usage"]), ("memory", ["memory.max_usage_in_bytes",
                                                                      "memory.usage_in_bytes"]),
                          ("unified", ["cpu.stat"])):
        (root / folder / "docker" / container_id).mkdir(parents=True)
        for name in names:
            (root / folder / "docker" / container_id / name).write_text("1\n")
    found = find_cgroup_files(42, container_id, proc=proc)
    assert found.cpu_usec == root / "unified" / "docker" / container_id / "cpu.stat"
    assert found.memory_peak == root / "memory" / "docker" / container_id / "memory.max_usage_in_bytes"
    assert found.describe() == "cgroup: cpu.stat usage_usec, memory.max_usage_in_bytes"
    # A process of another container (or of another PID namespace): nothing is read.
    assert find_cgroup_files(42, "b" * 64, proc=proc) == CgroupFiles()
    assert find_cgroup_files(43, container_id, proc=proc) == CgroupFiles()
