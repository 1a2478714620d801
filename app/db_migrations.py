"""Database migrations (Alembic), run as a deploy step: `podium db upgrade`. Never inside create_app.

Alembic's folder is the `migrations` package, shipped in the wheel and found with importlib.resources, so an
installed Podium migrates without a source checkout.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_PACKAGE = "migrations"


def migrations_dir() -> Path:
    """The folder of the installed `migrations` package (env.py, script.py.mako, versions/)."""
    hint = "reinstall Podium from its wheel, or run `pip install -e .` in a checkout"
    try:
        path = Path(str(importlib.resources.files(MIGRATIONS_PACKAGE)))
    except ModuleNotFoundError:
        raise RuntimeError(f"Podium's migrations package is not installed; {hint}") from None
    if not (path / "env.py").is_file():
        raise RuntimeError(f"Podium's migrations package at {path} has no env.py; {hint}")
    return path


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from app.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
