from pathlib import Path

import pytest

from app.config import Settings, SettingsError


def test_embedded_defaults_are_sqlite_and_a_local_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"PODIUM_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'podium.db'}"
    assert settings.storage_url == f"file://{tmp_path / 'storage'}"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.secret_key == Settings.from_env({"PODIUM_DATA_DIR": str(tmp_path)}).secret_key


def test_postgresql_and_s3_are_one_variable_away(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "PODIUM_DATA_DIR": str(tmp_path),
        "PODIUM_DATABASE_URL": "postgresql://u@db/podium",
        "PODIUM_STORAGE_URL": "s3://bucket/prefix",
        "PODIUM_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
    })
    assert settings.database_url == "postgresql+psycopg://u@db/podium"
    assert settings.storage_url == "s3://bucket/prefix"
    assert settings.s3_endpoint_url == "http://127.0.0.1:8333"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PODIUM_DATABASE_URL", "mysql://x", "PODIUM_DATABASE_URL='mysql://x' has scheme 'mysql'"),
    ("PODIUM_STORAGE_URL", "ftp://x", "use one of: file, s3"),
    ("PODIUM_STORAGE_URL", "s3://", "needs a bucket"),
    ("PODIUM_WEB_PORT", "http", "PODIUM_WEB_PORT='http' is not a whole number"),
    ("PODIUM_WEB_PORT", "70000", "at most 65535"),
    ("PODIUM_MAX_UPLOAD_BYTES", "10", "at least 1024"),
])
def test_malformed_settings_name_the_variable(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        Settings.from_env({"PODIUM_DATA_DIR": str(tmp_path), name: value})
