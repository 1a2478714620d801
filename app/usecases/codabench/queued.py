"""A Codabench bundle uploaded on the site: stored, queued for a worker (which converts it, builds the evaluation
images and applies it: app/tasks/codabench_import.py), and its state and report kept for the page.

The web process never builds images or imports docker; it stores the bundle under
`codabench-imports/<token>/bundle.zip` and reads `status.json` beside it. Only site admins import (it creates a
challenge and builds images on the workers); a status is shown to site admins only.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.errors import Forbidden, NotFound
from app.models import User
from app.storage import ArtifactStore, keys

BUNDLE = "bundle.zip"
STATUS = "status.json"
TOKEN_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def queue_codabench_import(store: ArtifactStore, archive: Path, actor: User, enqueue: Callable[[str], None], *,
                           slug: str | None, base_image: str) -> str:
    """Store the bundle and queue its import; the token names its status page."""
    if not actor.is_admin:
        raise Forbidden("only the site's admins import Codabench bundles (it creates a challenge and builds its "
                        "scoring program on the workers); ask one")
    token = secrets.token_hex(16)
    store.put_file(keys.codabench_import(token, BUNDLE), archive)
    write_status(store, token, {"state": "queued", "user_id": actor.id, "slug": slug or None,
                                "base_image": base_image})
    enqueue(token)
    return token


def write_status(store: ArtifactStore, token: str, status: dict[str, Any]) -> None:
    store.put_bytes(keys.codabench_import(token, STATUS), json.dumps(status).encode())


def read_status(store: ArtifactStore, token: str, viewer: User | None = None) -> dict[str, Any]:
    """The import's state: queued, running, succeeded (report, applied) or failed (error, report if known)."""
    if viewer is not None and not viewer.is_admin:
        raise Forbidden("only the site's admins follow Codabench imports")
    if not TOKEN_PATTERN.match(token) or not store.exists(keys.codabench_import(token, STATUS)):
        raise NotFound("no such Codabench import; start one from the import page")
    status: dict[str, Any] = json.loads(store.get_bytes(keys.codabench_import(token, STATUS)))
    return status
