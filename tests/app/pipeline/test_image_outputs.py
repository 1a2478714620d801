"""Image outputs are validated when scored: each rule a participant's image breaks makes the case INVALID with a
per-case message naming the file and the rule (the participant's fault, never the platform's), worded in full and
safely (the safe wording quotes nothing the container chose). Real SimpleITK files, written in tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from app.challenge_yaml import ImageRules, Interface
from app.pipeline.scoring import ScoringConfigurationError, ScoringResult, score_outputs
from runners.outputs import SYMLINK, read_output_bytes

SHAPE = (4, 5, 6)  # numpy order (z, y, x)
SPACING = (0.5, 0.6, 3.0)  # SimpleITK order (x, y, z)
ORIGIN = (-10.0, 5.0, 2.0)
T2 = Interface(slug="prostate-t2", kind="image", relative_path="images/prostate-t2")
MASK = Interface(slug="prostate-mask", kind="image", relative_path="images/prostate-mask")
RULES = ImageRules(same_grid_as="prostate-t2", pixel_type=["uint8", "int16"], values=[0, 1], dimensions=3)
DICE = [{"name": "dice", "prediction": "prostate-segmentation", "target": "prostate-mask"}]
WHERE = "/output/c1/images/prostate-segmentation/"


def _output(rules: ImageRules | None = RULES) -> Interface:
    return Interface(slug="prostate-segmentation", kind="image", relative_path="images/prostate-segmentation",
                     image=rules)


def _mask(seed: int = 0) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[1:3, 1:4, 2:5] = 1
    if seed:
        mask[0, 0, seed % SHAPE[2]] = 1
    return mask


def _write(path: Path, array: np.ndarray, spacing: tuple[float, ...] = SPACING,
           origin: tuple[float, ...] = ORIGIN) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[:image.GetDimension()])
    image.SetOrigin(origin[:image.GetDimension()])
    sitk.WriteImage(image, str(path))
    return path


class Phase:
    """Two cases: staged inputs, ground truth, and what the container wrote (relative path -> local file)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases = ["c1", "c2"]
        self.inputs = {c: {"prostate-t2": _write(root / "input" / c / "images/prostate-t2" / f"{c}.mha",
                                                 np.full(SHAPE, 7, np.int16))} for c in self.cases}
        for case in self.cases:
            _write(root / "truth" / case / "images/prostate-mask" / f"{case}.mha", _mask())
        self.files: dict[str, Path] = {}
        for case in self.cases:
            self.put(case, "seg.mha", _mask())

    def put(self, case: str, name: str, array: np.ndarray | None = None, *, raw: bytes | None = None,
            folder: str = "images/prostate-segmentation", **geometry: Any) -> Path:
        relative = f"{case}/{folder}/{name}"
        path = self.root / "output" / relative
        if raw is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
        else:
            assert array is not None
            _write(path, array, **geometry)
        self.files[relative] = path
        return path

    def clear(self, case: str) -> None:
        self.files = {k: v for k, v in self.files.items() if not k.startswith(f"{case}/")}
        shutil.rmtree(self.root / "output" / case, ignore_errors=True)

    def score(self, output: Interface, metrics: list[dict[str, Any]] | None = None, policy: str = "fail",
              rejected: dict[str, str] | None = None) -> ScoringResult:
        return score_outputs(case_keys=self.cases, outputs=[output], ground_truth=[MASK],
                             metrics=DICE if metrics is None else metrics, output_files=dict(self.files),
                             rejected_files=rejected or {}, truth_dir=self.root / "truth",
                             read_output=read_output_bytes, missing_cases=policy, input_images=self.inputs)


@pytest.fixture
def phase(tmp_path: Path) -> Phase:
    return Phase(tmp_path)


def test_good_masks_are_scored_with_the_file_inside_the_folder(phase: Phase) -> None:
    phase.clear("c2")
    phase.put("c2", "seg.nii.gz", _mask(seed=3))  # any supported format
    result = phase.score(_output())
    assert result.ok, result.failure_message()
    assert [c.status for c in result.cases] == ["valid", "valid"]
    assert result.cases[0].prediction["prostate-segmentation"].endswith("c1/images/prostate-segmentation/seg.mha")
    assert result.scores["dice"].value < 1.0 and result.cases[0].values["dice"] == 1.0
    assert result.notes == []


def test_an_mhd_with_its_data_file_is_one_image_and_nothing_is_ignored(phase: Phase) -> None:
    phase.clear("c1")
    header = phase.put("c1", "seg.mhd", _mask())
    phase.files["c1/images/prostate-segmentation/seg.raw"] = header.with_suffix(".raw")
    result = phase.score(_output())
    assert result.ok, result.failure_message()
    assert result.notes == []


def _break(phase: Phase, change: Callable[[Phase], Any]) -> tuple[str, str, str]:
    phase.clear("c1")
    change(phase)
    result = phase.score(_output())
    assert not result.ok and result.scores == {}
    case = result.cases[0]
    assert result.cases[1].status == "valid"
    return case.status, case.message, case.safe_message


BROKEN: list[tuple[str, Callable[[Phase], Any], str, str, str]] = [
    ("missing", lambda p: None, "missing", f"{WHERE} is missing; write one image file into it",
     f"{WHERE} is missing"),
    ("two images", lambda p: (p.put("c1", "a.mha", _mask()), p.put("c1", "secret-b.mha", _mask())), "invalid",
     "holds 2 image files (a.mha, secret-b.mha); write exactly one", f"{WHERE} holds 2 image files; write exactly one"),
    ("an image and another file", lambda p: (p.put("c1", "a.mha", _mask()), p.put("c1", "notes.txt", raw=b"x")),
     "invalid", "other files besides the image a.mha: notes.txt", f"{WHERE} holds 2 files; write exactly one"),
    ("not an image format", lambda p: p.put("c1", "secret.png", raw=b"\x89PNG"), "invalid",
     "holds no image file of a supported format", "holds no image file of a supported format"),
    ("unreadable", lambda p: p.put("c1", "secret.mha", raw=b"ObjectType = Image\nNDims = 3\nElementDataFile = LOCAL\n"),
     "invalid", "secret.mha cannot be read as an image", f"{WHERE}: the image file cannot be read"),
    ("data elsewhere", lambda p: p.put("c1", "x.mha", raw=b"NDims = 3\nElementDataFile = /etc/hostname\n"),
     "invalid", "x.mha: ElementDataFile '/etc/hostname' is not a plain file name beside the header",
     "the MetaImage header's ElementDataFile is not a plain file name beside it"),
    ("data in another file", lambda p: p.put("c1", "x.mha", raw=b"NDims = 3\nElementDataFile = x.raw\n"),
     "invalid", "an MHA must hold its data (ElementDataFile = LOCAL), not name another file ('x.raw')",
     "the MHA names another file as its data"),
    ("detached nrrd", lambda p: p.put("c1", "x.nrrd", raw=b"NRRD0004\ntype: uchar\ndata file: ../../truth/c1\n\n"),
     "invalid", "a detached NRRD header", "the NRRD header names a data file"),
    ("a file at the folder's path", lambda p: p.put("c1", "prostate-segmentation", raw=b"x", folder="images"),
     "invalid", "/output/c1/images/prostate-segmentation is a file; an image output is a folder", "is a file"),
    ("2-D", lambda p: p.put("c1", "secret.mha", _mask()[0]), "invalid",
     "secret.mha: the image is 2-D; a 3-D image is expected", f"{WHERE}: the image is not 3-D"),
    ("pixel type", lambda p: p.put("c1", "secret.mha", _mask().astype(np.float32)), "invalid",
     "secret.mha: its pixel type float32 is not one of uint8, int16",
     f"{WHERE}: the image's pixel type is not one of uint8, int16"),
    ("size", lambda p: p.put("c1", "secret.mha", np.zeros((4, 5, 7), np.uint8)), "invalid",
     "secret.mha: the image's size (7, 5, 4) (the input's is (6, 5, 4)) differs from the grid of input 'prostate-t2'",
     f"{WHERE}: the image's size differs from the grid of input 'prostate-t2'"),
    ("spacing", lambda p: p.put("c1", "secret.mha", _mask(), spacing=(0.5, 0.6, 2.5)), "invalid",
     "the image's spacing (0.5, 0.6, 2.5)",
     f"{WHERE}: the image's spacing differs from the grid of input 'prostate-t2'"),
    ("origin", lambda p: p.put("c1", "secret.mha", _mask(), origin=(-10.0, 5.1, 2.0)), "invalid",
     "the image's origin (-10.0, 5.1, 2.0)",
     f"{WHERE}: the image's origin differs from the grid of input 'prostate-t2'"),
    ("values", lambda p: p.put("c1", "secret.mha", _mask() * 255), "invalid",
     "secret.mha: the image holds values other than 0, 1 (e.g. 255)",
     f"{WHERE}: the image holds values other than those allowed (0, 1)"),
]


@pytest.mark.parametrize(("change", "status", "full", "safe"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_each_broken_rule_is_the_participants_per_case_message(phase: Phase, change: Callable[[Phase], Any],
                                                               status: str, full: str, safe: str) -> None:
    got_status, got_full, got_safe = _break(phase, change)
    assert got_status == status
    assert full in got_full, got_full
    assert safe in got_safe, got_safe
    for chosen in ("secret", "(7, 5, 4)", "255", "float32", "2.5", "5.1", "hostname", "truth"):
        assert chosen not in got_safe  # nothing the container chose reaches the safe wording


def test_a_range_rule_refuses_values_outside_it(phase: Phase) -> None:
    output = _output(ImageRules(range=(0, 1)))
    phase.clear("c1")
    phase.put("c1", "p.mha", np.full(SHAPE, 1.5, np.float32))
    result = phase.score(output, metrics=[])  # the rule alone (dice would refuse a non-binary map too)
    case = result.cases[0]
    assert case.status == "invalid"
    assert "the image holds values from 1.5 to 1.5, outside the range [0, 1]" in case.message
    assert case.safe_message == f"{WHERE}: the image holds values outside the range [0, 1]"


def test_an_oversized_header_is_refused_before_any_pixel_is_read(phase: Phase) -> None:
    phase.clear("c1")
    header = (b"ObjectType = Image\nNDims = 3\nBinaryData = True\nCompressedData = True\nDimSize = 4096 4096 4096\n"
              b"ElementType = MET_UCHAR\nElementDataFile = LOCAL\n")
    phase.put("c1", "bomb.mha", raw=header + b"x" * 64)
    result = phase.score(_output(None))
    case = result.cases[0]
    assert case.status == "invalid"
    assert "its header declares 64.0 GiB of pixel data" in case.message
    assert case.safe_message == (f"{WHERE}: the image's header declares more pixel data than the platform reads from "
                                 "one image (1.0 GiB)")


@pytest.mark.parametrize(("array", "expected"), [
    (np.zeros((4, 5, 7), np.uint8), "the prediction has shape (4, 5, 7) but the reference has shape (4, 5, 6)"),
    (_mask() * 255, "a binary mask must hold only the values 0 and 1"),
])
def test_without_rules_what_the_metric_cannot_score_is_the_participants_fault(phase: Phase, array: np.ndarray,
                                                                                 expected: str) -> None:
    phase.clear("c1")
    phase.put("c1", "secret.mha", array)
    result = phase.score(_output(None))  # no image rules: the metric's own check finds it
    case = result.cases[0]
    assert case.status == "invalid" and not result.ok
    assert expected in case.message and "metric dice cannot score it" in case.message
    assert case.safe_message == (f"{WHERE}: metric dice cannot score it; it must be a binary mask (values 0 and 1) on "
                                 "the voxel grid of the reference")
    assert "secret" not in case.safe_message
    excluded = phase.score(_output(None), policy="exclude")  # the other case is still scored
    assert excluded.ok and excluded.scores["dice"].value == 1.0


def test_a_reference_the_metric_cannot_score_is_the_organisers_fault(phase: Phase) -> None:
    _write(phase.root / "truth" / "c1" / "images/prostate-mask" / "c1.mha", _mask() * 2)
    phase.clear("c1")
    phase.put("c1", "seg.mha", _mask() * 255)
    with pytest.raises(ScoringConfigurationError, match="the reference of case c1 cannot be scored"):
        phase.score(_output(None))


def test_files_outside_the_declared_folders_are_noted_and_ignored(phase: Phase) -> None:
    phase.put("c1", "extra.mha", _mask(), folder="images/other")
    result = phase.score(_output())
    assert result.ok
    assert [n.safe for n in result.notes] == ["ignored 1 file in /output that is not a declared output"]


def test_a_rejected_entry_in_the_folder_is_named_by_the_collectors_reason(phase: Phase) -> None:
    phase.clear("c1")
    result = phase.score(_output(), rejected={"c1/images/prostate-segmentation/secret.mha": SYMLINK})
    case = result.cases[0]
    assert case.status == "missing"
    assert case.message == ("/output/c1/images/prostate-segmentation/secret.mha was ignored (symbolic link); write the "
                            "image as a regular file")
    assert case.safe_message == (f"{WHERE} holds 1 entry that was ignored (symbolic link); write the image as a "
                                 "regular file")
