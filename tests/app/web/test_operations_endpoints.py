"""What operators watch: /metrics (Prometheus) and the RQ dashboard at /admin/rq (site admins only)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.models import EvaluationRun, Phase, Submission, SubmissionState, User
from app.resources import Resources
from app.tasks.queues import gpu_queue_name, job_queue
from app.usecases.users import create_user
from tests.app.test_authorization_matrix import sign_in
from tests.integration.helpers import apply_example


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _submissions(resources: Resources) -> None:
    """Two succeeded (runs of 0.8 s and 40 s, one loaded in 3 s), one failed by the participant, one by the platform,
    one queued."""
    with resources.session() as session:
        user, _ = create_user(session, "lab")
        phase = session.scalars(select(Phase)).first()
        assert phase is not None
        for state, platform, run in [(SubmissionState.SUCCEEDED, False, (0.8, None)),
                                     (SubmissionState.SUCCEEDED, False, (40.0, 3.0)),
                                     (SubmissionState.FAILED, False, None), (SubmissionState.FAILED, True, None),
                                     (SubmissionState.QUEUED, False, None)]:
            submission = Submission(phase_id=phase.id, user_id=user.id, state=state, failure_is_infrastructure=platform,
                                    infrastructure_faults=2 if platform else 0)
            session.add(submission)
            session.flush()
            if run:
                session.add(EvaluationRun(submission_id=submission.id, test_set_id=phase.current_test_set_id,
                                          container_seconds=run[0], image_load_seconds=run[1]))


def test_metrics_count_submissions_failures_durations_and_queues(resources: Resources, settings: Settings) -> None:
    apply_example(resources)
    _submissions(resources)
    job_queue(settings).enqueue("app.tasks.jobs.analyse_phase", 1)  # one job waiting, no worker

    response = create_app(settings).test_client().get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    seen = _samples(response.get_data(as_text=True))
    assert seen[("podium_submissions", (("state", "succeeded"),))] == 2
    assert seen[("podium_submissions", (("state", "queued"),))] == 1
    assert seen[("podium_submissions", (("state", "running"),))] == 0
    assert seen[("podium_failed_submissions_total", (("cause", "participant"),))] == 1
    assert seen[("podium_failed_submissions_total", (("cause", "platform"),))] == 1
    assert seen[("podium_infrastructure_faults_total", ())] == 2
    run = (("stage", "run"),)
    assert seen[("podium_stage_duration_seconds_count", run)] == 2
    assert seen[("podium_stage_duration_seconds_sum", run)] == 40.8
    assert seen[("podium_stage_duration_seconds_bucket", (("le", "1.0"), ("stage", "run")))] == 1
    assert seen[("podium_stage_duration_seconds_bucket", (("le", "60.0"), ("stage", "run")))] == 2
    assert seen[("podium_stage_duration_seconds_count", (("stage", "image_load"),))] == 1
    assert seen[("podium_queue_up", ())] == 1
    assert seen[("podium_queue_jobs_queued", (("queue", settings.queue_name),))] == 1
    assert seen[("podium_queue_jobs_queued", (("queue", gpu_queue_name(settings)),))] == 0
    assert seen[("podium_queue_workers", (("queue", settings.queue_name),))] == 0


def test_metrics_need_the_operators_token_when_one_is_set(resources: Resources, settings: Settings) -> None:
    client = create_app(settings.with_overrides(metrics_token="s3cret")).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and b"podium_submissions" in answer.data


def test_metrics_still_answer_with_the_queue_down(resources: Resources, settings: Settings) -> None:
    down = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
    seen = _samples(create_app(down).test_client().get("/metrics").get_data(as_text=True))
    assert seen[("podium_queue_up", ())] == 0 and ("podium_submissions", (("state", "queued"),)) in seen


def test_the_rq_dashboard_is_for_site_admins_and_changes_only_from_the_site(resources: Resources,
                                                                             settings: Settings) -> None:
    app = create_app(settings.with_overrides(rq_dashboard=True))
    with resources.session() as session:
        _, admin = create_user(session, "operator", is_admin=True)
        _, participant = create_user(session, "someone")
        assert session.scalar(select(User.is_admin).where(User.username == "operator"))
    assert app.test_client().get("/admin/rq/").status_code == 401
    client = app.test_client()
    sign_in(client, participant)
    assert client.get("/admin/rq/").status_code == 403

    client = app.test_client()
    sign_in(client, admin)
    page = client.get("/admin/rq/")
    assert page.status_code == 200 and b"RQ" in page.data
    queues = client.get("/admin/rq/0/data/queues.json")
    assert queues.status_code == 200 and "queues" in queues.get_json()
    # A change without this site's Origin (a forged cross-site form) is refused; from the site, it goes through.
    job_queue(settings).enqueue("app.tasks.jobs.analyse_phase", 1)
    empty = f"/admin/rq/queue/{settings.queue_name}/queued/empty"
    assert client.post(empty).status_code == 403
    assert client.post(empty, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get(f"/admin/rq/requeue/{settings.queue_name}").status_code == 403  # a change, on GET
    assert job_queue(settings).count == 1
    done = client.post(empty, headers={"Origin": "http://localhost"})
    assert done.status_code == 200, done.data
    assert job_queue(settings).count == 0
    assert create_app(settings).test_client().get("/admin/rq/").status_code == 404  # not mounted by default
