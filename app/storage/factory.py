"""Open the storage backend a URL names (file:// or s3://). Only the process wiring imports this module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from app.storage.base import ArtifactStore, StorageError


def _open_local(url: str, s3_endpoint_url: str | None, credentials: tuple[str, str] | None) -> ArtifactStore:
    from app.storage.local import LocalStore

    return LocalStore(Path(unquote(urlparse(url).path)))


def _open_s3(url: str, s3_endpoint_url: str | None, credentials: tuple[str, str] | None) -> ArtifactStore:
    from app.storage.s3 import S3Store

    parsed = urlparse(url)
    store = S3Store(parsed.netloc, parsed.path.strip("/"), endpoint_url=s3_endpoint_url, credentials=credentials)
    if credentials is None:
        store.ensure_bucket()
    # else: a site's own identity, which may use its bucket's objects but not inspect or create the bucket itself
    # (SeaweedFS and S3 policies scoped to objects refuse HeadBucket); the site's operator makes the bucket.
    return store


BACKENDS: dict[str, Callable[[str, str | None, tuple[str, str] | None], ArtifactStore]] = {
    "file": _open_local, "s3": _open_s3}


def open_store(url: str, *, s3_endpoint_url: str | None = None,
               credentials: tuple[str, str] | None = None) -> ArtifactStore:
    """The store `url` names; credentials (access key id, secret) apply to an s3:// store (a site's own
    identity, whose bucket is neither checked nor created), else boto3's usual chain."""
    scheme = urlparse(url).scheme
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        raise StorageError(f"unknown storage URL scheme {scheme!r} in {url!r}; known schemes: "
                           f"{', '.join(sorted(BACKENDS))}") from None
    return factory(url, s3_endpoint_url, credentials)
