"""Server-rendered pages: challenges, leaderboards, submission form and status."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select, text

from app.errors import ServiceError
from app.extensions import db_session, podium
from app.models import Challenge, User
from app.queries.analyses import latest_analysis
from app.queries.leaderboard import build_leaderboard
from app.queries.phases import get_phase
from app.queries.submission_summary import submission_summary
from app.usecases.submissions import (
    SubmissionRefused,
    get_submission,
    list_submissions,
    receive_container_submission,
    upload_tmp_dir,
)
from app.usecases.uploads import spool_upload
from app.usecases.users import user_for_token

web = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/assets")


def init_app(app: Flask) -> None:
    app.register_blueprint(web)
    app.jinja_env.filters["score"] = _format_score

    @app.context_processor
    def _inject():  # type: ignore[no-untyped-def]
        return {"current_username": session.get("username"), "csrf_token": _csrf_token()}


def _format_score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    expected = session.get("csrf", "")
    if not expected or not secrets.compare_digest(request.form.get("csrf", ""), expected):
        abort(400, "the form expired; reload the page and try again")


def _logged_in_user(db) -> User | None:  # type: ignore[no-untyped-def]
    user_id = session.get("user_id")
    return db.get(User, user_id) if user_id else None


@web.get("/ping")
def ping():  # type: ignore[no-untyped-def]
    return "ok", 200, {"Content-Type": "text/plain"}


@web.get("/ready")
def ready():  # type: ignore[no-untyped-def]
    from redis import Redis

    checks: dict[str, str] = {}
    resources = podium().resources
    try:
        with resources.session() as db:
            db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a readiness probe reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        with Redis.from_url(resources.settings.redis_url, socket_connect_timeout=2, socket_timeout=2) as redis:
            redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        resources.store.exists("readiness-probe")
        checks["storage"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["storage"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return {"ready": healthy, "checks": checks}, 200 if healthy else 503


@web.get("/")
def index():  # type: ignore[no-untyped-def]
    with db_session() as db:
        challenges = db.scalars(select(Challenge).order_by(Challenge.title)).all()
        return render_template("index.html", challenges=challenges)


@web.get("/challenges/<slug>")
def challenge(slug: str):  # type: ignore[no-untyped-def]
    with db_session() as db:
        found = db.scalar(select(Challenge).where(Challenge.slug == slug))
        if found is None:
            abort(404)
        return render_template("challenge.html", challenge=found)


@web.get("/challenges/<slug>/files/<name>")
def public_file(slug: str, name: str):  # type: ignore[no-untyped-def]
    with db_session() as db:
        found = db.scalar(select(Challenge).where(Challenge.slug == slug))
        if found is None:
            abort(404)
        match = next((f for f in found.public_files if f["name"] == name), None)
    if match is None:
        abort(404)
    data = podium().resources.store.get_bytes(match["key"])
    return data, 200, {"Content-Type": "application/octet-stream",
                       "Content-Disposition": f'attachment; filename="{name}"'}


@web.get("/challenges/<slug>/<phase_slug>/leaderboard")
def leaderboard(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as db:
        try:
            phase = get_phase(db, slug, phase_slug)
            board = build_leaderboard(db, phase, request.args.get("sort"))
        except ServiceError as exc:
            abort(exc.status_code, str(exc))
        analysis = latest_analysis(db, phase)
        ranking = (analysis.document.get("rankings", {}).get(phase.ranking_metric) if analysis else None) or {}
        uncertainty = {e["entry"]: e for e in ranking.get("uncertainty", {}).get("entries", [])}
        paired = {e["entry"]: e for e in ranking.get("entries", [])}
        return render_template("leaderboard.html", phase=phase, board=board, ranking=ranking,
                               uncertainty=uncertainty, paired=paired, analysis=analysis)


@web.get("/challenges/<slug>/<phase_slug>/analysis")
def analysis_page(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    with db_session() as db:
        try:
            phase = get_phase(db, slug, phase_slug)
        except ServiceError as exc:
            abort(exc.status_code, str(exc))
        analysis = latest_analysis(db, phase)
        return render_template("analysis.html", phase=phase, analysis=analysis,
                               document=analysis.document if analysis else {})


@web.get("/challenges/<slug>/<phase_slug>/figures/<name>")
def figure(slug: str, phase_slug: str, name: str):  # type: ignore[no-untyped-def]
    with db_session() as db:
        try:
            phase = get_phase(db, slug, phase_slug)
        except ServiceError as exc:
            abort(exc.status_code, str(exc))
        analysis = latest_analysis(db, phase)
        key = analysis.figures.get(name) if analysis else None
    if key is None:
        abort(404)
    return podium().resources.store.get_bytes(key), 200, {"Content-Type": "image/svg+xml"}


@web.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    if request.method == "POST":
        _check_csrf()
        with db_session() as db:
            user = user_for_token(db, request.form.get("token", "").strip())
            if user is None:
                flash("That API token is not valid. Ask an organiser for one (podium user create NAME).")
                return render_template("login.html"), 401
            session["user_id"], session["username"] = user.id, user.username
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host (//evil.example, https://...)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.index")


@web.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    _check_csrf()
    session.clear()
    return redirect(url_for("web.index"))


@web.route("/challenges/<slug>/<phase_slug>/submit", methods=["GET", "POST"])
def submit(slug: str, phase_slug: str):  # type: ignore[no-untyped-def]
    context = podium()
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=request.path))
        phase = get_phase(db, slug, phase_slug)
        if request.method == "POST":
            _check_csrf()
            file = request.files.get("image")
            if file is None or not file.filename:
                flash("Choose an image archive to upload (docker save IMAGE | gzip > algorithm.tar.gz).")
            else:
                upload = spool_upload(file.stream, max_bytes=phase.max_upload_mb * 1024**2,
                                      tmp_dir=upload_tmp_dir(context.resources.settings.data_dir))
                try:
                    created = receive_container_submission(db, context.resources.store, context.enqueue,
                                                           phase=phase, user=user, upload=upload,
                                                           comment=request.form.get("comment", ""))
                    return redirect(url_for("web.submission", submission_id=created.id))
                except SubmissionRefused as exc:
                    return redirect(url_for("web.submission", submission_id=exc.submission_id))
                except ServiceError as exc:
                    flash(str(exc))
                finally:
                    upload.discard()
        mine = [submission_summary(db, s) for s in list_submissions(db, phase, user)]
        return render_template("submit.html", phase=phase, submissions=mine)


@web.get("/submissions/<int:submission_id>")
def submission(submission_id: int):  # type: ignore[no-untyped-def]
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=request.path))
        try:
            found = get_submission(db, submission_id, user)
        except ServiceError as exc:
            abort(exc.status_code, str(exc))
        return render_template("submission.html", s=submission_summary(db, found), phase=found.phase)
