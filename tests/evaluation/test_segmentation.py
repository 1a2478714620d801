"""Segmentation metrics against medpy (Dice, IoU, HD95) and a brute-force NSD, on arrays and on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from medpy.metric.binary import dc, hd95, jc
from scipy.spatial.distance import cdist

from evaluation.base import MetricInput, MetricInputError
from evaluation.bootstrap import bootstrap_indices
from evaluation.metrics.segmentation import (
    Dice,
    HausdorffDistance95,
    ImageMismatchError,
    IoU,
    NormalizedSurfaceDice,
    dice,
    hausdorff95,
    image_diagonal,
    iou,
    normalized_surface_dice,
)
from tests.evaluation.synthetic import ball, random_blob_pair

EXACT = 1e-12


def mask_pairs(ndim: int, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shape = (37, 45) if ndim == 2 else (14, 23, 19)
    return [(*random_blob_pair(rng, shape), rng.uniform(0.3, 3.0, ndim)) for _ in range(count)]


@pytest.mark.parametrize("ndim", [2, 3])
def test_dice_iou_hd95_equal_medpy(ndim: int) -> None:
    for a, b, spacing in mask_pairs(ndim, 12, seed=ndim):
        assert dice(a, b) == pytest.approx(dc(a, b), abs=EXACT)
        assert iou(a, b) == pytest.approx(jc(a, b), abs=EXACT)
        assert hausdorff95(a, b, spacing) == pytest.approx(hd95(a, b, voxelspacing=spacing), abs=EXACT)
        assert hausdorff95(a, b) == pytest.approx(hd95(a, b), abs=EXACT)


def test_masks_touching_the_image_border_are_exact() -> None:
    """The crop cannot be padded at the image border; erosion there must still match the full image."""
    a = np.zeros((10, 12, 9), bool)
    b = np.zeros_like(a)
    a[0:4, 0:5, 3:9] = True
    b[1:6, 0:3, 5:9] = True
    b[9, 11, 0] = True
    spacing = (2.0, 0.5, 1.25)
    assert hausdorff95(a, b, spacing) == pytest.approx(hd95(a, b, voxelspacing=spacing), abs=EXACT)


def brute_force_surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of the mask with a face neighbour outside the mask or outside the image."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    exposed = np.zeros_like(mask)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            exposed |= ~np.roll(padded, step, axis=axis)[inner]
    return mask & exposed


def brute_force_nsd(a: np.ndarray, b: np.ndarray, spacing: np.ndarray, tolerance: float) -> float:
    points_a = np.argwhere(brute_force_surface(a)) * spacing
    points_b = np.argwhere(brute_force_surface(b)) * spacing
    distances = cdist(points_a, points_b)
    within = np.count_nonzero(distances.min(axis=1) <= tolerance) + np.count_nonzero(distances.min(axis=0) <= tolerance)
    return within / (len(points_a) + len(points_b))


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("tolerance", [0.0, 0.5, 1.0, 2.5])
def test_nsd_equals_brute_force_pairwise_distances(ndim: int, tolerance: float) -> None:
    for a, b, spacing in mask_pairs(ndim, 6, seed=10 + ndim):
        assert normalized_surface_dice(a, b, spacing, tolerance) == pytest.approx(
            brute_force_nsd(a, b, spacing, tolerance), abs=EXACT)


def test_hd95_uses_the_spacing_of_each_axis() -> None:
    a = np.zeros((3, 30), bool)
    b = np.zeros_like(a)
    a[1, 5], b[1, 9] = True, True  # 4 voxels apart along the second axis
    assert hausdorff95(a, b, (10.0, 0.5)) == pytest.approx(2.0)
    assert hausdorff95(a.T, b.T, (0.5, 10.0)) == pytest.approx(2.0)


def test_empty_masks_have_documented_values() -> None:
    empty = np.zeros((5, 6, 7), bool)
    full = empty.copy()
    full[2, 3, 4] = True
    spacing = (2.0, 1.0, 0.5)
    assert (dice(empty, empty), iou(empty, empty)) == (1.0, 1.0)
    assert (hausdorff95(empty, empty, spacing), normalized_surface_dice(empty, empty, spacing)) == (0.0, 1.0)
    diagonal = np.sqrt((4 * 2.0) ** 2 + (5 * 1.0) ** 2 + (6 * 0.5) ** 2)
    assert image_diagonal(empty.shape, spacing) == pytest.approx(diagonal)
    for a, b in ((empty, full), (full, empty)):
        assert (dice(a, b), iou(a, b)) == (0.0, 0.0)
        assert hausdorff95(a, b, spacing) == pytest.approx(diagonal)
        assert normalized_surface_dice(a, b, spacing) == 0.0


def test_identical_masks_are_perfect() -> None:
    a = ball((20, 20, 20), np.array([9.5, 9.0, 10.0]), np.array([5.0, 7.0, 4.0]))
    assert (dice(a, a), iou(a, a), hausdorff95(a, a, (1, 2, 3)), normalized_surface_dice(a, a, (1, 2, 3), 0.0)) \
        == (1.0, 1.0, 0.0, 1.0)


def test_different_shapes_are_an_error() -> None:
    with pytest.raises(ImageMismatchError, match="different shapes"):
        dice(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
    with pytest.raises(MetricInputError, match="spacing"):
        hausdorff95(np.ones((4, 4), bool), np.ones((4, 4), bool), (1.0, 1.0, 1.0))


# --- plugins on real image files ---------------------------------------------------------------------------------

def write_mask(path: Path, mask: np.ndarray, spacing_xyz: tuple[float, ...], dtype: type = np.uint8) -> str:
    image = sitk.GetImageFromArray(mask.astype(dtype))
    image.SetSpacing(spacing_xyz)
    sitk.WriteImage(image, str(path))
    return str(path)


@pytest.fixture
def image_cases(tmp_path: Path) -> tuple[MetricInput, list[tuple[np.ndarray, np.ndarray, tuple[float, ...]]]]:
    """Five cases in MHA, NIfTI and NRRD (2-D and 3-D), with the arrays and spacing (numpy axis order)."""
    rng = np.random.default_rng(3)
    cases, predictions, targets, truth = [], [], [], []
    formats = [".mha", ".nii.gz", ".nrrd", ".mha", ".nii.gz"]
    for i, suffix in enumerate(formats):
        shape = (16, 21, 18) if i != 3 else (40, 33)
        a, b = random_blob_pair(rng, shape)
        spacing_xyz = tuple(float(s) for s in rng.uniform(0.4, 2.5, len(shape)).round(3))
        predictions.append(write_mask(tmp_path / f"pred{i}{suffix}", a, spacing_xyz))
        targets.append(write_mask(tmp_path / f"true{i}{suffix}", b, spacing_xyz))
        cases.append(f"case{i}")
        stored_xyz = sitk.ReadImage(targets[-1]).GetSpacing()  # NIfTI stores spacing as float32
        assert stored_xyz == pytest.approx(spacing_xyz, rel=1e-6)
        truth.append((a, b, tuple(reversed(stored_xyz))))
    return MetricInput(cases, predictions, targets), truth


def test_plugins_read_files_and_honour_spacing(image_cases) -> None:
    data, truth = image_cases
    expected = {
        "dice": [dc(a, b) for a, b, _ in truth],
        "iou": [jc(a, b) for a, b, _ in truth],
        "hd95": [hd95(a, b, voxelspacing=s) for a, b, s in truth],
        "nsd": [brute_force_nsd(a, b, np.array(s), 1.0) for a, b, s in truth],
    }
    for plugin in (Dice(), IoU(), HausdorffDistance95(), NormalizedSurfaceDice()):
        result = plugin.compute(data)
        assert result.per_case == pytest.approx(expected[plugin.name], abs=EXACT)
        assert result.value == pytest.approx(np.mean(expected[plugin.name]), abs=EXACT)
        assert result.ci_low <= result.value <= result.ci_high
        indices = bootstrap_indices(len(truth), 25, seed=4)
        assert plugin.resample(data, indices) == pytest.approx(result.per_case[indices].mean(axis=1), abs=EXACT)


def test_nsd_tolerance_option(image_cases) -> None:
    data, truth = image_cases
    wide = MetricInput(data.case_ids, data.predictions, data.targets, options={"tolerance_mm": 3.0})
    expected = [brute_force_nsd(a, b, np.array(s), 3.0) for a, b, s in truth]
    assert NormalizedSurfaceDice().compute(wide).per_case == pytest.approx(expected, abs=EXACT)
    with pytest.raises(MetricInputError, match="tolerance_mm"):
        NormalizedSurfaceDice().compute(MetricInput(data.case_ids, data.predictions, data.targets,
                                                    options={"tolerance_mm": -1}))


def test_shape_or_spacing_mismatch_between_files_is_a_clear_error(tmp_path: Path) -> None:
    mask = np.zeros((6, 7, 8), np.uint8)
    mask[2:4, 2:5, 3:6] = 1
    reference = write_mask(tmp_path / "true.mha", mask, (1.0, 1.0, 2.0))
    other_spacing = write_mask(tmp_path / "pred_spacing.mha", mask, (1.0, 1.0, 2.5))
    other_shape = write_mask(tmp_path / "pred_shape.nii.gz", mask[:, :, :-1], (1.0, 1.0, 2.0))
    with pytest.raises(ImageMismatchError, match=r"case x: the prediction has voxel spacing \(2.5, 1.0, 1.0\)"):
        Dice().compute(MetricInput(["x"], [other_spacing], [reference]))
    with pytest.raises(ImageMismatchError, match=r"case y: the prediction has shape \(6, 7, 7\) but the reference"):
        Dice().compute(MetricInput(["y"], [other_shape], [reference]))


def test_non_binary_masks_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    mask = np.zeros((5, 5, 5), np.uint8)
    mask[1:3, 1:3, 1:3] = 255
    bad = write_mask(tmp_path / "pred.mha", mask, (1.0, 1.0, 1.0))
    good = write_mask(tmp_path / "true.mha", mask // 255, (1.0, 1.0, 1.0))
    with pytest.raises(MetricInputError, match="only the values 0 and 1"):
        Dice().compute(MetricInput(["a"], [bad], [good]))
    (tmp_path / "broken.mha").write_text("not an image")
    with pytest.raises(MetricInputError, match="cannot read image broken.mha"):
        Dice().compute(MetricInput(["a"], [str(tmp_path / "broken.mha")], [good]))


def test_float_masks_with_zero_and_one_are_accepted(tmp_path: Path) -> None:
    mask = np.zeros((5, 6, 7))
    mask[1:4, 2:5, 2:6] = 1.0
    prediction = write_mask(tmp_path / "pred.nrrd", mask, (0.5, 0.5, 1.0), dtype=np.float32)
    reference = write_mask(tmp_path / "true.nrrd", mask, (0.5, 0.5, 1.0))
    assert HausdorffDistance95().compute(MetricInput(["a"], [prediction], [reference])).value == 0.0
