"""What request handlers (web pages and REST API) get from the Flask app: the process's resources and queues.

`create_app` (app/__init__.py) puts a `PodiumContext` on `app.extensions["podium"]`; handlers reach it with
`podium()` and open a database session with `db_session()`. Nothing here imports a storage backend, the
queue library or the worker pipeline: the web process reaches them only through these callables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # the type only: importing the resources would pull in the storage backends
    from app.resources import Resources


@dataclass
class PodiumContext:
    """What request handlers need, kept on app.extensions["podium"]."""

    resources: Resources
    enqueue: Callable[[int], None]
    enqueue_analysis: Callable[[int], None] | None = None


def init_app(app: Flask, context: PodiumContext) -> None:
    """Keep the context on the app, and release the process's connections when the app is torn down."""
    app.extensions["podium"] = context


def podium() -> PodiumContext:
    return cast(PodiumContext, current_app.extensions["podium"])


@contextmanager
def db_session() -> Iterator[Session]:
    with podium().resources.session() as session:
        yield session
