"""Find and remove algorithm containers left behind by a worker that died mid-run."""

from __future__ import annotations

from collections.abc import Callable

import docker
import docker.errors

from runners.docker_runner import RunnerError

ROLE_LABEL = "podium.role"
SUBMISSION_LABEL = "podium.submission"


def remove_orphans(client: docker.DockerClient, is_live: Callable[[int], bool]) -> list[int]:
    """Remove every Podium algorithm container whose submission no live attempt holds.

    Returns the submission ids whose containers were removed.
    """
    try:
        containers = client.containers.list(all=True, filters={"label": f"{ROLE_LABEL}=algorithm"})
    except docker.errors.APIError as exc:
        raise RunnerError(f"cannot list containers: {exc}") from exc
    removed = []
    for container in containers:
        label = container.labels.get(SUBMISSION_LABEL, "")
        if not label.isdigit() or is_live(int(label)):
            continue
        try:
            container.remove(force=True)
            removed.append(int(label))
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            raise RunnerError(f"cannot remove orphaned container {container.name}: {exc}") from exc
    return removed
