"""The long-lived parts of one process (settings, database engine, session factory, artifact store).

Built explicitly by the web app factory, the CLI and the worker; nothing is opened at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory, session_scope
from app.storage import ArtifactStore, StorageError
from app.storage.factory import open_store


@dataclass
class Resources:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def store(self) -> ArtifactStore:
        return open_store(self.settings.storage_url, s3_endpoint_url=self.settings.s3_endpoint_url)

    @cached_property
    def site_store(self) -> ArtifactStore:
        """A site's own storage (docs/sites.md), on the site's machine only: PODIUM_SITE_STORAGE_URL with its own
        endpoint and credentials."""
        settings = self.settings
        if settings.site_storage_url is None:
            raise StorageError("this machine has no site storage: set PODIUM_SITE_STORAGE_URL (file:///PATH or "
                               "s3://BUCKET[/PREFIX]; with S3, PODIUM_SITE_S3_ENDPOINT_URL and the site's own "
                               "PODIUM_SITE_S3_ACCESS_KEY_ID and PODIUM_SITE_S3_SECRET_ACCESS_KEY) (docs/sites.md)")
        credentials = None
        if settings.site_s3_access_key_id and settings.site_s3_secret_access_key:
            credentials = (settings.site_s3_access_key_id, settings.site_s3_secret_access_key)
        return open_store(settings.site_storage_url, s3_endpoint_url=settings.site_s3_endpoint_url,
                          credentials=credentials)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.session_factory) as session:
            yield session

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
