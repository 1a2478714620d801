"""The RQ dashboard (rq-dashboard), mounted on the site at /admin/rq for site admins when PODIUM_RQ_DASHBOARD=1.

It shows every queue, worker and job of the installation's Redis, with failed jobs' tracebacks, and can requeue
or delete jobs. Deleting a job never loses a submission: the database says what is queued, and the reconciler
queues it again. Its pages post with JavaScript and without the site's CSRF token, so a change is accepted only
from the site itself (Origin or Referer of this host), on top of the admin's session (SameSite=Lax).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from flask import Flask, abort, request

from app.config import Settings

URL_PREFIX = "/admin/rq"
BLUEPRINT = "rq_dashboard"
CHANGES_ON_GET = {"rq_dashboard.requeue_all"}  # a GET that requeues every failed job of a queue


def mount_rq_dashboard(app: Flask, settings: Settings, *, is_admin: Callable[[], bool | None],
                       exempt_from_csrf: Callable[[object], None]) -> None:
    """is_admin(): True for a signed-in site admin, False for another user, None when nobody is signed in."""
    import rq_dashboard

    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    app.config["RQ_DASHBOARD_POLL_INTERVAL"] = 5000
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
    rq_dashboard.web.setup_rq_connection(app)
    exempt_from_csrf(rq_dashboard.blueprint)

    @app.before_request
    def _admins_only() -> None:
        if request.blueprint != BLUEPRINT:
            return None
        admin = is_admin()
        if admin is None:
            abort(401)
        if not admin:
            abort(403)
        changes = request.method not in ("GET", "HEAD") or request.endpoint in CHANGES_ON_GET
        if changes and not _from_this_site():
            abort(403)
        return None


def _from_this_site() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return urlparse(source).netloc == request.host
