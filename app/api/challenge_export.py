"""A challenge as a bundle through the REST API (rules: app/usecases/challenge_export.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Any

from spectree import Response

from app.api import ORGANISERS, _current_user, api
from app.api.openapi import errors, operation
from app.extensions import db_session, podium
from app.queries.phases import get_challenge
from app.usecases.challenge_export import export_challenge


@api.get("/challenges/<slug>/bundle.zip")
@operation(Response(HTTP_200=(None, "a ZIP archive: challenge.yaml, test-sets/<phase>/, evaluators/<phase>.tar.gz, "
                                    "readers/<phase>.csv, public/<name>"),
                    **errors(401, 403, 404)),
           token=True, tags=ORGANISERS,
           raw={200: {"application/zip": {"schema": {"type": "string", "format": "binary"}}}})
def challenge_bundle(slug: str) -> Any:
    """Organisers: the challenge as a bundle (its challenge.yaml and every file it names, the hidden test sets
    included), which `POST /import-challenge` on a site or `podium challenge apply` on its folder recreates."""
    work = podium().resources.settings.data_dir / "tmp" / "exports"
    work.mkdir(parents=True, exist_ok=True)
    with db_session() as session:
        user = _current_user(session)
        challenge = get_challenge(session, slug)
        bundle = export_challenge(session, podium().resources.store, challenge, user, work_dir=work)
    size = os.fstat(bundle.fileno()).st_size
    # A generator, not send_file: spectree reads a Response object's whole body to validate it.
    return _chunks(bundle), 200, {"Content-Type": "application/zip", "Content-Length": str(size),
                                  "Content-Disposition": f'attachment; filename="{slug}.zip"'}


def _chunks(bundle: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := bundle.read(1 << 20):
            yield chunk
    finally:
        bundle.close()
