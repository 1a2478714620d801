"""Challenge bundles uploaded through the site: the same checks as `podium challenge apply`, who may, and an
archive that is hostile input."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden
from app.models import Challenge, User
from app.resources import Resources
from app.usecases.challenge_bundle import InvalidBundle, import_bundle
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE

SLUG = "breast-cancer-wisconsin"


def _folder(tmp_path: Path) -> Path:
    copy = tmp_path / "bcw"
    shutil.copytree(EXAMPLE_CHALLENGE, copy, ignore=shutil.ignore_patterns("baselines", "prepare.py"))
    spec = (copy / "challenge.yaml").read_text().replace("prepare: prepare.py\n", "")
    (copy / "challenge.yaml").write_text(spec)
    return copy


def _zip(folder: Path, target: Path, *, top: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, top + str(path.relative_to(folder)))
    return target


@pytest.fixture
def people(session: Session) -> dict[str, User]:
    admin, _ = create_user(session, "root", is_admin=True)
    lead, _ = create_user(session, "lead")
    session.commit()
    return {"admin": admin, "lead": lead}


def test_an_admin_creates_and_an_organiser_updates(session: Session, resources: Resources, tmp_path: Path,
                                                   people: dict[str, User]) -> None:
    folder = _folder(tmp_path)
    bundle = _zip(folder, tmp_path / "b.zip", top="bcw/")  # one top folder is fine too
    with pytest.raises(Forbidden, match="only the site's admins create"):
        import_bundle(session, resources.store, bundle, people["lead"])
    session.rollback()
    assert session.scalar(select(Challenge)) is None
    report = import_bundle(session, resources.store, bundle, people["admin"])
    session.commit()
    assert report.created and report.phases[0].case_count == 228
    challenge = session.scalars(select(Challenge)).one()
    assert people["admin"].id in challenge.organiser_ids  # the creator organises it
    add_organiser(session, challenge, "lead")
    session.commit()
    (folder / "challenge.yaml").write_text((folder / "challenge.yaml").read_text().replace(
        "title: Breast", "title: Updated Breast", 1))
    report = import_bundle(session, resources.store, _zip(folder, tmp_path / "c.zip"), people["lead"])
    session.commit()
    assert not report.created and not report.phases[0].test_set_uploaded  # same test set: no new version
    assert session.scalars(select(Challenge.title)).one().startswith("Updated Breast")


def test_bad_bundles_are_refused_with_a_clear_message_and_change_nothing(
        session: Session, resources: Resources, tmp_path: Path, people: dict[str, User]) -> None:
    folder = _folder(tmp_path)
    with_prepare = tmp_path / "prepare"
    shutil.copytree(folder, with_prepare)
    (with_prepare / "challenge.yaml").write_text("prepare: evil.py\n" + (folder / "challenge.yaml").read_text())
    (with_prepare / "evil.py").write_text("open('/tmp/podium-evil-ran', 'w').write('x')\n")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "challenge.yaml").write_text((folder / "challenge.yaml").read_text().replace("phases:", "phasez:"))

    escaping = tmp_path / "escaping.zip"
    with zipfile.ZipFile(escaping, "w") as bundle:
        bundle.writestr("../outside.txt", "x")
    linked = tmp_path / "linked.zip"
    with zipfile.ZipFile(linked, "w") as bundle:
        link = zipfile.ZipInfo("challenge.yaml")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    not_a_zip = tmp_path / "not.zip"
    not_a_zip.write_bytes(b"this is not a zip")

    cases = [(_zip(with_prepare, tmp_path / "p.zip"), "cannot run a prepare step"),
             (_zip(broken, tmp_path / "x.zip"), "phasez"),
             (escaping, "unsafe name"), (linked, "symbolic link"), (not_a_zip, "not a .zip"),
             (_zip(folder / "data", tmp_path / "d.zip"), "no challenge.yaml")]
    for bundle, expected in cases:
        with pytest.raises(InvalidBundle) as refused:
            import_bundle(session, resources.store, bundle, people["admin"], work_dir=tmp_path)
        session.rollback()
        assert expected in str(refused.value), str(refused.value)
        assert str(tmp_path) not in str(refused.value)  # no server paths in what the uploader reads
    assert not Path("/tmp/podium-evil-ran").exists()
    assert not (tmp_path.parent / "outside.txt").exists()
    assert session.scalar(select(Challenge)) is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("bundle-")] == []  # unpacked folders removed


def test_the_import_page(app: Flask, resources: Resources, tmp_path: Path) -> None:
    from tests.app.test_authorization_matrix import sign_in

    with resources.session() as session:
        _, token = create_user(session, "root", is_admin=True)
    client = app.test_client()
    csrf = sign_in(client, token)
    assert 'id="import-link"' in client.get("/").get_data(as_text=True)  # admins find it on the challenge list
    assert 'id="import-link"' not in app.test_client().get("/").get_data(as_text=True)
    assert "Check and import" in client.get("/import-challenge").get_data(as_text=True)
    bundle = _zip(_folder(tmp_path), tmp_path / "b.zip")
    with bundle.open("rb") as body:
        answer = client.post("/import-challenge", data={"csrf": csrf, "bundle": (body, "b.zip")},
                             content_type="multipart/form-data")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/challenges/{SLUG}"
    assert "challenge breast-cancer-wisconsin: created" in client.get(f"/challenges/{SLUG}").get_data(as_text=True)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    with bad.open("rb") as body:
        refused = client.post("/import-challenge", data={"csrf": csrf, "bundle": (body, "bad.zip")},
                              content_type="multipart/form-data")
    assert refused.status_code == 400 and "not a .zip archive" in refused.get_data(as_text=True)
