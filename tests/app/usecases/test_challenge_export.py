"""Export a challenge as a bundle: importing it again changes nothing, and into an empty site recreates it."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from app.config import Settings
from app.errors import Forbidden
from app.models import Challenge, TestSet, User
from app.queries.challenge_spec import challenge_spec_of
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.challenge_bundle import import_bundle
from app.usecases.challenge_export import export_challenge
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE, migrate, podium_environment
from tests.fixtures.example_sites import register_example_sites


@pytest.fixture
def empty_site(tmp_path: Path) -> Iterator[Resources]:
    settings = Settings.from_env(podium_environment(tmp_path / "other-site"))
    migrate(settings.database_url)
    other = Resources(settings)
    yield other
    other.close()


def _applied(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        create_user(session, "lead")
        create_user(session, "stranger")
        register_example_sites(session)  # breast-multisite's phase at-sites is held at three sites
        apply_challenge(session, resources.store, folder)
        add_organiser(session, session.scalars(select(Challenge)).one(), "lead")


def _export(resources: Resources, tmp_path: Path, username: str = "lead") -> Path:
    target = tmp_path / "exported.zip"
    with resources.session() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        challenge = session.scalars(select(Challenge)).one()
        with export_challenge(session, resources.store, challenge, user, work_dir=tmp_path) as bundle:
            target.write_bytes(bundle.read())
    return target


def _state(resources: Resources) -> tuple[dict[str, object], list[tuple[str, int, str, int]]]:
    with resources.session() as session:
        challenge = session.scalars(select(Challenge)).one()
        spec = challenge_spec_of(challenge)
        spec.pop("organisers")
        sets = [(p.slug, p.current_test_set.version, p.current_test_set.content_hash, p.current_test_set.case_count)
                for p in challenge.phases if p.current_test_set is not None]
        return spec, sets


@pytest.mark.parametrize("folder", [EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE], ids=lambda f: f.name)
def test_an_exported_bundle_imports_into_the_same_site_without_a_new_version(
        resources: Resources, tmp_path: Path, folder: Path) -> None:
    _applied(resources, folder)
    before = _state(resources)
    bundle = _export(resources, tmp_path)
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        spec = yaml.safe_load(archive.read("challenge.yaml"))
    assert "test-sets/test/cases.csv" in names and "public/train.csv" in names
    assert len([n for n in names if n.startswith("test-sets/test/ground_truth/")]) == before[1][0][3]
    assert spec["organisers"] == ["lead"] and "prepare" not in spec
    if folder == MULTISITE_CHALLENGE:
        assert "readers/test.csv" in names and spec["phases"][0]["analysis"]["readers"]["file"] == "readers/test.csv"
    with resources.session() as session:
        lead = session.scalars(select(User).where(User.username == "lead")).one()
        report = import_bundle(session, resources.store, bundle, lead, work_dir=tmp_path)
    assert not report.created and not report.phases[0].test_set_uploaded
    assert _state(resources) == before  # the same settings, the same test set version (same content hash)
    with resources.session() as session:
        assert session.scalars(select(TestSet.version)).all() == [1]


def test_an_exported_bundle_recreates_the_challenge_on_an_empty_site(
        resources: Resources, empty_site: Resources, tmp_path: Path) -> None:
    _applied(resources, MULTISITE_CHALLENGE)
    before = _state(resources)
    bundle = _export(resources, tmp_path)
    with empty_site.session() as session:
        admin, _ = create_user(session, "root", is_admin=True)
        register_example_sites(session)  # the bundle's phase at-sites names them
        report = import_bundle(session, empty_site.store, bundle, admin, work_dir=tmp_path)
    assert report.created and report.phases[0].case_count == before[1][0][3]
    assert any("'lead' has no account" in w for w in report.warnings)
    after = _state(empty_site)
    assert after == before  # same case count and content hash, every setting alike
    with empty_site.session() as session:
        challenge = session.scalars(select(Challenge)).one()
        assert empty_site.store.get_bytes(challenge.phases[0].analysis["readers_key"]) == \
            resources.store.get_bytes(keys_of(resources)["readers"])
        assert empty_site.store.get_bytes(challenge.public_files[0]["key"]) == \
            (MULTISITE_CHALLENGE / "data" / "public" / "train.csv").read_bytes()


def keys_of(resources: Resources) -> dict[str, str]:
    with resources.session() as session:
        phase = session.scalars(select(Challenge)).one().phases[0]
        return {"readers": phase.analysis["readers_key"]}


def test_only_organisers_and_admins_export(resources: Resources, tmp_path: Path) -> None:
    _applied(resources, EXAMPLE_CHALLENGE)
    with pytest.raises(Forbidden, match="only the organisers"):
        _export(resources, tmp_path, "stranger")


def test_the_export_routes(app: Flask, resources: Resources, tmp_path: Path) -> None:
    from tests.app.web.test_organiser_pages import signed_in

    _applied(resources, EXAMPLE_CHALLENGE)
    with resources.session() as session:
        _, token = create_user(session, "root", is_admin=True)
        from app.usecases.accounts import hash_password
        from tests.app.web.test_accounts import PASSWORD
        session.scalars(select(User).where(User.username == "lead")).one().password_hash = hash_password(PASSWORD)
    api = app.test_client().get("/api/v1/challenges/breast-cancer-wisconsin/bundle.zip",
                                headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.mimetype == "application/zip"
    assert 'filename="breast-cancer-wisconsin.zip"' in api.headers["Content-Disposition"]
    (tmp_path / "api.zip").write_bytes(api.data)
    with zipfile.ZipFile(tmp_path / "api.zip") as archive:
        assert "test-sets/test/cases.csv" in archive.namelist()
    client = app.test_client()
    signed_in(client, "lead")
    page = client.get("/challenges/breast-cancer-wisconsin/export.zip")
    assert page.status_code == 200 and page.data[:2] == b"PK"
    anonymous = app.test_client().get("/challenges/breast-cancer-wisconsin/export.zip")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
