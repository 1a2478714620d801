"""Leases: which attempt holds a running submission, renewed by a heartbeat while the work goes on.

A worker that dies (kill -9, lost machine) stops renewing; the reconciler sees the lease expire and
queues the submission again. Every write of an attempt checks that it still holds the lease, so a
zombie attempt can never overwrite the results of the attempt that replaced it. When the lease is lost
while the attempt runs (the submission was cancelled, or the lease expired and moved on), the heartbeat
calls `on_lost`, which stops the attempt's container.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from app import transitions
from app.resources import Resources

log = logging.getLogger(__name__)


def acquire(resources: Resources, submission_id: int, owner: str) -> bool:
    """queued -> running for this attempt, if it is due (not waiting for a retry backoff)."""
    with resources.session() as session:
        return transitions.start_attempt(session, submission_id, owner=owner,
                                         lease_seconds=resources.settings.lease_seconds)


def renew(resources: Resources, submission_id: int, owner: str) -> bool:
    with resources.session() as session:
        return transitions.renew_lease(session, submission_id, owner=owner,
                                       lease_seconds=resources.settings.lease_seconds)


class Heartbeat:
    """Renews a lease every third of its length in a background thread while the block runs.

    By default the submission's lease; `renew_lease` renews another (a shard's, app/pipeline/shards.py), `what`
    names it in the log. on_lost runs once when the lease is no longer held (its container must stop)."""

    def __init__(self, resources: Resources, submission_id: int, owner: str,
                 on_lost: Callable[[], object] | None = None, *, renew_lease: Callable[[], bool] | None = None,
                 what: str | None = None) -> None:
        self.resources = resources
        self.on_lost = on_lost
        self.renew_lease = renew_lease or (lambda: renew(resources, submission_id, owner))
        self.what = what or f"submission {submission_id}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.what}", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(0.5, self.resources.settings.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                held = self.renew_lease()
            except Exception:  # noqa: BLE001 - the database may be briefly down; try again next beat
                log.warning("%s: could not renew the lease", self.what, exc_info=True)
                continue
            if not held:
                # The attempt has just finished, was cancelled, or another attempt took over.
                self.lost = True
                if self.on_lost is not None and not self._stop.is_set():
                    try:
                        self.on_lost()
                    except Exception:  # noqa: BLE001 - the attempt's own lease checks still stop it
                        log.warning("%s: could not stop its container", self.what, exc_info=True)
                return
