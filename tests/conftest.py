"""Shared fixtures. Service fixtures live in tests/fixtures/ and are registered here.

Tests talk to real services: Redis, PostgreSQL, SeaweedFS (S3) and a Docker engine.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import create_app
from app.config import Settings
from app.db_migrations import upgrade
from app.resources import Resources
from app.storage import ArtifactStore

pytest_plugins = [
    "tests.fixtures.docker_engine",
    "tests.fixtures.seaweedfs",
    "tests.fixtures.site_storage",  # the sites' SeaweedFS, with identities (docs/sites.md)
    "tests.fixtures.sites_run",  # site and central worker processes running a phase held at sites
    "tests.fixtures.databases",
    "tests.fixtures.baselines",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CHALLENGE = REPO_ROOT / "challenges" / "breast-cancer-wisconsin"
MULTISITE_CHALLENGE = REPO_ROOT / "challenges" / "breast-multisite"
SPLEEN_CHALLENGE = REPO_ROOT / "challenges" / "spleen-ct-segmentation"  # images, batch mode
PROSTATE_CHALLENGE = REPO_ROOT / "challenges" / "prostate-mri-detection"  # images, per-case mode


def podium_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """PODIUM_* variables for a fresh data directory and a private queue; overrides like DATABASE_URL=..."""
    env = {
        "PODIUM_DATA_DIR": str(tmp_path / "data"),
        "PODIUM_QUEUE": f"podium-test-{uuid.uuid4().hex[:12]}",
        "PODIUM_SECRET_KEY": "test-secret",
        # Nothing kept on the shared engine after a test's runs (tests/app/pipeline/test_image_cache.py turns it on).
        "PODIUM_IMAGE_CACHE_MB": "0",
    }
    env.update({f"PODIUM_{name}": value for name, value in overrides.items()})
    return env


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Embedded defaults (SQLite, local storage) in a fresh data directory, with a private queue.

    The same variables are exported, so worker job functions (which read the environment) agree.
    """
    env = podium_environment(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(env)


_sqlite_at_head: Path | None = None


def _sqlite_template() -> Path:
    """A SQLite database migrated to head once per test session (migrating one takes ~0.6 s)."""
    global _sqlite_at_head
    if _sqlite_at_head is None:
        folder = Path(tempfile.mkdtemp(prefix="podium-sqlite-head-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "podium.db"
        upgrade(f"sqlite:///{path}")
        with sqlite3.connect(path) as connection:  # everything in the main file, no -wal beside it
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        assert not path.with_name("podium.db-wal").exists(), "the migrated template still has a write-ahead log"
        _sqlite_at_head = path
    return _sqlite_at_head


def migrate(database_url: str) -> None:
    """Bring a test's fresh database to Alembic's head, as `podium db upgrade` does.

    A SQLite file gets a copy of a database migrated once per session (the bytes Alembic wrote, with its
    alembic_version row); any other database is upgraded.
    """
    path = database_url.removeprefix("sqlite:///")
    if database_url.startswith("sqlite:///") and path != ":memory:" and not Path(path).exists():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template(), path)
    else:
        upgrade(database_url)


@pytest.fixture
def resources(settings: Settings) -> Iterator[Resources]:
    migrate(settings.database_url)
    resources = Resources(settings)
    yield resources
    resources.close()


# ---- the Flask tutorial's fixtures ----------------------------------------------------------------

@pytest.fixture
def app(settings: Settings, resources: Resources) -> Flask:
    """The site and the API on this test's own database, storage and private Redis queue."""
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(resources: Resources) -> Iterator[Session]:
    """A database session that commits when the test ends without an error."""
    with resources.session() as db:
        yield db


@pytest.fixture
def store(resources: Resources) -> ArtifactStore:
    return resources.store
