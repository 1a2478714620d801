"""Server-rendered pages: challenges, leaderboards, submission form and status; the account pages are in
app/web/accounts.py, sessions and CSRF in app/web/sessions.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.errors import ServiceError, TooLarge
from app.extensions import PodiumContext, db_session, podium
from app.models import Challenge, Phase, User
from app.permissions import organises
from app.queries.analyses import analysis_for
from app.queries.analysis_document import AnalysisDocument, document_of
from app.queries.costs import Prices
from app.queries.entrants import team_of
from app.queries.leaderboard import leaderboard_for, phase_metrics
from app.queries.phase_status import phase_status
from app.queries.phases import get_challenge, get_phase
from app.queries.submission_summary import submission_summary
from app.usecases.final_selection import select_final
from app.usecases.membership import list_organisers, participation_of, request_to_join
from app.usecases.parted_uploads import Purpose, take_complete_upload
from app.usecases.submission_limits import limit_status
from app.usecases.submissions import (
    SubmissionRefused,
    cancel_submission,
    check_can_submit,
    get_submission,
    list_submissions,
    receive_container_submission,
    upload_tmp_dir,
)
from app.usecases.teams import invitations_for
from app.usecases.uploads import spool_upload, upload_too_large_message
from app.web.markdown import render_markdown
from app.web.sessions import csrf

web = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/assets")


def init_app(app: Flask) -> None:
    from app.web import (  # noqa: F401 - their pages join it
        accounts,
        challenge_edit,  # noqa: F401 - edit forms, export
        challenge_import,
        codabench_import,  # noqa: F401 - a Codabench bundle, imported by a worker
        metrics,  # noqa: F401 - /metrics for Prometheus
        organisers,
        parted_uploads,  # noqa: F401 - uploads in parts, the test set page
        report,  # noqa: F401 - the decision report (HTML, PDF)
        results,  # noqa: F401 - re-run, publish, per-case results
        sessions,
        teams,
        test_set_versions,  # noqa: F401 - test set versions: switch, re-evaluate, compare
    )

    sessions.init_app(app)
    csrf.exempt(submit)  # the upload form: _receive_upload checks it, after the checks that need no body
    app.register_blueprint(web)
    app.jinja_env.filters["score"] = _format_score
    app.jinja_env.filters["when"] = _format_when
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.globals["phase_status"] = phase_status

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_username": current_user.username if current_user.is_authenticated else None}


ADVICE = {
    400: "Check what you entered and try again.",
    401: "Sign in and try again.",
    403: "You may not do this here; the message says why.",
    404: "Check the address, or start from the list of challenges.",
    405: "Use the site's links and buttons.",
    409: "Reload the page to see the current state.",
    413: "Make the file smaller and upload it again.",
    429: "Wait, then try again.",
    503: "This is the platform's problem, not yours; try again in a few minutes.",
}
HEADINGS = {400: "That did not work", 401: "Please sign in", 403: "Not allowed", 404: "Not found", 405: "Not here",
            409: "Already changed", 413: "Too large", 429: "Please wait", 503: "Temporarily unavailable"}


@web.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> ResponseReturnValue:
    return _error_page(exc.status_code, sentence(str(exc)))


def sentence(message: str) -> str:
    """A use case's message (the API's style: lower case, no full stop) as a sentence on a page; a key it starts
    with, like closes_at, keeps its spelling."""
    first = message.split(" ", 1)[0]
    if not any(mark in first for mark in "_.[':"):
        message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


# Errors Flask raises before a route is chosen (no such address, wrong method, body over the server's cap):
# the API's one error format under /api/, a page everywhere else.

def _api_error(message: str, status: int) -> ResponseReturnValue:
    return {"error": message, "submission_id": None}, status


@web.app_errorhandler(413)
def _too_large(_exc: HTTPException) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return _api_error("the upload is larger than this server accepts", 413)
    return _error_page(413, "The upload is larger than this server accepts.")


@web.app_errorhandler(CSRFError)
def _csrf_refused(_exc: CSRFError) -> ResponseReturnValue:
    return _error_page(400, "The form expired, or did not come from this site. Reload the page and try again.")


@web.app_errorhandler(405)
def _wrong_method(_exc: HTTPException) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return _api_error(f"{request.method} is not allowed here; see /api/v1/openapi.json", 405)
    return _error_page(405, f"This address does not take a {request.method} request.")


@web.app_errorhandler(404)
def _not_found(exc: HTTPException) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return _api_error("no such address in the API; see /api/v1/openapi.json", 404)
    description = getattr(exc, "description", "")
    known = description and not description.startswith("The requested URL was not found")
    return _error_page(404, description if known else "There is no page at this address.")


def _error_page(status: int, message: str) -> tuple[str, int]:
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else None
    return render_template("error.html", heading=HEADINGS.get(status, "That did not work"), message=message,
                           advice=ADVICE.get(status, ""), back=back), status


def _format_score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _format_when(value: str | datetime | None) -> str:
    """A moment as '2026-12-03 10:07 UTC' (ISO strings from the API's models too)."""
    if value is None or value == "":
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _check_csrf() -> None:
    """CSRFProtect checks every other form before its view runs; the upload form's view runs this itself, after
    the checks that need no body."""
    csrf.protect()


def _logged_in_user(db: Session) -> User | None:
    """The signed-in user (Flask-Login's session, still valid), in this database session."""
    return db.get(User, current_user.id) if current_user.is_authenticated else None


@web.get("/ping")
def ping() -> ResponseReturnValue:
    return "ok", 200, {"Content-Type": "text/plain"}


@web.get("/ready")
def ready() -> ResponseReturnValue:
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
def index() -> ResponseReturnValue:
    with db_session() as db:
        challenges = db.scalars(select(Challenge).order_by(Challenge.title)).all()
        return render_template("index.html", challenges=challenges)


@web.get("/challenges/<slug>")
def challenge(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        found = get_challenge(db, slug)
        user = _logged_in_user(db)
        participation = participation_of(db, found, user) if user is not None else None
        return render_template("challenge.html", challenge=found, participation=participation,
                               team=team_of(db, found.id, user.id) if user is not None else None,
                               invitations=len(invitations_for(db, user, found)) if user is not None else 0,
                               organisers=list_organisers(db, found),
                               organiser=user is not None and organises(user, found))


@web.post("/challenges/<slug>/join")
def join(slug: str) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=url_for("web.challenge", slug=slug)))
        accepted_terms = request.form.get("accept_terms") == "1"
        joined = request_to_join(db, get_challenge(db, slug), user, accept_terms=accepted_terms)
        flash("You take part in this challenge now." if joined.status == "accepted"
              else "Your request to join waits for the organisers.")
    return redirect(url_for("web.challenge", slug=slug))


@web.get("/challenges/<slug>/files/<name>")
def public_file(slug: str, name: str) -> ResponseReturnValue:
    with db_session() as db:
        found = get_challenge(db, slug)
        match = next((f for f in found.public_files if f["name"] == name), None)
    if match is None:
        abort(404)
    data = podium().resources.store.get_bytes(match["key"])
    return data, 200, {"Content-Type": "application/octet-stream",
                       "Content-Disposition": f'attachment; filename="{name}"'}


@web.get("/challenges/<slug>/<phase_slug>/leaderboard")
def leaderboard(slug: str, phase_slug: str) -> ResponseReturnValue:
    from app.web.test_set_versions import requested_test_set, version_links

    with db_session() as db:
        phase = get_phase(db, slug, phase_slug)
        viewer = _logged_in_user(db)
        test_set = requested_test_set(db, phase)  # ?version=N: another version of the test set
        board = leaderboard_for(db, phase, viewer, request.args.get("sort"), test_set=test_set,
                                prices=Prices.from_settings(podium().resources.settings))
        analysis = analysis_for(db, phase, viewer, test_set_id=test_set.id if test_set else None)
        document = document_of(analysis) if analysis else AnalysisDocument()
        ranking = document.headline_ranking(phase.ranking_metric)
        uncertainty = document.headline_uncertainty_by_entry(phase.ranking_metric)
        paired = document.ranked_entries_by_entry(phase.ranking_metric)
        described = phase_metrics(phase)
        return render_template("leaderboard.html", phase=phase, board=board, ranking=ranking,
                               uncertainty=uncertainty, paired=paired, analysis=analysis,
                               metric_titles={m["name"]: m["title"] for m in described},
                               metric_directions={m["name"]: m["higher_is_better"] for m in described},
                               organiser=viewer is not None and organises(viewer, phase.challenge),
                               version_links=version_links(db, phase),
                               version_arg={"version": test_set.version} if test_set else {})


@web.get("/challenges/<slug>/<phase_slug>/analysis")
def analysis_page(slug: str, phase_slug: str) -> ResponseReturnValue:
    from app.web.test_set_versions import requested_test_set

    with db_session() as db:
        phase = get_phase(db, slug, phase_slug)
        viewer = _logged_in_user(db)
        test_set = requested_test_set(db, phase)  # ?version=N: another version of the test set
        analysis = analysis_for(db, phase, viewer, test_set_id=test_set.id if test_set else None)
        return render_template("analysis.html", phase=phase, analysis=analysis,
                               document=document_of(analysis) if analysis else AnalysisDocument(),
                               organiser=viewer is not None and organises(viewer, phase.challenge),
                               version_arg={"version": test_set.version} if test_set else {})


@web.get("/challenges/<slug>/<phase_slug>/figures/<name>")
def figure(slug: str, phase_slug: str, name: str) -> ResponseReturnValue:
    from app.web.test_set_versions import requested_test_set

    with db_session() as db:
        phase = get_phase(db, slug, phase_slug)
        test_set = requested_test_set(db, phase)  # ?version=N: of another version's analysis
        analysis = analysis_for(db, phase, _logged_in_user(db), test_set_id=test_set.id if test_set else None)
        key = analysis.figures.get(name) if analysis else None
    if key is None:
        abort(404)
    return podium().resources.store.get_bytes(key), 200, {"Content-Type": "image/svg+xml"}


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host (//evil.example, https://...)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("web.index")


@web.route("/challenges/<slug>/<phase_slug>/submit", methods=["GET", "POST"])
def submit(slug: str, phase_slug: str) -> ResponseReturnValue:
    context = podium()
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=request.path))
        phase = get_phase(db, slug, phase_slug)
        if request.method == "POST":
            created = _receive_upload(db, context, phase, user)
            if created is not None:
                return redirect(url_for("web.submission", submission_id=created))
        mine = [submission_summary(db, s, user) for s in list_submissions(db, phase, user)]
        return render_template("submit.html", phase=phase, submissions=mine, limits=limit_status(db, phase, user))


def _receive_upload(db: Session, context: PodiumContext, phase: Phase, user: User) -> int | None:
    """The submission id to show, or None (with a flashed message) when nothing was stored."""
    try:
        # Every check that can refuse the upload runs before the form's body (and its file) is read.
        check_can_submit(db, phase, user)
        max_bytes = phase.max_upload_mb * 1024**2
        if request.content_length is not None and request.content_length > max_bytes + 1024**2:
            raise TooLarge(upload_too_large_message(max_bytes))
        _check_csrf()
        token = request.form.get("upload", "")
        file = request.files.get("image")
        if token:  # the page's script sent the file in parts already
            upload = take_complete_upload(db, context.resources.settings.data_dir, token=token, user=user,
                                          purpose=Purpose.SUBMISSION, phase=phase)
        elif file is None or not file.filename:
            flash("Choose an image archive to upload (docker save IMAGE | gzip > algorithm.tar.gz).")
            return None
        else:
            upload = spool_upload(file.stream, max_bytes=max_bytes,
                                  tmp_dir=upload_tmp_dir(context.resources.settings.data_dir))
    except ServiceError as exc:
        flash(str(exc))
        return None
    try:
        receipt = receive_container_submission(db, context.resources.store, context.enqueue, phase=phase,
                                               user=user, upload=upload, comment=request.form.get("comment", ""))
        return receipt.submission.id
    except SubmissionRefused as exc:
        return exc.submission_id
    except ServiceError as exc:
        flash(str(exc))
        return None
    finally:
        upload.discard()


@web.get("/submissions/<int:submission_id>")
def submission(submission_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=request.path))
        found = get_submission(db, submission_id, user)
        return render_template("submission.html", s=submission_summary(db, found, user), phase=found.phase)


@web.get("/submissions/<int:submission_id>/live")
def submission_live(submission_id: int) -> ResponseReturnValue:
    """The changing part of the submission page, fetched by the page itself every 2 s until it is final."""
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:  # htmx leaves the page as it is on an error; a browser opening it is sent to sign in
            if request.headers.get("HX-Request"):
                return "sign in again to follow this submission", 401
            return redirect(url_for("web.login", next=url_for("web.submission", submission_id=submission_id)))
        found = get_submission(db, submission_id, user)
        return render_template("_submission_live.html", s=submission_summary(db, found, user)), 200, {
            "Cache-Control": "no-store"}


@web.post("/submissions/<int:submission_id>/final")
def final(submission_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=url_for("web.submission", submission_id=submission_id)))
        chosen = select_final(db, submission_id, user, final=request.form.get("final") == "1")
        flash(f"Submission #{submission_id} is {'now' if chosen.selected_final else 'no longer'} one of your final "
              "submissions.")
    return redirect(url_for("web.submission", submission_id=submission_id))


@web.post("/submissions/<int:submission_id>/cancel")
def cancel(submission_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None:
            return redirect(url_for("web.login", next=url_for("web.submission", submission_id=submission_id)))
        cancel_submission(db, submission_id, user)
    flash(f"Submission #{submission_id} was cancelled.")
    return redirect(url_for("web.submission", submission_id=submission_id))
