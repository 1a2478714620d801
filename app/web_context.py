"""Helpers shared by the web and API blueprints: the request's runtime and session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from app import PodiumContext


def podium() -> PodiumContext:
    return current_app.extensions["podium"]


@contextmanager
def db_session() -> Iterator[Session]:
    with podium().runtime.session() as session:
        yield session
