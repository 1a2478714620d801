"""Job functions. They take ids, build their own resources and close them before returning."""

from __future__ import annotations

import logging
import os
import socket

from app.config import Settings
from app.models import Submission
from app.pipeline.analysis import analyse_phase
from app.pipeline.attempt import evaluate_submission
from app.resources import Resources
from app.tasks.queues import enqueue_analysis
from runners.docker_runner import DockerRunner

log = logging.getLogger(__name__)


def evaluate(submission_id: int) -> str:
    settings = Settings.from_env()
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    try:
        outcome = evaluate_submission(resources, runner, submission_id, worker_name=worker_name())
        log.info("submission %s: %s", submission_id, outcome)
        if outcome == "succeeded":
            with resources.session() as session:
                phase_id = session.get(Submission, submission_id).phase_id
            enqueue_analysis(settings, phase_id)
        return outcome
    finally:
        runner.client.close()
        resources.close()


def analyse(phase_id: int) -> str:
    """Recompute a phase's leaderboard statistics (it needs the ground truth, so it runs here)."""
    resources = Resources(Settings.from_env())
    try:
        analysis = analyse_phase(resources, phase_id)
        return "unchanged" if analysis is None else f"analysis {analysis.id}"
    finally:
        resources.close()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
