"""Logging for every Podium process: the standard library's loggers, rendered by structlog.

One line per event, as before (`<time> <LEVEL> <logger>: <message>`), followed by the context bound to the
current job as `key=value` pairs: a worker binds `submission_id` while it runs a submission, so every line
an attempt writes (the pipeline's, the runner's, RQ's) names it and can be grepped or shipped as one stream.
`PODIUM_LOG_FORMAT=json` writes one JSON object per line instead (for a log collector).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

QUIET_LOGGERS = ("alembic",)  # each migration step is not news; `podium db upgrade` says where it got to


def configure_logging(level: int = logging.INFO, *, json: bool | None = None) -> None:
    """Route the root logger through structlog's formatter (idempotent: replaces the root's handlers)."""
    if json is None:
        json = os.environ.get("PODIUM_LOG_FORMAT", "").lower() == "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else _render_line
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Every log line written inside the block (in this thread or task) carries these key=value pairs."""
    tokens = structlog.contextvars.bind_contextvars(**context)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


_FIXED = ("timestamp", "level", "logger", "event", "exception")


def _render_line(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    line = f"{event.get('timestamp', '')} {str(event.get('level', '')).upper()} {event.get('logger', '')}: " \
           f"{event.get('event', '')}"
    extra = " ".join(f"{key}={value}" for key, value in event.items() if key not in _FIXED)
    if extra:
        line += f" [{extra}]"
    if event.get("exception"):
        line += "\n" + str(event["exception"])
    return line
