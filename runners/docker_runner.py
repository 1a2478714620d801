"""Run one algorithm container in the sandbox on the local (or a given) Docker engine."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import docker
import docker.errors
import docker.utils
import requests.exceptions
from docker.models.containers import Container
from docker.types import Mount

from runners.output_area import (
    BindOutputArea,
    OutputArea,
    OutputLimits,
    TmpfsOutputArea,
    prepare_bind_folder,
    sweep_stale_areas,
)
from runners.resource_usage import ResourceSampler
from runners.sandbox import MIB, SandboxPolicy

log = logging.getLogger(__name__)

ROLE_LABEL = "podium.role"
# Which Podium installation a container belongs to, on an engine several of them share (test sessions,
# staging and production): housekeeping only ever touches containers of its own scope. Every runner and every
# orphan sweep names its scope explicitly; nothing here reads it from the environment.
SCOPE_LABEL = "podium.scope"
# The variable app.config.Settings reads the installation's scope from (the runner itself never reads it).
SCOPE_ENV = "PODIUM_RUNNER_SCOPE"
SUBMISSION_REPOSITORY = "podium-submission"
CLIENT_TIMEOUT_SECONDS = 600
# How long to wait for the engine to stop a killed container and for the output stream to end.
_KILL_GRACE_SECONDS = 30.0
# How long to wait, once a container stopped, for the engine's "die" event (it normally takes milliseconds).
_EVENT_GRACE_SECONDS = 10.0
_ENGINE_TIME_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")
REMOVED_MESSAGE = "the container was removed by something other than Podium during the run"
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_LOADED_ID_RE = re.compile(r"Loaded image ID: (sha256:[0-9a-f]{64})")
_LOADED_REF_RE = re.compile(r"Loaded image: (\S+)")
_RENAMED_RE = re.compile(
    r"The image (\S+) already exists, renaming the old one with ID (sha256:[0-9a-f]{64})")
# Engine messages that mean the host, not the participant's image, is at fault.
_INFRA_MARKERS = ("no space left on device", "read-only file system", "input/output error",
                  "cannot allocate memory", "too many open files")
_START_FAILURE_RE = re.compile(r"unable to start container process: (.*?)(?:: unknown)?$", re.S)

# Transport errors: the engine is down or the socket broke.
_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)

OutputAreaMode = Literal["auto", "tmpfs", "bind"]


class RunnerError(Exception):
    """An infrastructure fault (engine unreachable, disk full, ...): retry later, never the participant's."""


class ImageLoadError(Exception):
    """The participant's image archive could not be loaded; the message is shown to the participant."""


@dataclass
class RunResult:
    """How a container run ended.

    stdout holds the first policy.log_bytes of the container's stdout, stderr the last policy.log_bytes
    of its stderr (the last lines say most about a failure). start_error is set when the container could
    not start at all because of its image (missing or non-executable entrypoint, no command).
    output_limit says which limit of /output the container hit ("16 MiB in /output"); then nothing was
    collected.
    killed_externally: something other than this runner killed, stopped or restarted the container while it
    ran (another installation's housekeeping, an operator's `docker kill`): an infrastructure fault, never
    the participant's; exit_code is then whatever the engine recorded (137 for SIGKILL).
    """

    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    wall_seconds: float
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    image_id: str
    wall_time_limit_seconds: float = 0.0
    memory_limit_bytes: int = 0
    start_error: str | None = None
    output_limit: str | None = None
    killed_externally: bool = False
    # What the container used, sampled from its cgroup (runners/resource_usage.py); None when not measured.
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None

    @property
    def succeeded(self) -> bool:
        return (self.exit_code == 0 and not self.timed_out and not self.oom_killed and not self.start_error
                and not self.output_limit and not self.killed_externally)

    @property
    def is_infrastructure_fault(self) -> bool:
        """The run failed because of the platform, not the participant's image: retry it, never blame them."""
        return self.killed_externally

    def last_stderr_line(self) -> str | None:
        for raw in reversed(self.stderr.splitlines()):
            line = _clean_text(raw.decode("utf-8", "replace"))
            if line:
                return line[:500]
        return None

    def failure_message(self, *, include_output: bool = True) -> str | None:
        """A message the participant can act on, or None when the run succeeded.

        include_output=False leaves out the container's own last stderr line (which may echo hidden inputs):
        only what the platform observed."""
        if self.succeeded:
            return None
        if self.killed_externally:
            return "the container was stopped by something other than Podium (not a fault of the submission)"
        if self.start_error:
            return f"the container could not start: {self.start_error}"
        if self.timed_out:
            return f"time limit exceeded ({self.wall_time_limit_seconds:g} s)"
        if self.oom_killed:
            return f"memory limit exceeded ({self.memory_limit_bytes // MIB} MiB)"
        if self.output_limit:
            return f"output limit exceeded ({self.output_limit})"
        if self.exit_code is None:
            return "the container ended without an exit code"
        last = self.last_stderr_line() if include_output else None
        message = f"the container exited with code {self.exit_code}"
        return f"{message}: {last}" if last else message


def _clean_text(text: str) -> str:
    """Drop control characters (terminal escapes and the like) and surrounding blanks."""
    return "".join(ch for ch in text if ch == "\t" or ch >= " " and ch != "\x7f").strip()


class _OutputReader(threading.Thread):
    """Drains a container's multiplexed output: keeps the head of stdout and the tail of stderr.

    It reads until the stream ends, whatever the caps: a container whose reader stops blocks on write.
    """

    def __init__(self, stream: Iterator[tuple[bytes | None, bytes | None]], cap: int) -> None:
        super().__init__(name="podium-container-output", daemon=True)
        self._stream = stream
        self._cap = cap
        self.stdout = bytearray()
        self.stdout_truncated = False
        self._stderr: deque[bytes] = deque()
        self._stderr_len = 0
        self.stderr_truncated = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for out, err in self._stream:
                if out:
                    self._add_stdout(out)
                if err:
                    self._add_stderr(err)
        except BaseException as exc:  # reported to the caller through self.error, never lost
            self.error = exc

    def _add_stdout(self, data: bytes) -> None:
        room = self._cap - len(self.stdout)
        if len(data) > room:
            self.stdout_truncated = True
            data = data[:max(room, 0)]
        self.stdout += data

    def _add_stderr(self, data: bytes) -> None:
        if len(data) >= self._cap:
            self.stderr_truncated = self.stderr_truncated or len(data) > self._cap or self._stderr_len > 0
            self._stderr.clear()
            data = data[-self._cap:]
            self._stderr_len = 0
        self._stderr.append(data)
        self._stderr_len += len(data)
        while self._stderr_len > self._cap:
            self.stderr_truncated = True
            excess = self._stderr_len - self._cap
            head = self._stderr[0]
            if len(head) <= excess:
                self._stderr.popleft()
                self._stderr_len -= len(head)
            else:
                self._stderr[0] = head[excess:]
                self._stderr_len -= excess

    @property
    def stderr(self) -> bytes:
        return b"".join(self._stderr)


class _EventWatch(threading.Thread):
    """Follows the engine's events for one container from its creation on, to tell who stopped it.

    The engine logs a "kill" event whenever anyone kills, stops, restarts or force-removes a running container
    (while it holds the container's lock, so before the container counts as stopped), and "die" once the
    container has stopped. Events are ordered: once "die" is in, every kill that ended the run is too. The
    stream starts at the container's creation time (engine clock), so nothing between subscribing and starting
    the container is missed, and it is live, so no event can have dropped out of the engine's short buffer.
    """

    def __init__(self, client: docker.DockerClient, container: Container, until_after_seconds: float) -> None:
        super().__init__(name="podium-container-events", daemon=True)
        since = _engine_seconds(container.attrs.get("Created"))
        # until: the stream ends by itself even if it cannot be closed (SSH) and the container is never removed.
        until = None if since is None else since + math.ceil(until_after_seconds)
        self._stream = client.events(since=since, until=until,
                                     filters={"container": container.id, "type": "container"}, decode=True)
        self.actions: list[str] = []
        self.died = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for event in self._stream:
                action = str(event.get("Action") or event.get("status") or "")
                self.actions.append(action)
                if action in ("die", "destroy"):
                    self.died.set()
                if action == "destroy":
                    break
        except BaseException as exc:  # reported to the caller through self.error, never lost
            self.error = exc
        finally:
            _close_quietly(self._stream)

    def close(self) -> None:
        _close_quietly(self._stream)
        self.join(5.0)

    @property
    def saw_kill(self) -> bool:
        return "kill" in self.actions


class DockerRunner:
    """Loads participants' images and runs them in the sandbox. The only code that talks to Docker."""

    def __init__(self, client: docker.DockerClient, output_area: OutputAreaMode = "auto", *,
                 scope: str) -> None:
        """output_area: how /output is provided (see runners/output_area.py). "tmpfs": a private tmpfs of
        policy.output_bytes per run, mounted by this process (needs root, and the engine in the same mount
        namespace); "bind": the caller's folder itself, capped only after the run; "auto": tmpfs when this
        process runs as root, otherwise bind (with a warning).
        scope: required, a non-empty string naming this installation on the engine: it labels this runner's
        containers (podium.scope) and limits cleanup() to them. There is no default: a runner without one
        could clean up another installation's running containers on a shared engine.
        """
        if output_area not in ("auto", "tmpfs", "bind"):
            raise ValueError(f"output_area must be 'auto', 'tmpfs' or 'bind', got {output_area!r}")
        self.client = client
        self.output_area = output_area
        self.scope = check_scope(scope)
        self._warned_bind = False

    @classmethod
    def from_env(cls, base_url: str | None = None, output_area: OutputAreaMode = "auto", *,
                 scope: str) -> DockerRunner:
        """A runner on the engine DOCKER_HOST points at (or base_url), with a generous client timeout."""
        check_scope(scope)  # before connecting: a missing scope is the caller's bug, not the engine's fault
        try:
            if base_url:
                client = docker.DockerClient(base_url=base_url, timeout=CLIENT_TIMEOUT_SECONDS)
            else:
                client = docker.from_env(timeout=CLIENT_TIMEOUT_SECONDS)
        except docker.errors.DockerException as exc:
            raise RunnerError(f"cannot reach the Docker engine: {exc}") from exc
        return cls(client, output_area, scope=scope)

    # ---- images -------------------------------------------------------------------------------

    def load_image(self, archive: Path, label: str | None = None) -> str:
        """Load a `docker save` archive (plain or gzip; streamed, never read into memory); return its id.

        With a label, the image is also tagged ``podium-submission:<label>``. The engine applies the
        archive's own repository tags; one that took over a tag already on this engine (an archive tagged
        ``podium/python-base:bookworm``, say) is given back to its previous image at once. Raises
        ImageLoadError when the engine rejects the archive, RunnerError when the engine or the host fails.
        """
        if label is not None and not _TAG_RE.fullmatch(label):
            raise ValueError(f"invalid image label {label!r}")
        ids: set[str] = set()
        refs: list[str] = []
        renamed: list[tuple[str, str]] = []
        try:
            try:
                with open(archive, "rb") as f:
                    for message in self.client.api.load_image(f):
                        _raise_for_load_error(message)
                        text = str(message.get("stream", ""))
                        ids.update(_LOADED_ID_RE.findall(text))
                        refs.extend(_LOADED_REF_RE.findall(text))
                        renamed.extend(_RENAMED_RE.findall(text))
                for ref in refs:  # resolved before any tag is given back
                    loaded_id = self.client.images.get(ref).id
                    if loaded_id is None:  # never happens: the engine always reports an image's id
                        raise RunnerError(f"the Docker engine reported no id for the loaded image {ref}")
                    ids.add(loaded_id)
            finally:
                self._restore_tags(renamed)
        except docker.errors.APIError as exc:
            _raise_for_load_error({"error": _explanation(exc)}, cause=exc, status=exc.status_code)
            raise
        except _TRANSPORT_ERRORS as exc:
            raise RunnerError(f"the Docker engine failed while loading an image: {exc}") from exc
        if not ids:
            raise ImageLoadError("the archive holds no image")
        if len(ids) > 1:
            # Not removed here: one of them may be an image this engine already had and still needs.
            log.warning("an image archive held %d images: %s", len(ids), sorted(ids))
            raise ImageLoadError(f"the archive holds {len(ids)} images; submit exactly one")
        image_id = ids.pop()
        if label is not None:
            self.label_image(image_id, label)
        return image_id

    def has_image(self, image_id: str) -> bool:
        """Whether the engine holds the image with exactly this id ("sha256:<hex>": the digest of its config)."""
        try:
            return self.client.images.get(image_id).id == image_id
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
            raise RunnerError(f"cannot inspect image {image_id}: {exc}") from exc

    def label_image(self, image_id: str, label: str) -> None:
        """Tag an image ``podium-submission:<label>`` (release_image drops the tag again)."""
        if not _TAG_RE.fullmatch(label):
            raise ValueError(f"invalid image label {label!r}")
        try:
            self.client.api.tag(image_id, SUBMISSION_REPOSITORY, label, force=True)
        except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
            raise RunnerError(f"cannot tag image {image_id}: {exc}") from exc

    def _restore_tags(self, renamed: list[tuple[str, str]]) -> None:
        """Point tags an archive took over back at the images that had them before the load."""
        for ref, old_id in renamed:
            repository, tag = docker.utils.parse_repository_tag(ref)
            log.warning("an image archive claimed the tag %s; giving it back to %s", ref, old_id)
            self.client.api.tag(old_id, repository, tag or "latest", force=True)

    def release_image(self, label: str) -> None:
        """Drop the ``podium-submission:<label>`` tag; the image goes once nothing else tags or uses it.

        Prefer this to remove_image when the same image may be shared (two identical submissions, or an
        archive of an image this engine already had).
        """
        try:
            self.client.images.remove(f"{SUBMISSION_REPOSITORY}:{label}")
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: a container still uses it; it goes with the last tag later
                raise RunnerError(f"cannot release image {SUBMISSION_REPOSITORY}:{label}: {exc}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise RunnerError(f"cannot release image {SUBMISSION_REPOSITORY}:{label}: {exc}") from exc

    def existing_tags(self, tags: list[str]) -> set[str]:
        """Which of these image references the engine already has (to leave them alone afterwards)."""
        present = set()
        for tag in tags:
            try:
                self.client.images.get(tag)
                present.add(tag)
            except docker.errors.ImageNotFound:
                continue
            except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
                raise RunnerError(f"cannot inspect image {tag}: {exc}") from exc
        return present

    def untag(self, tags: list[str]) -> None:
        """Remove these references (not forced: an image another tag or container uses stays)."""
        for tag in tags:
            try:
                self.client.images.remove(tag)
            except docker.errors.ImageNotFound:
                continue
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise RunnerError(f"cannot untag {tag}: {exc}") from exc

    def remove_image(self, image_id: str) -> None:
        """Remove an image and every tag it has, by force; an image that is already gone is fine."""
        try:
            self.client.images.remove(image_id, force=True)
        except docker.errors.ImageNotFound:
            pass
        except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
            raise RunnerError(f"cannot remove image {image_id}: {exc}") from exc

    # ---- runs ---------------------------------------------------------------------------------

    def run(
        self,
        image: str,
        *,
        input_dir: Path,
        output_dir: Path,
        policy: SandboxPolicy,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> RunResult:
        """Run image once in the sandbox with input_dir at /input (read-only) and a capped /output.

        output_dir must be an empty folder; afterwards it holds what the container wrote to /output (links
        copied as links, never followed), or stays empty when that exceeded policy.output_bytes (then
        RunResult.output_limit says so). Waits until the container exits or policy.wall_time_seconds pass
        (then kills it), and always removes the container and the /output area, also on errors and
        KeyboardInterrupt. Raises RunnerError on engine or host faults, and when something other than this
        runner removed the container mid-run. A participant's failure (non-zero exit, timeout, memory, output
        limit, unstartable image) is a RunResult; so is a run that something other than this runner killed or
        stopped (RunResult.killed_externally, an infrastructure fault: see is_infrastructure_fault).
        """
        input_dir = Path(input_dir).resolve()
        output_dir = Path(output_dir).resolve()
        if not input_dir.is_dir():
            raise ValueError(f"input_dir {input_dir} is not a directory")
        if not output_dir.is_dir():
            raise ValueError(f"output_dir {output_dir} is not a directory")
        if any(output_dir.iterdir()):
            raise ValueError(f"output_dir {output_dir} is not empty")
        prepare_input_dir(input_dir)
        area = self._open_output_area(output_dir, policy)
        try:
            result = self._run_container(image, input_dir, area, policy, name, labels, command)
            try:
                limit = area.collect(output_dir)
            except OSError as exc:
                raise RunnerError(f"could not collect the container's /output: {exc}") from exc
            return dataclasses.replace(result, output_limit=limit) if limit else result
        finally:
            try:
                area.close()
            except OSError as exc:  # never hide the run's own outcome or error
                log.error("could not remove the /output area %s: %s", area.source, exc)

    def _open_output_area(self, output_dir: Path, policy: SandboxPolicy) -> OutputArea:
        mode = self.output_area
        if mode == "tmpfs" or (mode == "auto" and os.geteuid() == 0):
            try:
                sweep_stale_areas()
            except OSError as exc:
                log.warning("could not look for stale /output areas: %s", exc)
            try:
                return TmpfsOutputArea.create(output_dir.parent, OutputLimits(policy.output_bytes), policy.uid,
                                              policy.gid)
            except PermissionError as exc:
                if mode == "tmpfs":
                    raise RunnerError(f"cannot mount the capped /output (needs root): {exc}") from exc
            except OSError as exc:
                raise RunnerError(f"cannot set up the capped /output: {exc}") from exc
        if not self._warned_bind:
            log.warning("/output is a plain bind mount of the worker's folder, capped only after the run: a "
                        "container can fill the worker's disk. Run the worker as root for a capped tmpfs.")
            self._warned_bind = True
        return BindOutputArea(output_dir, policy.uid, policy.gid)

    def _run_container(self, image: str, input_dir: Path, area: OutputArea, policy: SandboxPolicy,
                       name: str | None, labels: dict[str, str] | None, command: list[str] | None) -> RunResult:
        create_kwargs: dict[str, Any] = policy.container_kwargs(self.client.api.api_version,
                                                                extra_memory_bytes=area.memory_bytes)
        create_kwargs.update(
            command=command,
            name=name,
            labels={ROLE_LABEL: "algorithm", **(labels or {}), SCOPE_LABEL: self.scope},
            mounts=[
                Mount(target="/input", source=str(input_dir), type="bind", read_only=True,
                      propagation="rprivate"),
                Mount(target="/output", source=str(area.source), type="bind", read_only=False,
                      propagation="rprivate"),
            ],
        )
        container: Container | None = None
        try:
            try:
                container = self.client.containers.create(image, **create_kwargs)
            except docker.errors.APIError as exc:
                if _is_image_fault(exc):
                    return self._unstartable(image, policy, _explanation(exc))
                raise
            return self._start_and_wait(container, policy)
        except docker.errors.APIError as exc:
            raise RunnerError(f"the Docker engine refused the run: {_explanation(exc)}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise RunnerError(f"lost the Docker engine during the run: {exc}") from exc
        finally:
            if container is not None:
                self._remove_container(container)

    def _start_and_wait(self, container: Container, policy: SandboxPolicy) -> RunResult:
        # Subscribe to the container's events before it starts: they tell a kill this runner did not order.
        watch = _EventWatch(self.client, container, policy.wall_time_seconds + 3 * _KILL_GRACE_SECONDS + 60)
        watch.start()
        try:
            return self._watched_run(container, policy, watch)
        except docker.errors.NotFound as exc:  # inspect, wait or start of a container someone else removed
            raise RunnerError(REMOVED_MESSAGE) from exc
        finally:
            watch.close()

    def _watched_run(self, container: Container, policy: SandboxPolicy, watch: _EventWatch) -> RunResult:
        # Attach before start so that no output is missed; the stream ends when the container stops.
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=False, demux=True)
        reader = _OutputReader(stream, policy.log_bytes)
        reader.start()
        timed_out = False
        sampler: ResourceSampler | None = None
        try:
            started = time.monotonic()
            try:
                container.start()
            except docker.errors.APIError as exc:
                if _is_start_fault(exc):
                    return self._unstartable(container.attrs.get("Image", ""), policy, _start_failure(exc))
                raise
            # Its cgroup goes with the container: read it while it runs.
            sampler = ResourceSampler(self.client.api, str(container.id))
            sampler.start()
            deadline = started + policy.wall_time_seconds
            status = self._wait(container, deadline)
            if status is None:
                timed_out = True
                self._kill(container)  # the only kill this runner ever orders
                status = self._wait(container, time.monotonic() + _KILL_GRACE_SECONDS)
            wall = time.monotonic() - started
            usage = sampler.stop()
            reader.join(_KILL_GRACE_SECONDS)
        finally:
            _close_quietly(stream)
            if sampler is not None:
                sampler.stop()  # also when the engine failed mid-run: no thread keeps polling
        if reader.is_alive():
            log.warning("container %s: output stream did not end; output may be incomplete", container.id)
        elif reader.error is not None:
            log.warning("container %s: reading output failed: %r", container.id, reader.error)
        events_complete = timed_out or watch.died.wait(_EVENT_GRACE_SECONDS)
        container.reload()
        state = container.attrs.get("State", {})
        if container.status in ("removing", "dead") or "destroy" in watch.actions:
            raise RunnerError(REMOVED_MESSAGE)
        exit_code = state.get("ExitCode")
        if exit_code is None and status is not None:
            exit_code = status.get("StatusCode")
        # After a timeout the runner killed the container itself: that run is the participant's time limit.
        killed_externally = not timed_out and watch.saw_kill
        if not killed_externally and not events_complete:
            log.warning("container %s: the engine's events ended without its death (%r); cannot tell who "
                        "stopped it", container.id, watch.error)
            if exit_code != 0 and not state.get("OOMKilled"):  # perhaps killed from outside: never guess
                raise RunnerError("could not tell whether something other than Podium stopped the container "
                                  f"(it exited with code {exit_code}): the engine's event stream failed")
        if killed_externally:
            log.warning("container %s was killed by something other than Podium (events: %s)", container.id,
                        ", ".join(watch.actions))
        return RunResult(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")),
            wall_seconds=wall,
            stdout=bytes(reader.stdout),
            stderr=reader.stderr,
            stdout_truncated=reader.stdout_truncated,
            stderr_truncated=reader.stderr_truncated,
            image_id=container.attrs.get("Image", ""),
            wall_time_limit_seconds=policy.wall_time_seconds,
            memory_limit_bytes=policy.memory_bytes,
            killed_externally=killed_externally,
            cpu_seconds=usage.cpu_seconds,
            peak_memory_bytes=usage.peak_memory_bytes,
        )

    def _wait(self, container: Container, deadline: float) -> Mapping[str, Any] | None:
        """The wait response once the container stopped, or None when the deadline passed first."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                return container.wait(timeout=remaining)
            except _TRANSPORT_ERRORS:
                # A read timeout looks like this; an engine that went away too. Tell them apart.
                if time.monotonic() < deadline - 1.0:
                    raise
                container.reload()
                if container.status not in ("running", "created", "restarting", "paused"):
                    return container.wait(timeout=_KILL_GRACE_SECONDS)

    @staticmethod
    def _kill(container: Container) -> None:
        try:
            container.kill()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: it stopped on its own meanwhile
                raise

    def _remove_container(self, container: Container) -> None:
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in _explanation(exc):
                log.error("could not remove container %s: %s", container.id, exc)
        except _TRANSPORT_ERRORS as exc:
            log.error("could not remove container %s (engine unreachable): %s", container.id, exc)

    def _unstartable(self, image: str, policy: SandboxPolicy, message: str) -> RunResult:
        return RunResult(
            exit_code=None, timed_out=False, oom_killed=False, wall_seconds=0.0, stdout=b"", stderr=b"",
            stdout_truncated=False, stderr_truncated=False, image_id=image,
            wall_time_limit_seconds=policy.wall_time_seconds, memory_limit_bytes=policy.memory_bytes,
            start_error=message,
        )

    # ---- housekeeping -------------------------------------------------------------------------

    def cleanup(self, label_selector: dict[str, str]) -> int:
        """Remove every container (running or not) of this runner's scope carrying all the given labels;
        return how many."""
        if not label_selector:
            raise ValueError("cleanup needs at least one label, or it would remove every container")
        labels = [f"{key}={value}" for key, value in label_selector.items()] + [f"{SCOPE_LABEL}={self.scope}"]
        filters: dict[str, str | list[str] | bool] = {"label": labels}
        removed = 0
        try:
            for container in self.client.containers.list(all=True, filters=filters, ignore_removed=True):
                if not in_scope(container.labels, self.scope):
                    continue
                try:
                    container.remove(force=True, v=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    # 409 "removal ... already in progress": the run that owns it is removing it (a cancel
                    # stops each run while this sweep goes by); it is going, which is what was asked.
                    if "already in progress" not in _explanation(exc):
                        raise
        except (docker.errors.APIError, *_TRANSPORT_ERRORS) as exc:
            raise RunnerError(f"cannot clean up containers: {exc}") from exc
        return removed


# ---- helpers ------------------------------------------------------------------------------------


def _engine_seconds(text: object) -> int | None:
    """Whole seconds since the epoch (rounded down) of a timestamp the engine reported, or None."""
    match = _ENGINE_TIME_RE.fullmatch(str(text or ""))
    if match is None:
        return None
    offset = "+00:00" if match.group(2) == "Z" else match.group(2)
    return math.floor(datetime.fromisoformat(match.group(1) + offset).timestamp())


def check_scope(scope: object) -> str:
    """scope itself when it is a usable runner scope (a non-empty string); ValueError otherwise."""
    if not isinstance(scope, str) or not scope.strip():
        raise ValueError(f"a runner scope must be a non-empty string, got {scope!r}")
    return scope


def in_scope(labels: dict[str, str] | None, scope: str) -> bool:
    """Whether a container with these labels belongs to scope."""
    return (labels or {}).get(SCOPE_LABEL) == scope


def prepare_input_dir(input_dir: Path) -> None:
    """Make every file and directory under input_dir readable (and directories searchable) by anyone.

    The container runs as an unprivileged user that owns nothing on the host. Links are not followed.
    """
    for root, dirs, files in os.walk(input_dir):
        for name in [*dirs, *files, None]:
            path = os.path.join(root, name) if name else root
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                wanted = st.st_mode | 0o555
            elif stat.S_ISREG(st.st_mode):
                wanted = st.st_mode | 0o444
            else:
                continue
            if wanted != st.st_mode:
                os.chmod(path, stat.S_IMODE(wanted), follow_symlinks=False)


prepare_output_dir = prepare_bind_folder  # kept for callers of the old name


def _close_quietly(stream: Any) -> None:
    """Close an output stream; one the engine already closed (or an SSH one) may complain, harmlessly."""
    try:
        stream.close()
    except Exception as exc:  # the container is removed next anyway, which ends the stream for good
        log.debug("closing an output stream failed: %r", exc)


def _explanation(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _raise_for_load_error(message: dict[str, Any], cause: Exception | None = None,
                          status: int | None = None) -> None:
    error = message.get("error") or (message.get("errorDetail") or {}).get("message")
    if not error:
        return
    text = str(error).strip()
    if any(marker in text.lower() for marker in _INFRA_MARKERS) or (status is not None and status >= 502):
        raise RunnerError(f"the Docker engine failed to load an image: {text}") from cause
    raise ImageLoadError(f"the image archive could not be loaded: {text}") from cause


def _is_image_fault(exc: docker.errors.APIError) -> bool:
    """Create refused because of the image's own configuration (e.g. no command at all)."""
    return exc.status_code == 400 and "no command specified" in _explanation(exc).lower()


def _is_start_fault(exc: docker.errors.APIError) -> bool:
    """Start refused because the image's entrypoint cannot be executed."""
    text = _explanation(exc)
    return "unable to start container process: exec:" in text and not any(
        marker in text.lower() for marker in _INFRA_MARKERS)


def _start_failure(exc: docker.errors.APIError) -> str:
    text = _explanation(exc)
    match = _START_FAILURE_RE.search(text)
    return (match.group(1) if match else text).strip()
