"""Job functions. They take ids, build their own runtime and close it before returning."""

from __future__ import annotations

import logging
import os
import socket

from app.config import Settings
from app.runtime import Runtime
from app.services.evaluation import evaluate_submission
from runners.docker_runner import DockerRunner

log = logging.getLogger(__name__)


def evaluate(submission_id: int) -> str:
    settings = Settings.from_env()
    runtime = Runtime(settings)
    runner = DockerRunner.from_env(settings.docker_base_url)
    try:
        outcome = evaluate_submission(runtime, runner, submission_id, worker_name=worker_name())
        log.info("submission %s: %s", submission_id, outcome)
        return outcome
    finally:
        runner.client.close()
        runtime.close()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
