"""`podium db upgrade` on SQLite and PostgreSQL: head from empty, idempotent, and the models match."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db import make_engine
from app.db_migrations import current_revision, head_revision, upgrade
from app.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'podium.db'}"
    return request.getfixturevalue("postgres_url")


def test_upgrade_reaches_head_twice_and_matches_the_models(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    upgrade(database_url)  # a second run changes nothing
    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"users", "challenges", "phases", "test_sets", "cases", "submissions", "evaluation_runs",
                    "case_outcomes", "scores"} <= tables
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"the models and the migrations disagree: {diff}"


def test_an_older_database_is_brought_to_head(database_url: str) -> None:
    upgrade(database_url, "0001")
    assert current_revision(database_url) == "0001"
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_downgrade_to_empty_and_back(database_url: str) -> None:
    from alembic import command

    from app.db_migrations import alembic_config

    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
