"""DockerRunner against the real local engine: the sandbox holds, limits end runs, nothing is left over."""

from __future__ import annotations

import gzip
import json
import os
import signal
import tarfile
import time
import tracemalloc
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest

from runners.docker_runner import DockerRunner, ImageLoadError, RunnerError, RunResult
from runners.outputs import collect_outputs
from runners.sandbox import MIB, SandboxPolicy
from runners.seccomp import sandbox_profile_json

pytestmark = pytest.mark.docker


def _policy(**overrides: float) -> SandboxPolicy:
    limits: dict[str, float] = dict(time_limit_seconds=30, memory_mb=128, cpus=1, pids=64, tmp_mb=16,
                                    output_mb=16, log_kb=64)
    limits.update(overrides)
    return SandboxPolicy.from_limits(**limits)  # type: ignore[arg-type]


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---- policy and result (no engine) --------------------------------------------------------------


def test_policy_from_limits_and_container_kwargs() -> None:
    policy = SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=512, cpus=1.5, pids=128, tmp_mb=32,
                                       output_mb=100, log_kb=256)
    assert policy.memory_bytes == 512 * MIB and policy.nano_cpus == 1_500_000_000
    assert policy.log_bytes == 256 * 1024 and policy.cpu_threads == 2

    kwargs = policy.container_kwargs("1.41")
    assert kwargs["network_mode"] == "none" and kwargs["read_only"] is True
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges", f"seccomp={sandbox_profile_json()}"]
    assert kwargs["user"] == "65534:65534" and kwargs["privileged"] is False and kwargs["init"] is False
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 512 * MIB
    assert kwargs["tmpfs"] == {"/tmp": f"rw,noexec,nosuid,nodev,mode=1777,size={32 * MIB}"}
    assert kwargs["shm_size"] == 32 * MIB
    assert kwargs["log_config"]["Type"] == "none"
    assert set(kwargs["environment"]) == {"HOME", "TMPDIR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS"}
    assert kwargs["ipc_mode"] == "private"


def test_ipc_none_only_on_engines_that_know_it() -> None:
    policy = SandboxPolicy(30, 64 * MIB, 10**9, 64, MIB, MIB, 1024, ipc_mode="none")
    assert policy.container_kwargs("1.41")["ipc_mode"] == "none"
    assert policy.container_kwargs("1.30")["ipc_mode"] == "private"


@pytest.mark.parametrize("user", ["0:0", "nobody", "65534", "1000:0"])
def test_policy_refuses_root_or_non_numeric_users(user: str) -> None:
    with pytest.raises(ValueError, match="user"):
        SandboxPolicy(30, 64 * MIB, 10**9, 64, MIB, MIB, 1024, user=user)


def _result(**changes: object) -> RunResult:
    fields: dict[str, object] = dict(exit_code=0, timed_out=False, oom_killed=False, wall_seconds=1.0,
                                     stdout=b"", stderr=b"", stdout_truncated=False, stderr_truncated=False,
                                     image_id="sha256:x", wall_time_limit_seconds=3600,
                                     memory_limit_bytes=4096 * MIB)
    fields.update(changes)
    return RunResult(**fields)  # type: ignore[arg-type]


def test_failure_messages() -> None:
    assert _result().succeeded and _result().failure_message() is None
    assert _result(timed_out=True, exit_code=137).failure_message() == "time limit exceeded (3600 s)"
    assert _result(oom_killed=True, exit_code=137).failure_message() == "memory limit exceeded (4096 MiB)"
    assert _result(oom_killed=True, exit_code=0).failure_message() == "memory limit exceeded (4096 MiB)"
    stderr = b"Traceback...\n\x1b[31mValueError: bad shape\x1b[0m\n  \n"
    assert _result(exit_code=1, stderr=stderr).failure_message() == (
        "the container exited with code 1: [31mValueError: bad shape[0m")
    # Without the container's own words (which may echo hidden inputs): only what the platform observed.
    assert _result(exit_code=1, stderr=stderr).failure_message(include_output=False) == (
        "the container exited with code 1")
    assert _result(exit_code=2).failure_message() == "the container exited with code 2"
    stopped = _result(exit_code=137, killed_externally=True, stderr=b"Killed\n")
    assert not stopped.succeeded and stopped.is_infrastructure_fault
    assert stopped.failure_message() == (
        "the container was stopped by something other than Podium (not a fault of the submission)")
    assert not _result(exit_code=0, killed_externally=True).succeeded  # stopped, even if it then exited 0
    assert not _result(exit_code=137).is_infrastructure_fault and not _result().is_infrastructure_fault


# ---- runs on the engine --------------------------------------------------------------------------


def test_batch_run_writes_outputs(runner: DockerRunner, python_base_image: str,
                                  io_dirs: tuple[Path, Path]) -> None:
    input_dir, output_dir = io_dirs
    cases = [{"case_id": "c1", "inputs": {"age": 61}}, {"case_id": "c2", "inputs": {"age": 40}}]
    (input_dir / "cases.json").write_text(json.dumps(cases))
    (input_dir / "cases.json").chmod(0o600)  # the runner makes inputs readable for the container's user
    script = (
        "import json, os\n"
        "for case in json.load(open('/input/cases.json')):\n"
        "    os.makedirs(f\"/output/{case['case_id']}\")\n"
        "    json.dump(case['inputs']['age'] / 100, open(f\"/output/{case['case_id']}/x.json\", 'w'))\n"
        "print('done')\n"
    )

    result = runner.run(python_base_image, input_dir=input_dir, output_dir=output_dir, policy=_policy(),
                        command=["python3", "-c", script], labels={"podium.submission": "42"})

    assert result.succeeded, result
    assert result.stdout == b"done\n" and not result.stdout_truncated
    assert (output_dir / "c1" / "x.json").read_text() == "0.61"
    listing = collect_outputs(output_dir, max_bytes=_policy().output_bytes)
    assert sorted(listing.files) == ["c1/x.json", "c2/x.json"]
    assert (output_dir / "c1" / "x.json").stat().st_uid == 65534
    assert result.image_id.startswith("sha256:")


def test_sandbox_holds(runner: DockerRunner, busybox_image: str, io_dirs: tuple[Path, Path]) -> None:
    input_dir, output_dir = io_dirs
    (input_dir / "cases.json").write_text("[]")
    script = """
        echo "uid=$(id -u)"
        echo "gid=$(id -g)"
        touch /rootfs-write 2>/dev/null && echo "root=writable" || echo "root=read-only"
        touch /input/x 2>/dev/null && echo "input=writable" || echo "input=read-only"
        touch /tmp/x && echo "tmpwrite=yes"
        cp /bin/busybox /tmp/bb && /tmp/bb true 2>/dev/null && echo "tmpexec=yes" || echo "tmpexec=no"
        echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ',')"
        grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status | tr -d '\\t'
        echo "env=$(env | cut -d= -f1 | sort | tr '\\n' ',')"
        echo "pid1=$(cat /proc/1/comm)"
        echo "shm=$(test -d /dev/shm && echo yes || echo no)"
    """

    result = runner.run(busybox_image, input_dir=input_dir, output_dir=output_dir, policy=_policy(),
                        command=_sh(script))

    assert result.succeeded, result
    lines = dict(line.split("=", 1) if "=" in line else line.split(":", 1)
                 for line in result.stdout.decode().splitlines())
    assert lines["uid"] == lines["gid"] == "65534"
    assert lines["root"] == "read-only"
    assert lines["input"] == "read-only"
    assert lines["tmpwrite"] == "yes" and lines["tmpexec"] == "no"
    assert lines["ifaces"] == "lo,"
    assert lines["CapEff"] == "0000000000000000"
    assert lines["CapPrm"] == "0000000000000000"
    assert lines["CapBnd"] == "0000000000000000"
    assert lines["NoNewPrivs"] == "1"
    assert set(lines["env"].strip(",").split(",")) <= {
        "HOME", "TMPDIR", "PATH", "HOSTNAME", "PWD", "SHLVL", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS"}
    assert lines["pid1"] == "sh"
    assert not (input_dir / "x").exists()


def test_python_multiprocessing_works_in_the_sandbox(runner: DockerRunner, python_base_image: str,
                                                     io_dirs: tuple[Path, Path]) -> None:
    """Real algorithms (nnU-Net, PyTorch data loaders) need POSIX semaphores, i.e. a /dev/shm."""
    script = "import multiprocessing as m\nwith m.Pool(2) as p: print(sum(p.map(abs, [-1, -2])))"
    result = runner.run(python_base_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy(),
                        command=["python3", "-c", script])
    assert result.succeeded, result
    assert result.stdout == b"3\n"


def test_nonzero_exit_reports_the_last_stderr_line(runner: DockerRunner, busybox_image: str,
                                                   io_dirs: tuple[Path, Path]) -> None:
    result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy(),
                        command=_sh("echo working; echo 'loading model' >&2; "
                                    "echo 'RuntimeError: weights not found' >&2; echo >&2; exit 3"))
    assert not result.succeeded
    assert result.exit_code == 3 and not result.timed_out and not result.oom_killed
    assert result.stdout == b"working\n"
    assert result.failure_message() == "the container exited with code 3: RuntimeError: weights not found"


def test_unstartable_entrypoint_is_the_participants_fault(runner: DockerRunner, busybox_image: str,
                                                          io_dirs: tuple[Path, Path]) -> None:
    result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy(),
                        command=["/opt/algorithm/predict.sh"])
    assert not result.succeeded
    message = result.failure_message()
    assert message is not None and message.startswith("the container could not start: ")
    assert "/opt/algorithm/predict.sh" in message and "no such file or directory" in message


def test_deadline_kills_the_container(runner: DockerRunner, busybox_image: str,
                                      docker_client: docker.DockerClient, io_dirs: tuple[Path, Path]) -> None:
    name = f"podium-test-timeout-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], name=name,
                        policy=_policy(time_limit_seconds=3), command=["sleep", "600"])
    elapsed = time.monotonic() - started

    assert result.timed_out and not result.succeeded
    assert not result.killed_externally and not result.is_infrastructure_fault  # the runner's own kill
    assert 3 <= result.wall_seconds < 8 and elapsed < 12
    assert result.failure_message() == "time limit exceeded (3 s)"
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)


def test_memory_limit_ends_in_oom(runner: DockerRunner, python_base_image: str,
                                  io_dirs: tuple[Path, Path]) -> None:
    result = runner.run(python_base_image, input_dir=io_dirs[0], output_dir=io_dirs[1],
                        policy=_policy(memory_mb=64), command=["python3", "-c", "b = b'x' * (400 << 20)"])
    assert result.oom_killed and not result.succeeded and not result.killed_externally
    assert result.failure_message() == "memory limit exceeded (64 MiB)"


def test_huge_output_is_capped_and_memory_stays_bounded(runner: DockerRunner, busybox_image: str,
                                                        io_dirs: tuple[Path, Path]) -> None:
    script = (
        "dd if=/dev/zero bs=1048576 count=50 2>/dev/null; "
        "i=0; while [ $i -lt 3000 ]; do echo \"warning $i: $(printf '%080d' 0)\" >&2; i=$((i+1)); done; "
        "echo 'the last word' >&2; exit 1"
    )
    policy = _policy(log_kb=64)
    tracemalloc.start()
    try:
        result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=policy,
                            command=_sh(script))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(result.stdout) == policy.log_bytes and result.stdout == bytes(policy.log_bytes)
    assert result.stdout_truncated
    assert len(result.stderr) == policy.log_bytes and result.stderr_truncated
    assert result.stderr.endswith(b"the last word\n")
    assert result.failure_message() == "the container exited with code 1: the last word"
    assert peak < 8 * MIB, f"reading 50 MB of output peaked at {peak / MIB:.1f} MiB of Python memory"


def test_keyboard_interrupt_still_removes_the_container(runner: DockerRunner, busybox_image: str,
                                                        docker_client: docker.DockerClient,
                                                        io_dirs: tuple[Path, Path]) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    name = f"podium-test-interrupt-{uuid.uuid4().hex[:8]}"
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], name=name,
                       policy=_policy(), command=["sleep", "600"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)


def test_container_cannot_plant_links_to_host_files(runner: DockerRunner, busybox_image: str,
                                                    io_dirs: tuple[Path, Path]) -> None:
    script = ("mkdir /output/c1 && ln -s /etc/passwd /output/c1/x.json && mkfifo /output/c1/y.json"
              " && echo 1 > /output/c1/z.json")
    result = runner.run(busybox_image, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy(),
                        command=_sh(script))
    assert result.succeeded, result
    listing = collect_outputs(io_dirs[1], max_bytes=100)
    assert listing.files == {"c1/z.json": io_dirs[1] / "c1" / "z.json"}
    assert listing.rejected == {"c1/x.json": "symbolic link", "c1/y.json": "device or special file"}


def test_cleanup_removes_labelled_orphans(runner: DockerRunner, busybox_image: str,
                                          docker_client: docker.DockerClient) -> None:
    marker = uuid.uuid4().hex
    for _ in range(2):
        docker_client.containers.create(busybox_image, ["sleep", "600"], network_mode="none",
                                        labels={"podium.role": "algorithm", "podium.test": marker,
                                                "podium.scope": runner.scope})
    other = docker_client.containers.create(busybox_image, ["true"], network_mode="none",
                                            labels={"podium.test": marker, "podium.scope": runner.scope})
    try:
        assert runner.cleanup({"podium.role": "algorithm", "podium.test": marker}) == 2
        assert runner.cleanup({"podium.role": "algorithm", "podium.test": marker}) == 0
        other.reload()  # untouched: it lacks one of the labels
    finally:
        other.remove(force=True)
    with pytest.raises(ValueError):
        runner.cleanup({})


def test_unreachable_engine_is_a_runner_error(tmp_path: Path, io_dirs: tuple[Path, Path], runner_scope: str) -> None:
    socket_url = f"unix://{tmp_path}/no-docker.sock"
    with pytest.raises(RunnerError):
        DockerRunner.from_env(base_url=socket_url, scope=runner_scope)
    offline = DockerRunner(docker.DockerClient(base_url=socket_url, version="1.41", timeout=5), scope=runner_scope)
    with pytest.raises(RunnerError, match="lost the Docker engine"):
        offline.run("any", input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy())
    with pytest.raises(RunnerError):
        offline.load_image(Path(__file__))
    with pytest.raises(RunnerError):
        offline.cleanup({"podium.role": "algorithm"})


# ---- image loading -------------------------------------------------------------------------------


@pytest.mark.parametrize("named", [True, False], ids=["tagged", "untagged"])
def test_load_image_from_gzip_archive_and_run_it(named: bool, runner: DockerRunner, busybox_image: str,
                                                 docker_client: docker.DockerClient, image_factory,
                                                 tmp_path: Path, io_dirs: tuple[Path, Path]) -> None:
    tag = image_factory(f"FROM {busybox_image}\nRUN echo {uuid.uuid4().hex} > /marker\n"
                        'CMD ["sh", "-c", "mkdir /output/c1 && cat /marker > /output/c1/x.json"]\n')
    image = docker_client.images.get(tag)
    archive = tmp_path / "algorithm.tar.gz"
    with gzip.open(archive, "wb") as f:
        for chunk in image.save(named=named):
            f.write(chunk)
    docker_client.images.remove(tag, force=True)
    label = uuid.uuid4().hex[:12]

    image_id = runner.load_image(archive, label=label)
    try:
        assert image_id == image.id
        assert docker_client.images.get(f"podium-submission:{label}").id == image_id
        result = runner.run(image_id, input_dir=io_dirs[0], output_dir=io_dirs[1], policy=_policy())
        assert result.succeeded, result
        assert len((io_dirs[1] / "c1" / "x.json").read_text().strip()) == 32
    finally:
        runner.remove_image(image_id)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
    runner.remove_image(image_id)  # already gone: fine


def test_load_plain_tar_archive(runner: DockerRunner, busybox_image: str, docker_client: docker.DockerClient,
                                image_factory, tmp_path: Path) -> None:
    tag = image_factory(f"FROM {busybox_image}\nRUN echo {uuid.uuid4().hex} > /marker\n")
    archive = tmp_path / "algorithm.tar"
    with archive.open("wb") as f:
        for chunk in docker_client.images.get(tag).save():
            f.write(chunk)
    image_id = runner.load_image(archive)
    assert image_id == docker_client.images.get(tag).id


def test_load_image_rejects_a_broken_archive(runner: DockerRunner, tmp_path: Path) -> None:
    archive = tmp_path / "algorithm.tar.gz"
    with gzip.open(archive, "wb") as f:
        f.write(os.urandom(4096))
    with pytest.raises(ImageLoadError):
        runner.load_image(archive)
    with pytest.raises(ValueError):
        runner.load_image(archive, label="not a tag!")


def test_load_image_rejects_an_empty_tar(runner: DockerRunner, tmp_path: Path) -> None:
    archive = tmp_path / "empty.tar"
    tarfile.open(archive, "w").close()
    with pytest.raises(ImageLoadError):
        runner.load_image(archive)


def test_an_archive_cannot_take_over_a_tag_of_this_engine(runner: DockerRunner, busybox_image: str,
                                                          docker_client: docker.DockerClient, image_factory,
                                                          tmp_path: Path) -> None:
    victim = image_factory(f"FROM {busybox_image}\nRUN echo victim > /marker\n")
    intruder = image_factory(f"FROM {busybox_image}\nRUN echo intruder > /marker\n")
    victim_id = docker_client.images.get(victim).id
    intruder_image = docker_client.images.get(intruder)
    intruder_image.tag(victim)  # the archive will claim the victim's tag
    intruder_image.reload()
    archive = tmp_path / "algorithm.tar"
    with archive.open("wb") as f:
        for chunk in intruder_image.save(named=victim):
            f.write(chunk)
    docker_client.images.get(victim_id).tag(victim)  # back to normal before the load
    docker_client.images.remove(intruder, force=True)
    label = uuid.uuid4().hex[:12]

    image_id = runner.load_image(archive, label=label)

    assert image_id == intruder_image.id != victim_id
    assert docker_client.images.get(victim).id == victim_id
    runner.release_image(label)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"podium-submission:{label}")
    runner.remove_image(image_id)


def test_release_image_keeps_a_shared_image(runner: DockerRunner, busybox_image: str,
                                            docker_client: docker.DockerClient, tmp_path: Path) -> None:
    archive = tmp_path / "algorithm.tar"
    with archive.open("wb") as f:
        for chunk in docker_client.images.get(busybox_image).save(named=True):
            f.write(chunk)
    label = uuid.uuid4().hex[:12]
    image_id = runner.load_image(archive, label=label)
    runner.release_image(label)
    runner.release_image(label)  # twice: fine
    assert docker_client.images.get(busybox_image).id == image_id
