"""One DICOM path end to end: the spleen example's hidden CT inputs uploaded again as DICOM series (one file per
slice, as a scanner writes them) are converted to MHA when the test set is read, reach the batch container as
/input/<case>/images/ct/<case>.mha, and the good baseline's masks, checked against the input's grid, score as on
the original MHA test set."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import SimpleITK as sitk
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.models import Challenge, User
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.test_set_upload import replace_test_set
from tests.app.usecases.test_image_test_sets import write_dicom_series
from tests.conftest import SPLEEN_CHALLENGE
from tests.integration.helpers import drain_queue, get_submission, make_user, prepared_challenge, submit_archive

SLUG, PHASE, CASES = "spleen-ct-segmentation", "test", 4


def _dicom_test_set(source: Path, target: Path) -> Path:
    """The first CASES cases of the test set, each CT as a DICOM series; the ground truth as it is."""
    target.mkdir()
    with (source / "cases.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:CASES]
    with (target / "cases.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        case = row["case_id"]
        shutil.copytree(source / "ground_truth" / case, target / "ground_truth" / case)
        ct = sitk.ReadImage(str(source / "inputs" / case / "images/ct" / f"{case}.mha"))
        write_dicom_series(target / "inputs" / case / "images/ct", ct, series=f"1.2.826.0.1.3680043.2.1125.{len(case)}")
    archive = target.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(target).as_posix())
    return archive


def test_hidden_inputs_uploaded_as_dicom_series_reach_the_container_as_mha(
        resources: Resources, settings: Settings, spleen_archives, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = prepared_challenge(SPLEEN_CHALLENGE)
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)
    make_user(resources, "organiser")
    archive = _dicom_test_set(folder / "data" / "test", tmp_path / "dicom-test-set")
    assert not any(p.suffix == ".mha" for p in (tmp_path / "dicom-test-set" / "inputs").rglob("*"))
    with resources.session() as session:
        phase = session.scalars(select(Challenge).where(Challenge.slug == SLUG)).one().phases[0]
        organiser = session.scalars(select(User).where(User.username == "organiser")).one()
        organiser.is_admin = True
        report = replace_test_set(session, resources.store, phase=phase, archive=archive, actor=organiser,
                                  work_dir=tmp_path / "work")
        assert report.case_count == CASES and report.created
        inputs = [dict(case.inputs) for case in phase.current_test_set.cases]
    assert inputs[0]["ct-image"].endswith("/images/ct/" + inputs[0]["ct-image"].split("/")[0] + ".mha")

    client = create_app(settings).test_client()
    token = make_user(resources, "radboud-ai-lab")
    status, body = submit_archive(client, token, spleen_archives["window-and-largest-component"].archive,
                                  challenge=SLUG, phase=PHASE)
    assert status == 201, body
    drain_queue(settings)
    result = get_submission(client, token, body["id"])
    assert result["state"] == "succeeded", result
    assert result["run"]["cases_valid"] == CASES
    board = client.get(f"/api/v1/challenges/{SLUG}/phases/{PHASE}/leaderboard").get_json()
    assert float(board["rows"][0]["scores"]["dice"]["value"]) > 0.8
