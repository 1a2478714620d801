"""What request handlers (web pages and REST API) get from the Flask app: the process's resources and queues.

`create_app` (app/__init__.py) puts a `PodiumContext` on `app.extensions["podium"]`; handlers reach it with
`podium()` and open a database session with `db_session()`. Nothing here imports a storage backend, the
queue library or the worker pipeline: the web process reaches them only through these callables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the type only: importing the resources would pull in the storage backends
    from app.resources import Resources


@dataclass
class PodiumContext:
    """What request handlers need, kept on app.extensions["podium"]."""

    resources: Resources
    enqueue: Callable[[int], None]
    enqueue_analysis: Callable[[int], object] | None = None  # True when queued, False when one already waits
    enqueue_codabench_import: Callable[[str], None] | None = None  # a stored bundle's token (app/web/codabench_import)
    # Per queue: {"queued", "running", "workers"} (app/tasks/queues.py queue_status), for /metrics.
    queue_status: Callable[[], dict[str, dict[str, int]]] | None = None
    enqueue_reevaluation: Callable[[int], None] | None = None  # a re-evaluation run's id (app/usecases/reevaluation.py)

    def queue_analysis(self, phase_id: int) -> bool:
        """Queue the phase's analysis again (what it covers changed); False when the queue could not be told (the
        change is stored; only the statistics wait for the next scored submission)."""
        if self.enqueue_analysis is None:
            return False
        try:
            self.enqueue_analysis(phase_id)
        except Exception:  # noqa: BLE001 - any queue failure
            logging.getLogger(__name__).warning("phase %s: could not queue the analysis", phase_id, exc_info=True)
            return False
        return True


def init_app(app: Flask, context: PodiumContext) -> None:
    """Keep the context on the app, and release the process's connections when the app is torn down."""
    app.extensions["podium"] = context


def podium() -> PodiumContext:
    return cast(PodiumContext, current_app.extensions["podium"])


@contextmanager
def db_session() -> Iterator[Session]:
    with podium().resources.session() as session:
        yield session
