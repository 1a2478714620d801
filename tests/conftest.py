"""Shared fixtures. Service fixtures live in tests/fixtures/ and are registered here.

Tests talk to real services: Redis, PostgreSQL, SeaweedFS (S3) and a Docker engine.
"""

from __future__ import annotations

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
    "tests.fixtures.databases",
    "tests.fixtures.baselines",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CHALLENGE = REPO_ROOT / "challenges" / "breast-cancer-wisconsin"
MULTISITE_CHALLENGE = REPO_ROOT / "challenges" / "breast-multisite"


def podium_environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """PODIUM_* variables for a fresh data directory and a private queue; overrides like DATABASE_URL=..."""
    env = {
        "PODIUM_DATA_DIR": str(tmp_path / "data"),
        "PODIUM_QUEUE": f"podium-test-{uuid.uuid4().hex[:12]}",
        "PODIUM_SECRET_KEY": "test-secret",
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


@pytest.fixture
def resources(settings: Settings) -> Iterator[Resources]:
    upgrade(settings.database_url)
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
