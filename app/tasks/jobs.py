"""Job functions. They take ids, build their own runtime and close it before returning."""

from __future__ import annotations

import logging
import os
import socket

from app.config import Settings
from app.models import Submission
from app.runtime import Runtime
from app.services.analysis import analyse_phase
from app.services.evaluation import evaluate_submission
from app.tasks.queues import enqueue_analysis
from runners.docker_runner import DockerRunner

log = logging.getLogger(__name__)


def evaluate(submission_id: int) -> str:
    settings = Settings.from_env()
    runtime = Runtime(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    try:
        outcome = evaluate_submission(runtime, runner, submission_id, worker_name=worker_name())
        log.info("submission %s: %s", submission_id, outcome)
        if outcome == "succeeded":
            with runtime.session() as session:
                phase_id = session.get(Submission, submission_id).phase_id
            enqueue_analysis(settings, phase_id)
        return outcome
    finally:
        runner.client.close()
        runtime.close()


def analyse(phase_id: int) -> str:
    """Recompute a phase's leaderboard statistics (it needs the ground truth, so it runs here)."""
    runtime = Runtime(Settings.from_env())
    try:
        analysis = analyse_phase(runtime, phase_id)
        return "unchanged" if analysis is None else f"analysis {analysis.id}"
    finally:
        runtime.close()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
