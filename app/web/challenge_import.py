"""Create or update a challenge from a bundle (.zip of a challenge folder) in the browser
(rules: app/usecases/challenge_bundle.py)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from app.errors import ServiceError
from app.extensions import db_session, podium
from app.usecases.challenge_bundle import import_bundle
from app.web import _logged_in_user, web
from app.web.sessions import signed_in


@contextlib.contextmanager
def spooled_bundle(upload: FileStorage) -> Iterator[Path]:
    """An uploaded bundle (.zip) on the data folder's disk for as long as the block runs, then removed."""
    work = podium().resources.settings.data_dir / "tmp" / "bundles"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=work, suffix=".zip") as spooled:
        upload.save(spooled)
        spooled.flush()
        yield Path(spooled.name)


@web.route("/import-challenge", methods=["GET", "POST"])
@signed_in
def import_challenge() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("import_challenge.html", problem=None)
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        return render_template("import_challenge.html", problem="Choose a .zip file of the challenge folder."), 400
    with spooled_bundle(upload) as bundle:
        try:
            with db_session() as db:
                user = _logged_in_user(db)
                assert user is not None  # @signed_in
                report = import_bundle(db, podium().resources.store, bundle, user, work_dir=bundle.parent)
                db.commit()
        except ServiceError as exc:
            return render_template("import_challenge.html", problem=str(exc)), exc.status_code
    flash(report.summary().replace("\n", "; "))
    return redirect(url_for("web.challenge", slug=report.slug))
