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


def test_organisers_move_from_a_list_of_names_to_the_join_table_and_back(database_url: str) -> None:
    """Migration 0012: usernames that have an account become challenge_organisers rows (downgrade restores them)."""
    import json

    from alembic import command
    from sqlalchemy import text

    from app.db_migrations import alembic_config

    upgrade(database_url, "0010")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, username, display_name, is_admin, created_at) "
                                    "VALUES (1, 'ada', 'Ada', false, CURRENT_TIMESTAMP)"))
            connection.execute(text("INSERT INTO challenges (id, slug, title, description, organisers, public_files, "
                                    "created_at, updated_at) VALUES (1, 'c', 'C', '', :o, '[]', CURRENT_TIMESTAMP, "
                                    "CURRENT_TIMESTAMP)"), {"o": json.dumps(["ada", "no-account-yet"])})
            connection.execute(text(
                "INSERT INTO phases (id, challenge_id, slug, title, description, position, submission_kind, run_mode, "
                "time_limit_seconds, memory_mb, cpus, pids_limit, tmp_mb, output_mb, log_kb, max_upload_mb, "
                "submissions_per_day, inputs, outputs, ground_truth, metrics, ranking_metric, ranking_order) VALUES "
                "(1, 1, 'p', 'P', '', 0, 'container', 'batch', 60, 256, 1, 64, 16, 16, 64, 100, 5, '[]', '[]', '[]', "
                "'[]', 'auroc', 'descending')"))
            connection.execute(text(
                "INSERT INTO submissions (id, phase_id, user_id, state, comment, image_tags, "
                "failure_is_infrastructure, attempts, created_at, updated_at) VALUES (1, 1, 1, 'succeeded', '', '', "
                "false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        upgrade(database_url, "0012")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT challenge_id, user_id FROM challenge_organisers")).all() == [(1, 1)]
            # SQLite recreates `challenges` to drop a column: with foreign keys enforced that would have
            # cascaded to every phase and submission.
            assert connection.execute(text("SELECT count(*) FROM phases")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM submissions")).scalar_one() == 1
        command.downgrade(alembic_config(database_url), "0010")
        with engine.connect() as connection:
            organisers = connection.execute(text("SELECT organisers FROM challenges")).scalar_one()
        assert (json.loads(organisers) if isinstance(organisers, str) else organisers) == ["ada"]
    finally:
        engine.dispose()
