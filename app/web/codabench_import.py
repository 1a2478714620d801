"""Import a Codabench competition bundle in the browser (site admins): the upload is stored and queued; a worker
converts it, builds its scoring program into an evaluation image and applies it; the status page shows the outcome
and what could not be mapped (app/usecases/codabench/queued.py, docs/codabench.md)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.errors import Forbidden, ServiceError
from app.extensions import db_session, podium
from app.usecases.codabench.queued import queue_codabench_import, read_status
from app.web import _logged_in_user, web
from app.web.challenge_import import spooled_bundle
from app.web.sessions import signed_in

DEFAULT_BASE_IMAGE = "podium/python-base:bookworm"  # the same default as the CLI's --base-image


def _admin() -> None:
    with db_session() as db:
        user = _logged_in_user(db)
        if user is None or not user.is_admin:
            raise Forbidden("only the site's admins import Codabench bundles; ask one")


@web.route("/import-codabench", methods=["GET", "POST"])
@signed_in
def import_codabench() -> ResponseReturnValue:
    _admin()
    if request.method == "GET":
        return render_template("codabench_import.html", problem=None, base_image=DEFAULT_BASE_IMAGE)
    upload = request.files.get("bundle")
    slug = (request.form.get("slug") or "").strip() or None
    base_image = (request.form.get("base_image") or "").strip() or DEFAULT_BASE_IMAGE
    if upload is None or not upload.filename:
        return render_template("codabench_import.html", problem="Choose the competition bundle (.zip).",
                               base_image=base_image), 400
    context = podium()
    if context.enqueue_codabench_import is None:
        return render_template("codabench_import.html", problem="This site has no workers to import bundles; ask "
                               "the operator to run `podium challenge import-codabench`.", base_image=base_image), 503
    with spooled_bundle(upload) as bundle:
        try:
            with db_session() as db:
                user = _logged_in_user(db)
                assert user is not None  # @signed_in
                token = queue_codabench_import(context.resources.store, bundle, user,
                                               context.enqueue_codabench_import, slug=slug, base_image=base_image)
        except ServiceError as exc:
            return render_template("codabench_import.html", problem=str(exc), base_image=base_image), exc.status_code
    return redirect(url_for("web.codabench_import_status", token=token))


@web.get("/import-codabench/<token>")
@signed_in
def codabench_import_status(token: str) -> ResponseReturnValue:
    with db_session() as db:
        status = read_status(podium().resources.store, token, _logged_in_user(db))
    return render_template("codabench_import_status.html", status=status, token=token)
