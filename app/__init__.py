"""Podium: a platform for machine-learning challenges with hidden test sets and sandboxed containers."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from app.config import Settings
from app.extensions import PodiumContext
from app.resources import Resources


def create_app(settings: Settings | None = None, *, enqueue: Callable[[int], None] | None = None) -> Flask:
    """Wiring only: no database or network I/O happens here."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    from app.tasks.queues import enqueue_analysis, make_enqueuer

    if enqueue is None:
        enqueue = make_enqueuer(settings)
    app.extensions["podium"] = PodiumContext(resources=Resources(settings), enqueue=enqueue,
                                             enqueue_analysis=lambda phase_id: enqueue_analysis(settings, phase_id))

    from app.api import init_app as init_api
    from app.web import init_app as init_web

    init_web(app)
    init_api(app)
    return app
