"""A site's storage credentials reach its own bucket only (real SeaweedFS identities, tests/fixtures/site_storage.py);
S3Store and open_store use the credentials they are given, and Resources opens the site store from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from app.config import Settings, SettingsError
from app.resources import Resources
from app.storage import StorageError
from app.storage.factory import open_store
from tests.conftest import podium_environment
from tests.fixtures.site_storage import SiteS3


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def test_a_sites_credentials_cannot_read_or_write_another_sites_bucket(site_s3: SiteS3, site_prefix: str) -> None:
    site_b = site_s3.client("site-b")
    site_b.put_object(Bucket="site-b", Key=f"{site_prefix}/secret.json", Body=b'{"label": 1}')
    site_a = site_s3.client("site-a")
    with pytest.raises(ClientError) as read:
        site_a.get_object(Bucket="site-b", Key=f"{site_prefix}/secret.json")
    assert _code(read.value) == "AccessDenied"
    with pytest.raises(ClientError) as write:
        site_a.put_object(Bucket="site-b", Key=f"{site_prefix}/planted.json", Body=b"{}")
    assert _code(write.value) == "AccessDenied"
    with pytest.raises(ClientError) as listing:
        site_a.list_objects_v2(Bucket="site-b", Prefix=site_prefix)
    assert _code(listing.value) == "AccessDenied"
    assert site_s3.keys("site-b", site_prefix) == [f"{site_prefix}/secret.json"]
    # Its own bucket works, and an unknown key pair is refused everywhere.
    site_a.put_object(Bucket="site-a", Key=f"{site_prefix}/own.json", Body=b"{}")
    assert site_a.get_object(Bucket="site-a", Key=f"{site_prefix}/own.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError):
        SiteS3(site_s3.endpoint, {"x": ("nobody", "wrong")}).client("x").get_object(
            Bucket="site-a", Key=f"{site_prefix}/own.json")


def test_open_store_uses_the_credentials_it_is_given(site_s3: SiteS3, site_prefix: str) -> None:
    own = open_store(f"s3://site-a/{site_prefix}", s3_endpoint_url=site_s3.endpoint,
                     credentials=site_s3.credentials["site-a"])
    own.put_bytes("cases.json", b"[]")
    assert own.list("") == ["cases.json"]
    assert site_s3.keys("site-a", site_prefix) == [f"{site_prefix}/cases.json"]
    other = open_store(f"s3://site-a/{site_prefix}", s3_endpoint_url=site_s3.endpoint,
                       credentials=site_s3.credentials["site-b"])
    with pytest.raises(StorageError, match="AccessDenied"):
        other.get_bytes("cases.json")


def test_resources_open_the_site_store_from_the_site_settings(site_s3: SiteS3, site_prefix: str,
                                                              tmp_path: Path) -> None:
    key, secret = site_s3.credentials["site-a"]
    env = podium_environment(tmp_path, SITE="site-a", SITE_STORAGE_URL=f"s3://site-a/{site_prefix}",
                             SITE_S3_ENDPOINT_URL=site_s3.endpoint, SITE_S3_ACCESS_KEY_ID=key,
                             SITE_S3_SECRET_ACCESS_KEY=secret)
    settings = Settings.from_env(env)
    assert settings.site_name == "site-a" and settings.site_s3_access_key_id == key
    resources = Resources(settings)
    resources.site_store.put_bytes("probe", b"ok")
    assert site_s3.keys("site-a", site_prefix) == [f"{site_prefix}/probe"]
    assert Settings.from_env(podium_environment(tmp_path)).site_storage_url is None


def test_the_site_store_needs_its_settings(tmp_path: Path) -> None:
    resources = Resources(Settings.from_env(podium_environment(tmp_path)))
    with pytest.raises(StorageError, match="PODIUM_SITE_STORAGE_URL"):
        _ = resources.site_store
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env(podium_environment(tmp_path, SITE_S3_ACCESS_KEY_ID="only-the-key"))
    with pytest.raises(SettingsError, match="SITE_STORAGE_URL"):
        Settings.from_env(podium_environment(tmp_path, SITE_STORAGE_URL="ftp://x"))


def test_a_site_store_may_be_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "site-folder"
    resources = Resources(Settings.from_env(podium_environment(tmp_path, SITE_STORAGE_URL=f"file://{folder}")))
    resources.site_store.put_bytes("a/b.json", b"{}")
    assert (folder / "a" / "b.json").read_bytes() == b"{}"
    assert resources.site_store is not resources.store
