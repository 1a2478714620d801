"""Find and remove algorithm containers left behind by a worker that died mid-run."""

from __future__ import annotations

from collections.abc import Callable

import docker
import docker.errors

from runners.docker_runner import SCOPE_LABEL, RunnerError, check_scope, in_scope

ROLE_LABEL = "podium.role"
SUBMISSION_LABEL = "podium.submission"


def remove_orphans(client: docker.DockerClient, is_live: Callable[[int], bool], *, scope: str) -> list[int]:
    """Remove every Podium algorithm container of this scope whose submission no live attempt holds.

    scope: required, as DockerRunner's (a non-empty string; ValueError otherwise). Containers of another scope
    belong to another installation on the same engine, whose database says nothing about them: they are left
    alone. Returns the submission ids whose containers were removed.
    """
    check_scope(scope)
    filters: dict[str, str | list[str] | bool] = {"label": [f"{ROLE_LABEL}=algorithm", f"{SCOPE_LABEL}={scope}"]}
    try:
        containers = client.containers.list(all=True, filters=filters, ignore_removed=True)
    except docker.errors.APIError as exc:
        raise RunnerError(f"cannot list containers: {exc}") from exc
    removed = []
    for container in containers:
        if not in_scope(container.labels, scope):  # the engine filtered already; never trust one filter alone
            continue
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
