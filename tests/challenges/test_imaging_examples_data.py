"""The imaging examples' data and containers' image code, without containers: prepare.py is deterministic and
leaves identical files alone (other test runs may be reading them), its cases are what the challenges declare,
and the numpy-only MetaImage module the baselines share reads and writes what SimpleITK does."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import PROSTATE_CHALLENGE, SPLEEN_CHALLENGE

# challenge -> (image input folder, label folder, number of test cases)
EXAMPLES = {SPLEEN_CHALLENGE: ("images/ct", "images/spleen", 32),
            PROSTATE_CHALLENGE: ("images/transverse-adc-prostate-mri", "images/cspca-label", 36)}


def _prepare(challenge: Path, out: Path) -> None:
    subprocess.run([sys.executable, str(challenge / "prepare.py"), str(out)], check=True, cwd=challenge)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """Each example's data, prepared once for this module."""
    folders = {}
    for challenge in EXAMPLES:
        folders[challenge] = tmp_path_factory.mktemp(challenge.name)
        _prepare(challenge, folders[challenge])
    return folders


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("challenge", list(EXAMPLES), ids=lambda p: p.name)
def test_prepare_writes_the_same_bytes_every_time_and_rewrites_nothing(challenge: Path, tmp_path: Path,
                                                                      prepared: dict[Path, Path]) -> None:
    first = prepared[challenge]
    written = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    _prepare(challenge, first)
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == written
    _prepare(challenge, tmp_path)
    assert _files(tmp_path) == _files(first)


@pytest.mark.parametrize("challenge", list(EXAMPLES), ids=lambda p: p.name)
def test_each_case_has_one_image_and_a_binary_label_on_its_grid(challenge: Path, prepared: dict[Path, Path]) -> None:
    image_folder, label_folder, count = EXAMPLES[challenge]
    tmp_path = prepared[challenge]
    rows = list(csv.DictReader((tmp_path / "test" / "cases.csv").open()))
    assert len(rows) == count and {r["site"] for r in rows} == {"site-a", "site-b"}
    spacings = set()
    for row in rows:
        case = row["case_id"]
        images = list((tmp_path / "test" / "inputs" / case / image_folder).iterdir())
        labels = list((tmp_path / "test" / "ground_truth" / case / label_folder).iterdir())
        assert [p.name for p in images] == [p.name for p in labels] == [f"{case}.mha"]
        image, label = sitk.ReadImage(str(images[0])), sitk.ReadImage(str(labels[0]))
        assert image.GetSize() == label.GetSize() and image.GetSpacing() == label.GetSpacing()
        assert image.GetOrigin() == label.GetOrigin() and image.GetDimension() == 3
        assert set(np.unique(sitk.GetArrayFromImage(label)).tolist()) <= {0, 1}
        spacings.add((row["site"], image.GetSpacing()))
    assert len(spacings) == 2  # one grid per site


def test_the_detection_example_has_cases_with_and_without_cancer_at_each_site(prepared: dict[Path, Path]) -> None:
    tmp_path = prepared[PROSTATE_CHALLENGE]
    truth = tmp_path / "test" / "ground_truth"
    by_site: dict[str, set[int]] = {}
    for row in csv.DictReader((tmp_path / "test" / "cases.csv").open()):
        label = json.loads((truth / row["case_id"] / "cspca-case-label.json").read_text())
        lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(truth / row["case_id"] / "images" / "cspca-label"
                                                            / f"{row['case_id']}.mha")))
        assert label == int(lesions.any())
        by_site.setdefault(row["site"], set()).add(label)
    assert by_site == {"site-a": {0, 1}, "site-b": {0, 1}}


SHARED_MHA = PROSTATE_CHALLENGE.parent / "_shared" / "container" / "mha.py"


def _mha_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_mha", SHARED_MHA)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_the_baselines_mha_module_reads_and_writes_what_simpleitk_does(compressed: bool, dtype: type,
                                                                       tmp_path: Path) -> None:
    mha = _mha_module()
    voxels = (np.random.default_rng(7).normal(size=(4, 5, 6)) * 50).astype(dtype)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.7, 0.8, 3.0))
    image.SetOrigin((-10.0, 5.5, 30.0))
    image.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, 1))
    sitk.WriteImage(image, str(tmp_path / "in.mha"), useCompression=compressed)

    read, header = mha.read_mha(tmp_path / "in.mha")
    assert read.dtype == dtype and np.array_equal(read, voxels)
    mha.write_mha(tmp_path / "out" / "mask.mha", (read > 0).astype(np.uint8), header)
    written = sitk.ReadImage(str(tmp_path / "out" / "mask.mha"))
    assert np.array_equal(sitk.GetArrayFromImage(written), (voxels > 0).astype(np.uint8))
    assert written.GetSpacing() == image.GetSpacing() and written.GetOrigin() == image.GetOrigin()
    assert written.GetDirection() == image.GetDirection()
