"""GET /metrics: Prometheus metrics for operators (docs/operations.md, "Monitoring").

Read at scrape time from the database (app/queries/operations.py) and the queue (through the context's
queue_status), so every web process answers the same figures and none keeps counters of its own. Counts only:
no names, no scores, nothing of a test set. With PODIUM_METRICS_TOKEN set, a scrape needs it as a bearer token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from flask import Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from app.extensions import db_session, podium
from app.queries import operations
from app.web import web

log = logging.getLogger(__name__)


class _PodiumCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        with db_session() as session:
            by_state = operations.submissions_by_state(session)
            failures = operations.failures_by_cause(session)
            faults = operations.infrastructure_faults(session)
            durations = operations.run_durations(session)
        submissions = GaugeMetricFamily("podium_submissions", "Submissions by state", labels=["state"])
        for state, count in by_state.items():
            submissions.add_metric([state], count)
        yield submissions
        failed = CounterMetricFamily("podium_failed_submissions", "Failed submissions by whose fault it was "
                                     "(participant: counts against them; platform: never does)", labels=["cause"])
        for cause, count in failures.items():
            failed.add_metric([cause], count)
        yield failed
        yield CounterMetricFamily("podium_infrastructure_faults", "Attempts ended by the platform's fault "
                                  "(worker lost, storage or engine down), retried or not", value=faults)
        seconds = HistogramMetricFamily("podium_stage_duration_seconds", "Duration of a run's recorded stages "
                                        "(run: the container's wall time; image_load: docker load)",
                                        labels=["stage"])
        for stage, histogram in durations.items():
            seconds.add_metric([stage], [(str(bound), n) for bound, n in histogram.buckets]
                               + [("+Inf", histogram.count)], sum_value=histogram.total)
        yield seconds
        yield from self._queues()

    @staticmethod
    def _queues() -> Iterator[Metric]:
        read = podium().queue_status
        up = GaugeMetricFamily("podium_queue_up", "1 when the queue (Redis) answered this scrape")
        if read is None:
            return
        try:
            status = read()
        except Exception:  # noqa: BLE001 - Redis down: the database figures still count
            log.warning("metrics: the queue did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for key, title in (("queued", "Jobs waiting"), ("running", "Jobs running"),
                           ("workers", "Workers listening")):
            gauge = GaugeMetricFamily(f"podium_queue_{'jobs_' + key if key != 'workers' else 'workers'}",
                                      f"{title}, per queue", labels=["queue"])
            for queue, figures in status.items():
                gauge.add_metric([queue], figures[key])
            yield gauge


@web.get("/metrics")
def metrics() -> Response:
    token = podium().resources.settings.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("a bearer token is needed (PODIUM_METRICS_TOKEN)\n", status=401,
                            mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PodiumCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
