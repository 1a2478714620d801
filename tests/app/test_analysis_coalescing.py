"""Analysis requests coalesce (app/tasks/queues.py): at most one analysis of a phase waits in the queue, and the job
clears the mark as it starts, so a submission scored while it runs queues exactly one more. Real Redis and RQ."""

from __future__ import annotations

from app.config import Settings
from app.resources import Resources
from app.tasks.queues import analysis_started, enqueue_analysis, job_queue, redis_connection


def _analysis_jobs(settings: Settings) -> list[tuple[int, ...]]:
    queue = job_queue(settings)
    return [tuple(job.args) for job in queue.get_jobs() if job.func_name == "app.tasks.jobs.analyse_phase"]


def test_requests_while_one_waits_queue_nothing_more(settings: Settings) -> None:
    assert [enqueue_analysis(settings, 7) for _ in range(5)] == [True, False, False, False, False]
    assert enqueue_analysis(settings, 8)  # another phase has its own
    assert _analysis_jobs(settings) == [(7,), (8,)]


def test_a_request_after_the_job_started_queues_one_more(settings: Settings) -> None:
    assert enqueue_analysis(settings, 7)
    analysis_started(settings, 7)  # the job took it: it reads the phase from now on
    assert enqueue_analysis(settings, 7) and not enqueue_analysis(settings, 7)
    assert _analysis_jobs(settings) == [(7,), (7,)]


def test_queues_of_other_installations_do_not_coalesce_with_this_one(settings: Settings) -> None:
    other = Settings(**{**settings.__dict__, "queue_name": settings.queue_name + "-other"})
    assert enqueue_analysis(settings, 7) and enqueue_analysis(other, 7)
    assert _analysis_jobs(settings) == [(7,)] and _analysis_jobs(other) == [(7,)]
    redis_connection(other).delete(f"rq:queue:{other.queue_name}")


def test_the_job_clears_the_mark_before_it_reads(settings: Settings, resources: Resources) -> None:
    """The job function itself (as the worker runs it) clears the mark, even for a phase that does not exist."""
    from app.tasks.jobs import analyse_phase

    assert enqueue_analysis(settings, 12345)
    assert analyse_phase(12345) == "unchanged"
    assert enqueue_analysis(settings, 12345)
