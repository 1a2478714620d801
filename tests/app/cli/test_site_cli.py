"""`podium site add|list|load-cases` through click's CliRunner, on this test's own central database (SQLite) and the
sites' SeaweedFS with identities (tests/fixtures/site_storage.py) as the site's storage."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from app.cli import main
from app.models import Case, Site
from app.resources import Resources
from tests.fixtures.site_storage import (
    CANARY_INPUT,
    SITE_CHALLENGE,
    SITE_PHASE,
    SiteS3,
    write_site_cases,
    write_site_challenge,
)

TARGET = f"{SITE_CHALLENGE}/{SITE_PHASE}"


def podium(*args: str, env: dict[str, str | None] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def site_env(site_s3: SiteS3, site: str, prefix: str, *, name: bool = True) -> dict[str, str | None]:
    """What the site's machine sets: its storage with its own key pair (and, with name, PODIUM_SITE)."""
    key, secret = site_s3.credentials[site]
    return {"PODIUM_SITE": site if name else None, "PODIUM_SITE_STORAGE_URL": f"s3://{site}/{prefix}",
            "PODIUM_SITE_S3_ENDPOINT_URL": site_s3.endpoint, "PODIUM_SITE_S3_ACCESS_KEY_ID": key,
            "PODIUM_SITE_S3_SECRET_ACCESS_KEY": secret}


def test_register_list_apply_and_load_a_sites_cases(resources: Resources, site_s3: SiteS3, site_prefix: str,
                                                    tmp_path: Path) -> None:
    assert "no sites registered" in podium("site", "list").output
    added = podium("site", "add", "site-a", "--title", "Hospital A")
    assert added.exit_code == 0 and "site site-a registered (Hospital A)" in added.output
    assert podium("site", "add", "site-b").exit_code == 0
    again = podium("site", "add", "site-a")
    assert again.exit_code == 1 and "already registered" in again.output
    bad = podium("site", "add", "Site A")
    assert bad.exit_code == 1 and "lower-case" in bad.output
    assert podium("site", "list").output.splitlines() == ["site-a\tHospital A", "site-b"]

    applied = podium("challenge", "apply", str(write_site_challenge(tmp_path / "challenge")))
    assert applied.exit_code == 0, applied.output
    assert "held at sites site-a, site-b: no cases loaded yet" in applied.output

    folder = write_site_cases(tmp_path / "a", ["a-1", "a-2"])
    loaded = podium("site", "load-cases", TARGET, str(folder), env=site_env(site_s3, "site-a", site_prefix))
    assert loaded.exit_code == 0, loaded.output
    assert "Loaded 2 cases at site site-a" in loaded.output and "test set v1" in loaded.output
    assert "now the phase's current test set" in loaded.output
    assert any(k.endswith("/cases.json") for k in site_s3.keys("site-a", site_prefix))

    # --site names the site when PODIUM_SITE is not set; the same files again change nothing.
    same = podium("site", "load-cases", TARGET, str(folder), "--site", "site-a",
                  env=site_env(site_s3, "site-a", site_prefix, name=False))
    assert same.exit_code == 0 and "Nothing new" in same.output

    with resources.session() as session:
        assert [c.inputs for c in session.scalars(select(Case))] == [{}, {}]
        assert session.scalar(select(Site.title).where(Site.name == "site-a")) == "Hospital A"
        assert CANARY_INPUT not in repr([c.meta for c in session.scalars(select(Case))])


def test_load_cases_says_what_is_wrong_without_a_traceback(resources: Resources, site_s3: SiteS3, site_prefix: str,
                                                           tmp_path: Path) -> None:
    assert podium("site", "add", "site-a").exit_code == 0
    assert podium("site", "add", "site-b").exit_code == 0
    assert podium("challenge", "apply", str(write_site_challenge(tmp_path / "challenge"))).exit_code == 0
    folder = write_site_cases(tmp_path / "a", ["a-1"])

    unnamed = podium("site", "load-cases", TARGET, str(folder), env=site_env(site_s3, "site-a", site_prefix,
                                                                             name=False))
    assert unnamed.exit_code == 2 and "--site NAME or PODIUM_SITE" in unnamed.output
    no_storage = podium("site", "load-cases", TARGET, str(folder), env={"PODIUM_SITE": "site-a"})
    assert no_storage.exit_code == 1 and "PODIUM_SITE_STORAGE_URL" in no_storage.output
    unknown = podium("site", "load-cases", TARGET, str(folder), env=site_env(site_s3, "site-a", site_prefix)
                     | {"PODIUM_SITE": "site-z"})
    assert unknown.exit_code == 1 and "podium site add site-z" in unknown.output
    no_phase = podium("site", "load-cases", f"{SITE_CHALLENGE}/nope", str(folder),
                      env=site_env(site_s3, "site-a", site_prefix))
    assert no_phase.exit_code == 1 and "no phase 'nope'" in no_phase.output
    # site-a's key pair on site-b's bucket: the storage refuses, and nothing is registered.
    wrong_key = site_env(site_s3, "site-a", site_prefix) | {"PODIUM_SITE": "site-b",
                                                           "PODIUM_SITE_STORAGE_URL": f"s3://site-b/{site_prefix}"}
    denied = podium("site", "load-cases", TARGET, str(folder), env=wrong_key)
    assert denied.exit_code == 1 and "AccessDenied" in denied.output and "Nothing was registered." in denied.output
    assert site_s3.keys("site-b", site_prefix) == []
    with resources.session() as session:
        assert session.scalars(select(Case)).all() == []
