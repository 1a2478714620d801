"""Artifact storage: one interface (`ArtifactStore`), two backends (local directory, S3).

Code that reads or writes artifacts imports this package; only `app.storage.factory` (used by the process
wiring in app/resources.py) imports a backend, and only `app.storage.s3` imports boto3.
"""

from __future__ import annotations

from app.storage.base import ArtifactStore, InvalidKey, ObjectNotFound, StorageError

__all__ = ["ArtifactStore", "InvalidKey", "ObjectNotFound", "StorageError"]
