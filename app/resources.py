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
from app.storage import ArtifactStore
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

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.session_factory) as session:
            yield session

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
