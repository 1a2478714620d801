"""Analyses per test set version (app/tasks/queues.py, app/pipeline/analysis.py): a re-evaluation's version is
analysed apart from the ranked one, and its requests coalesce apart from the ranked version's. Real Redis and RQ."""

from __future__ import annotations

from app.config import Settings
from app.resources import Resources
from app.tasks.queues import analysis_started, enqueue_analysis, job_queue


def _analysis_jobs(settings: Settings) -> list[tuple[int, ...]]:
    jobs = job_queue(settings).get_jobs()
    return [tuple(job.args) for job in jobs if job.func_name == "app.tasks.jobs.analyse_phase"]


def test_a_version_s_requests_coalesce_apart_from_the_ranked_one_s(settings: Settings) -> None:
    assert enqueue_analysis(settings, 7) and not enqueue_analysis(settings, 7)
    assert [enqueue_analysis(settings, 7, test_set_id=3) for _ in range(3)] == [True, False, False]
    assert enqueue_analysis(settings, 7, test_set_id=4)
    analysis_started(settings, 7, test_set_id=3)  # its job took it; the ranked version's still waits
    assert enqueue_analysis(settings, 7, test_set_id=3) and not enqueue_analysis(settings, 7)
    assert _analysis_jobs(settings) == [(7,), (7, 3), (7, 4), (7, 3)]


def test_the_job_of_a_version_clears_its_own_mark(settings: Settings, resources: Resources) -> None:
    from app.tasks.jobs import analyse_phase

    assert enqueue_analysis(settings, 12345, test_set_id=9) and enqueue_analysis(settings, 12345)
    assert analyse_phase(12345, 9) == "unchanged"
    assert enqueue_analysis(settings, 12345, test_set_id=9) and not enqueue_analysis(settings, 12345)
