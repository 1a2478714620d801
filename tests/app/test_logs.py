"""Every Podium process logs through app.logs: one line per event, the job's context (submission id) on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import logging
from app.logs import bound, configure_logging
configure_logging()
log = logging.getLogger("app.pipeline.attempt")
with bound(submission_id=7):
    log.info("staged %d cases", 3)
    logging.getLogger("runners.docker_runner").warning("container exited")
log.info("between jobs")
"""


def _run(**env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return done.stderr.strip().splitlines()


def test_every_line_of_a_job_names_its_submission_and_no_other_line_does() -> None:
    staged, exited, between = _run(PODIUM_LOG_FORMAT="")
    assert staged.endswith(" INFO app.pipeline.attempt: staged 3 cases [submission_id=7]"), staged
    assert exited.endswith(" WARNING runners.docker_runner: container exited [submission_id=7]"), exited
    assert between.endswith(" INFO app.pipeline.attempt: between jobs"), between


def test_json_lines_for_a_log_collector() -> None:
    first, _, last = (json.loads(line) for line in _run(PODIUM_LOG_FORMAT="json"))
    assert first["submission_id"] == 7 and first["event"] == "staged 3 cases" and first["level"] == "info"
    assert first["logger"] == "app.pipeline.attempt" and "submission_id" not in last
