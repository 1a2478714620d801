"""Queue the import of a Codabench bundle the site stored (the job: app.tasks.jobs.import_codabench_bundle).

Apart from app/tasks/codabench_import.py so that the web process, which wires this in, never imports the docker SDK.
"""

from __future__ import annotations

from app.config import Settings
from app.tasks.queues import job_queue

IMPORT_TIMEOUT_SECONDS = 3 * 3600  # unpacking, the image builds and the test set uploads of a large bundle


def enqueue_codabench_import(settings: Settings, token: str) -> None:
    job_queue(settings).enqueue("app.tasks.jobs.import_codabench_bundle", token, job_timeout=IMPORT_TIMEOUT_SECONDS,
                                description=f"import Codabench bundle {token}", result_ttl=24 * 3600,
                                failure_ttl=7 * 24 * 3600)
