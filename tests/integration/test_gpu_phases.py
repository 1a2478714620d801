"""GPU phases (limits.gpus): their submissions go to a queue that only `podium worker --gpu` listens on, and the
container asks the engine for that many GPUs. This machine has none: the engine refuses the request, which is the
platform's fault (the participant is not charged), and shows the request reached the engine."""

from __future__ import annotations

import pytest
from docker.types import DeviceRequest
from sqlalchemy import select, update

from app import create_app
from app.config import Settings
from app.models import Challenge, Phase, Submission
from app.resources import Resources
from app.tasks.queues import gpu_job_queue, job_queue
from app.tasks.worker import run_worker
from runners.sandbox import SandboxPolicy
from tests.integration.helpers import CHALLENGE, apply_example, make_user, submit_archive

pytestmark = pytest.mark.docker


def _policy(gpus: int) -> SandboxPolicy:
    return SandboxPolicy.from_limits(time_limit_seconds=60, memory_mb=256, cpus=1, pids=64, tmp_mb=16, output_mb=16,
                                     log_kb=64, gpus=gpus)


def test_a_gpu_policy_asks_the_engine_for_its_gpus_and_nothing_else_of_the_host() -> None:
    kwargs = _policy(2).container_kwargs("1.44")
    [request] = kwargs["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert request["Count"] == 2 and request["Capabilities"] == [["gpu"]]
    assert kwargs["devices"] == [] and kwargs["privileged"] is False and kwargs["network_mode"] == "none"
    assert "device_requests" not in _policy(0).container_kwargs("1.44")
    with pytest.raises(ValueError, match="gpus"):
        _policy(-1)


def _ask_for_gpus(resources: Resources, gpus: int) -> None:
    with resources.session() as session:
        challenge_id = session.scalar(select(Challenge.id).where(Challenge.slug == CHALLENGE))
        session.execute(update(Phase).where(Phase.challenge_id == challenge_id).values(gpus=gpus))


def test_a_gpu_phase_is_run_only_by_a_gpu_worker(resources: Resources, settings: Settings, baseline_archives,
                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PODIUM_MAX_INFRASTRUCTURE_FAULTS", "1")  # the job reads the environment
    apply_example(resources)
    _ask_for_gpus(resources, 1)
    client = create_app(settings).test_client()
    status, created = submit_archive(client, make_user(resources, "lab"),
                                     baseline_archives["single-feature"].archive, "on a GPU")
    assert status == 201, created
    assert gpu_job_queue(settings).count == 1 and job_queue(settings).count == 0

    run_worker(settings, burst=True)  # a CPU worker: the GPU queue is not its business
    assert gpu_job_queue(settings).count == 1
    with resources.session() as session:
        assert session.get(Submission, created["id"]).state == "queued"

    run_worker(settings, burst=True, gpu=True)
    assert gpu_job_queue(settings).count == 0
    with resources.session() as session:
        submission = session.get(Submission, created["id"])
        # No GPU on this engine: "could not select device driver ... with capabilities: [[gpu]]" is the
        # platform's fault, never the participant's.
        assert (submission.state, submission.failure_is_infrastructure, submission.infrastructure_faults) == (
            "failed", True, 1), submission.failure_message


def test_a_gpu_phase_runs_one_case_at_a_time() -> None:
    from pydantic import ValidationError

    from app.challenge_yaml import Limits

    with pytest.raises(ValidationError, match="one case at a time"):
        Limits(gpus=1, cases_in_parallel=2)
    assert Limits(gpus=1).cases_in_parallel == 1 and Limits(cases_in_parallel=4).gpus == 0
