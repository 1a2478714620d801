"""Organisers' pages to create and edit a challenge and its phases, and to export it as a bundle (rules:
app/usecases/challenge_edit.py and app/usecases/challenge_export.py).

Every route needs a session (anonymous visitors go to the sign-in page). Editing and exporting are for the
challenge's organisers and the site's admins (anyone else: 403, the challenge is public); creating a challenge is
for the site's admins. A refused form is shown again with each problem next to its field.
"""

from __future__ import annotations

from flask import send_file
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.extensions import db_session, podium
from app.models import Challenge, User
from app.permissions import organises
from app.queries.phases import get_challenge
from app.usecases.challenge_export import export_challenge
from app.web import _logged_in_user, web
from app.web.sessions import signed_in


def _organised(db: Session, slug: str) -> tuple[Challenge, User]:
    """The challenge (404 if there is none) and the signed-in user, who must organise it (403 otherwise)."""
    user = _logged_in_user(db)
    assert user is not None  # @signed_in
    challenge = get_challenge(db, slug)
    if not organises(user, challenge):
        raise Forbidden(f"Only the organisers of {challenge.title} (and the site's admins) edit or export it.")
    return challenge, user


@web.get("/challenges/<slug>/export.zip")
@signed_in
def export_bundle(slug: str) -> ResponseReturnValue:
    """The challenge as a bundle (challenge.yaml, test sets, evaluators, readers, public files)."""
    work = podium().resources.settings.data_dir / "tmp" / "exports"
    work.mkdir(parents=True, exist_ok=True)
    with db_session() as db:
        challenge, user = _organised(db, slug)
        bundle = export_challenge(db, podium().resources.store, challenge, user, work_dir=work)
    return send_file(bundle, mimetype="application/zip", as_attachment=True, download_name=f"{slug}.zip",
                     max_age=0)
