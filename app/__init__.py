"""Podium: a platform for machine-learning challenges with hidden test sets and sandboxed containers.

`create_app` is the web process's wiring, in the Flask tutorial's shape: settings into the config, then one
`init_app` per concern (the process's resources and queues, the pages, the API). Nothing here opens a
connection; the modules it wires never import this package back.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from app.config import Settings


def create_app(settings: Settings | None = None, *, enqueue: Callable[[int], None] | None = None) -> Flask:
    """The web site and the REST API. `enqueue` replaces the Redis queue (tests that must not run jobs)."""
    from app import api, extensions, web
    from app.resources import Resources
    from app.tasks.codabench_queue import enqueue_codabench_import
    from app.tasks.queues import (
        enqueue_analysis,
        gpu_lookup,
        make_enqueuer,
        make_reevaluation_enqueuer,
        queue_status,
        reevaluation_gpu_lookup,
    )
    from app.web.sessions import csrf

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
    )
    resources = Resources(settings)
    extensions.init_app(app, extensions.PodiumContext(
        resources=resources,
        enqueue=enqueue or make_enqueuer(settings, gpu_lookup(resources)),
        enqueue_analysis=lambda phase_id: enqueue_analysis(settings, phase_id),
        enqueue_codabench_import=lambda token: enqueue_codabench_import(settings, token),
        queue_status=lambda: queue_status(settings),
        # Re-evaluation runs (app/usecases/reevaluation.py); with a test's `enqueue`, none: the reconciler queues them.
        enqueue_reevaluation=None if enqueue else make_reevaluation_enqueuer(settings,
                                                                             reevaluation_gpu_lookup(resources)),
    ))
    web.init_app(app)  # the pages, with Flask-Login sessions and CSRFProtect on every form
    api.init_app(app)
    csrf.exempt(api.api)  # bearer tokens only, never the session cookie: nothing to forge
    if settings.rq_dashboard:
        from app.tasks.dashboard import mount_rq_dashboard
        from app.web.sessions import signed_in_admin

        mount_rq_dashboard(app, settings, is_admin=signed_in_admin, exempt_from_csrf=csrf.exempt)
    return app
