"""Uploads in parts: who may begin one, parts in order only, resuming, sizes, and using the whole file once; a test
set uploaded as a .zip becomes a new version only when it is valid and changed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import Conflict, Forbidden, NotFound, RateLimited, TooLarge
from app.models import Challenge, PartedUpload, Phase, TestSet
from app.models._types import utcnow
from app.resources import Resources
from app.usecases.membership import add_organiser, request_to_join
from app.usecases.parted_uploads import (
    MAX_OPEN_UPLOADS,
    PartOutOfPlace,
    Purpose,
    abort_upload,
    begin_upload,
    expire_stale_uploads,
    receive_part,
    spool_path,
    take_complete_upload,
)
from app.usecases.test_set_upload import InvalidTestSet, replace_test_set
from app.usecases.users import create_user, issue_token
from tests.conftest import EXAMPLE_CHALLENGE
from tests.integration.helpers import CHALLENGE, PHASE, apply_example, drain_queue, get_submission

TEST_SET = EXAMPLE_CHALLENGE / "data" / "test"


def _phase(session: Session) -> Phase:
    challenge = session.scalar(select(Challenge).where(Challenge.slug == CHALLENGE))
    assert challenge is not None
    return next(p for p in challenge.phases if p.slug == PHASE)


def test_parts_in_order_resume_and_one_use(resources: Resources, settings: Settings, session: Session) -> None:
    apply_example(resources)
    phase = _phase(session)
    lab, _ = create_user(session, "lab")
    other, _ = create_user(session, "other")
    request_to_join(session, phase.challenge, lab, accept_terms=True)
    data = bytes(range(256)) * 4000  # 1 MB, in three parts
    upload = begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission",
                          filename="../../etc/algorithm.tar.gz", total_bytes=len(data))
    assert upload.filename == "algorithm.tar.gz" and upload.received_bytes == 0

    receive_part(session, settings.data_dir, token=upload.token, user=lab, offset=0,
                 stream=io.BytesIO(data[:400_000]), length=400_000)
    with pytest.raises(PartOutOfPlace) as out_of_place:  # a part sent twice (a retry after a lost answer)
        receive_part(session, settings.data_dir, token=upload.token, user=lab, offset=0,
                     stream=io.BytesIO(data[:400_000]), length=400_000)
    assert out_of_place.value.received_bytes == 400_000
    with pytest.raises(NotFound):  # someone else's upload does not exist for them
        receive_part(session, settings.data_dir, token=upload.token, user=other, offset=400_000,
                     stream=io.BytesIO(data[400_000:]), length=None)
    with pytest.raises(Conflict):  # not complete yet: nothing to use
        take_complete_upload(session, settings.data_dir, token=upload.token, user=lab, purpose=Purpose.SUBMISSION)
    with pytest.raises(TooLarge):  # past the declared size: refused, and what arrived stays as it was
        receive_part(session, settings.data_dir, token=upload.token, user=lab, offset=400_000,
                     stream=io.BytesIO(data[400_000:] + b"extra"), length=None)
    session.refresh(upload)
    assert upload.received_bytes == 400_000
    receive_part(session, settings.data_dir, token=upload.token, user=lab, offset=400_000,
                 stream=io.BytesIO(data[400_000:800_000]), length=None)
    receive_part(session, settings.data_dir, token=upload.token, user=lab, offset=800_000,
                 stream=io.BytesIO(data[800_000:]), length=None)

    with pytest.raises(Conflict):  # a container upload is not a test set
        take_complete_upload(session, settings.data_dir, token=upload.token, user=lab, purpose=Purpose.TEST_SET)
    spooled = take_complete_upload(session, settings.data_dir, token=upload.token, user=lab,
                                   purpose=Purpose.SUBMISSION, phase=phase)
    assert spooled.size == len(data) and spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.path.read_bytes() == data
    spooled.discard()
    with pytest.raises(NotFound):  # used once
        take_complete_upload(session, settings.data_dir, token=upload.token, user=lab, purpose=Purpose.SUBMISSION)


def test_who_may_begin_and_how_many(resources: Resources, settings: Settings, session: Session) -> None:
    apply_example(resources)
    phase = _phase(session)
    lab, _ = create_user(session, "lab")
    request_to_join(session, phase.challenge, lab, accept_terms=True)
    phase.closes_at = utcnow() - timedelta(minutes=1)
    with pytest.raises(Forbidden, match="closed"):  # the same checks as a submission, before a byte is sent
        begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission", filename="a",
                     total_bytes=10)
    phase.closes_at = None
    with pytest.raises(TooLarge):  # checked against the phase's limit before a byte is sent
        begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission", filename="a",
                     total_bytes=phase.max_upload_mb * 1024**2 + 1)
    with pytest.raises(Forbidden):  # participants do not upload test sets
        begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="test-set", filename="t.zip",
                     total_bytes=10)
    tokens = [begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission", filename="a",
                           total_bytes=10).token for _ in range(MAX_OPEN_UPLOADS)]
    with pytest.raises(RateLimited):
        begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission", filename="a",
                     total_bytes=10)
    abort_upload(session, settings.data_dir, token=tokens[0], user=lab)
    stale = session.scalar(select(PartedUpload).where(PartedUpload.token == tokens[1]))
    assert stale is not None
    stale_file = spool_path(settings.data_dir, stale)
    session.execute(update(PartedUpload).where(PartedUpload.token == tokens[1])
                    .values(updated_at=utcnow() - timedelta(days=2)))
    session.commit()
    assert expire_stale_uploads(session, settings.data_dir) == 1 and not stale_file.exists()
    begin_upload(session, settings.data_dir, user=lab, phase=phase, purpose="submission", filename="a",
                 total_bytes=10)  # room again: one aborted, one expired


def _zip_folder(folder: Path, target: Path, *, top: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{top}{path.relative_to(folder).as_posix()}")
    return target


def test_a_test_set_replaces_only_when_valid_and_changed(resources: Resources, session: Session,
                                                         tmp_path: Path) -> None:
    apply_example(resources)
    phase = _phase(session)
    lead, _ = create_user(session, "lead")
    lab, _ = create_user(session, "lab")
    add_organiser(session, phase.challenge, "lead")
    first = phase.current_test_set
    assert first is not None and first.version == 1

    same = replace_test_set(session, resources.store, phase=phase, archive=_zip_folder(TEST_SET, tmp_path / "a.zip",
                            top="test/"), actor=lead)
    assert (same.version, same.created) == (1, False)  # the same content (in a top folder): nothing new
    with pytest.raises(Forbidden):
        replace_test_set(session, resources.store, phase=phase, archive=tmp_path / "a.zip", actor=lab)

    broken = tmp_path / "broken"
    shutil.copytree(TEST_SET, broken)
    case = sorted((broken / "ground_truth").iterdir())[0]
    (case / "malignant.json").unlink()
    with pytest.raises(InvalidTestSet) as refused:
        replace_test_set(session, resources.store, phase=phase, archive=_zip_folder(broken, tmp_path / "b.zip"),
                         actor=lead)
    assert f"ground_truth/{case.name}/malignant.json" in str(refused.value)
    assert str(tmp_path) not in str(refused.value) and "/tmp" not in str(refused.value)
    session.refresh(phase)
    assert phase.current_test_set_id == first.id  # nothing replaced

    (case / "malignant.json").write_text(json.dumps(1 - json.loads((TEST_SET / "ground_truth" / case.name /
                                                                    "malignant.json").read_text())))
    changed = replace_test_set(session, resources.store, phase=phase,
                               archive=_zip_folder(broken, tmp_path / "c.zip"), actor=lead)
    assert (changed.version, changed.created, changed.case_count) == (2, True, first.case_count)
    session.refresh(phase)
    current = session.get(TestSet, phase.current_test_set_id)
    assert current is not None and current.version == 2
    stored = resources.store.get_bytes(f"{current.storage_prefix}/ground_truth/{case.name}/malignant.json")
    assert json.loads(stored) != json.loads((TEST_SET / "ground_truth" / case.name / "malignant.json").read_text())

    with pytest.raises(InvalidTestSet, match="not a .zip"):
        (tmp_path / "d.zip").write_bytes(b"not a zip")
        replace_test_set(session, resources.store, phase=phase, archive=tmp_path / "d.zip", actor=lead)


def _send_in_parts(client: FlaskClient, token: str, data: bytes, *, purpose: str, part: int) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    begun = client.post(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/uploads", headers=auth,
                        json={"purpose": purpose, "filename": "file", "size": len(data)})
    assert begun.status_code == 201, begun.get_json()
    upload = begun.get_json()["token"]
    offset = 0
    while offset < len(data):
        sent = client.put(f"/api/v1/uploads/{upload}", query_string={"offset": offset}, data=data[offset:offset + part],
                          headers={**auth, "Content-Type": "application/octet-stream"})
        assert sent.status_code == 200, sent.get_json()
        offset = sent.get_json()["received_bytes"]
    repeated = client.put(f"/api/v1/uploads/{upload}", query_string={"offset": 0}, data=data[:part],
                          headers={**auth, "Content-Type": "application/octet-stream"})
    assert repeated.status_code == 409
    status = client.get(f"/api/v1/uploads/{upload}", headers=auth).get_json()
    assert status["complete"] and status["received_bytes"] == len(data)
    return upload


def test_submit_and_replace_a_test_set_through_the_api(resources: Resources, settings: Settings, client: FlaskClient,
                                                       baseline_archives, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    with resources.session() as session:
        lab, lab_token = create_user(session, "lab")
        request_to_join(session, _phase(session).challenge, lab, accept_terms=True)
        create_user(session, "lead")
        add_organiser(session, _phase(session).challenge, "lead")
        lead_token = issue_token(session, "lead")
    archive = baseline_archives["logistic-regression"].archive.read_bytes()
    upload = _send_in_parts(client, lab_token, archive, purpose="submission", part=len(archive) // 3 + 1)
    auth = {"Authorization": f"Bearer {lab_token}"}
    made = client.post(f"/api/v1/uploads/{upload}/submission", headers=auth, json={"comment": "in parts"})
    assert made.status_code == 201, made.get_json()
    submission = made.get_json()
    assert submission["state"] == "queued" and submission["comment"] == "in parts"
    assert client.post(f"/api/v1/uploads/{upload}/submission", headers=auth, json={}).status_code == 404  # once
    drain_queue(settings)
    assert get_submission(client, lab_token, submission["id"])["state"] == "succeeded"

    test_set = _zip_folder(TEST_SET, tmp_path / "t.zip").read_bytes()
    refused = client.post(f"/api/v1/challenges/{CHALLENGE}/phases/{PHASE}/uploads", headers=auth,
                          json={"purpose": "test-set", "filename": "t.zip", "size": len(test_set)})
    assert refused.status_code == 403  # a participant
    upload = _send_in_parts(client, lead_token, test_set, purpose="test-set", part=100_000)
    replaced = client.post(f"/api/v1/uploads/{upload}/test-set", headers={"Authorization": f"Bearer {lead_token}"})
    assert replaced.status_code == 201, replaced.get_json()
    assert replaced.get_json()["version"] == 1 and not replaced.get_json()["created"]
