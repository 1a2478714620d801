"""One Podium instance per test: the example challenge, participants, the REST API and a real RQ worker."""

from __future__ import annotations

import random
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from rq.registry import FailedJobRegistry

from app import create_app
from app.config import Settings
from app.models import Submission, SubmissionState, User
from app.queries.phases import get_phase
from app.resources import Resources
from app.tasks.queues import job_queue
from app.tasks.worker import queued_job_count
from app.usecases.submissions import upload_tmp_dir
from runners.output_area import mounted_areas
from tests.integration.helpers import (
    CHALLENGE,
    PHASE,
    apply_example,
    drain_queue,
    get_submission,
    make_user,
    set_log_visibility,
    submit_archive,
)


@dataclass(frozen=True)
class TestSet:
    __test__ = False

    storage_prefix: str
    content_hash: str
    case_ids: list[str]


@dataclass
class Platform:
    resources: Resources
    settings: Settings
    client: FlaskClient = field(init=False)
    submissions: dict[int, str] = field(default_factory=dict)  # id -> token of its owner

    def __post_init__(self) -> None:
        apply_example(self.resources)
        # The hostile suite reads every log a container wrote: the worst case for what a page must survive.
        set_log_visibility(self.resources, "full")
        self.client = create_app(self.settings).test_client()
        self._reserve_unique_ids()

    def _reserve_unique_ids(self) -> None:
        """Start this database's submission ids at a random offset.

        The worker labels containers and images with the submission id and removes containers "of a dead
        attempt" by that label, on an engine that other test sessions share: without this, submission 1
        of another session's database could take down this session's submission 1.
        """
        with self.resources.session() as session:
            phase = get_phase(session, CHALLENGE, PHASE)
            user = User(username="id-reservation", display_name="id reservation")
            session.add(user)
            session.flush()
            session.add(Submission(id=random.randint(10**6, 10**9), phase_id=phase.id, user_id=user.id,
                                   state=SubmissionState.FAILED, failure_message="reserves an id range"))

    def participant(self, name: str) -> str:
        return make_user(self.resources, name)

    def set_limits(self, **limits: Any) -> None:
        """Change the phase's limits (time_limit_seconds=..., max_upload_mb=..., ...)."""
        with self.resources.session() as session:
            phase = get_phase(session, CHALLENGE, PHASE)
            for name, value in limits.items():
                assert hasattr(phase, name), name
                setattr(phase, name, value)

    def test_set(self) -> TestSet:
        with self.resources.session() as session:
            test_set = get_phase(session, CHALLENGE, PHASE).current_test_set
            assert test_set is not None
            return TestSet(test_set.storage_prefix, test_set.content_hash, [c.case_key for c in test_set.cases])

    # ---- the API --------------------------------------------------------------------------------------

    def submit(self, token: str, archive: Path) -> int:
        status, body = submit_archive(self.client, token, archive)
        assert status == 201, body
        assert body["state"] == "queued", body
        self.submissions[body["id"]] = token
        return int(body["id"])

    def refuse(self, token: str, archive: Path) -> tuple[int, dict[str, Any]]:
        status, body = submit_archive(self.client, token, archive)
        assert status != 201, body
        if "submission_id" in body:
            self.submissions[body["submission_id"]] = token
        return status, body

    def result(self, submission_id: int) -> dict[str, Any]:
        return get_submission(self.client, self.submissions[submission_id], submission_id)

    def log(self, submission_id: int, stream: str) -> bytes:
        response = self.client.get(f"/api/v1/submissions/{submission_id}/logs/{stream}",
                                   headers={"Authorization": f"Bearer {self.submissions[submission_id]}"})
        assert response.status_code == 200, response.get_json()
        return response.data

    def queued(self) -> int:
        return queued_job_count(self.settings)

    # ---- the worker -----------------------------------------------------------------------------------

    def drain(self) -> int:
        """Run a real RQ worker until the queue is empty; assert that it survived every job.

        Returns the peak resident memory (bytes) of the largest process the worker forked so far.
        """
        drain_queue(self.settings)
        queue = job_queue(self.settings)
        crashed = {job.id: job.exc_info for job in map(queue.fetch_job, FailedJobRegistry(queue=queue).get_job_ids())
                   if job is not None}
        assert crashed == {}, "a job crashed the work horse"
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    # ---- leftovers ------------------------------------------------------------------------------------

    def leftovers(self, tmp_path: Path) -> list[str]:
        """Work folders, spooled uploads, /output areas or containers this test's platform left behind."""
        found = []
        runs = self.settings.worker_cache_dir / "runs"
        if runs.is_dir():
            found.extend(f"work folder {p}" for p in runs.iterdir())
        uploads = upload_tmp_dir(self.settings.data_dir)
        if uploads.is_dir():
            found.extend(f"spooled upload {p}" for p in uploads.iterdir())
        found.extend(f"mounted /output area {p}" for p in mounted_areas() if tmp_path in p.parents)
        return found
