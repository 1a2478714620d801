"""Binary segmentation metrics (input_kind "image"): Dice, IoU, HD95 and normalised surface distance.

Predictions and targets are lists of paths to binary masks (MHA, NRRD, NIfTI; read with SimpleITK, voxel
spacing honoured). Every metric is case-level: one value per case, aggregated by the mean. The plain functions
(``dice``, ``iou``, ``hausdorff95``, ``normalized_surface_dice``) work on numpy arrays of any dimension.

Surfaces are the mask voxels removed by one erosion with the face-connected structuring element (voxels on
the image border count as surface), and distances are between voxel centres in mm, as in medpy. Distance
transforms run only on the union bounding box of both masks padded by one voxel: every surface voxel of either
mask lies in the union box, so the nearest surface voxel of the other mask is found there too, and the one-voxel
pad (background in both masks) makes the erosion identical to the erosion of the full image. The result is
therefore exactly that of the full-volume computation. Edge cases are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from evaluation.base import InputKind, MetricInput, MetricInputError
from evaluation.metrics.regression import CaseMeanMetric, check_options

Spacing = Sequence[float]


class ImageMismatchError(MetricInputError):
    """Prediction and reference are not on the same voxel grid."""


# --- reading ---------------------------------------------------------------------------------------------------

def read_image(path: str | Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Voxel array (numpy axis order, i.e. z, y, x) and spacing in the same axis order, via SimpleITK."""
    import SimpleITK as sitk  # imported here so that non-image metrics do not need it

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise MetricInputError(f"cannot read image {Path(path).name}: {str(error).strip().splitlines()[-1]}"
                               ) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise MetricInputError(f"{Path(path).name}: expected a scalar image, got "
                               f"{image.GetNumberOfComponentsPerPixel()} components per voxel")
    return sitk.GetArrayFromImage(image), tuple(reversed(image.GetSpacing()))


def as_binary_mask(values: np.ndarray, what: str) -> np.ndarray:
    """A 0/1 image as a boolean array; any other value is an error (e.g. a probability map or a 0/255 mask)."""
    if values.dtype == bool:
        return values
    if values.size and (values.min() < 0 or values.max() > 1
                        or (values.dtype.kind == "f" and not np.isin(values, (0, 1)).all())):
        raise MetricInputError(f"{what}: a binary mask must hold only the values 0 and 1")
    return values.astype(bool)


def check_same_grid(prediction_shape: tuple[int, ...], target_shape: tuple[int, ...],
                    prediction_spacing: Spacing, target_spacing: Spacing, case: str) -> None:
    """Shapes must be equal and spacings equal within 1e-5 relative (NIfTI stores spacing as float32)."""
    if tuple(prediction_shape) != tuple(target_shape):
        raise ImageMismatchError(f"case {case}: the prediction has shape {tuple(prediction_shape)} but the reference "
                                 f"has shape {tuple(target_shape)}; they must be on the same voxel grid")
    if not np.allclose(prediction_spacing, target_spacing, rtol=1e-5, atol=0.0):
        raise ImageMismatchError(f"case {case}: the prediction has voxel spacing {tuple(prediction_spacing)} mm but "
                                 f"the reference has {tuple(target_spacing)} mm; they must be on the same voxel grid")


def read_mask_pair(prediction: str | Path, target: str | Path, case: str
                   ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """Both masks (boolean) and the reference's spacing, after checking that they share a voxel grid."""
    pred_values, pred_spacing = read_image(prediction)
    true_values, true_spacing = read_image(target)
    check_same_grid(pred_values.shape, true_values.shape, pred_spacing, true_spacing, case)
    return (as_binary_mask(pred_values, f"case {case} prediction"),
            as_binary_mask(true_values, f"case {case} reference"), true_spacing)


# --- overlap ---------------------------------------------------------------------------------------------------

def _check_arrays(a: np.ndarray, b: np.ndarray, spacing: Spacing | None = None) -> tuple[float, ...]:
    if a.shape != b.shape:
        raise ImageMismatchError(f"masks have different shapes {a.shape} and {b.shape}")
    if spacing is None:
        return (1.0,) * a.ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != a.ndim or min(spacing, default=1.0) <= 0:
        raise MetricInputError(f"spacing {spacing} does not fit a {a.ndim}-D mask (one positive value per axis)")
    return spacing


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """2 |A and B| / (|A| + |B|); 1.0 when both masks are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    _check_arrays(a, b)
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """|A and B| / |A or B| (Jaccard index); 1.0 when both masks are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    _check_arrays(a, b)
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


# --- surface distances -----------------------------------------------------------------------------------------

def _union_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of a | b padded by one voxel (clipped to the image), or None when both are empty."""
    box: list[slice] = []
    for axis in range(a.ndim):
        others = tuple(i for i in range(a.ndim) if i != axis)
        # Later axes are searched only inside the range already found: far less than the whole volume.
        sub_a, sub_b = a[tuple(box)], b[tuple(box)]
        occupied = np.flatnonzero(np.any(sub_a, axis=others) | np.any(sub_b, axis=others))
        if occupied.size == 0:
            return None
        box.append(slice(max(int(occupied[0]) - 1, 0), min(int(occupied[-1]) + 2, a.shape[axis])))
    return tuple(box)


def _surface(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    eroded: NDArray[np.bool_] = ndimage.binary_erosion(mask, structure=structure, border_value=0)
    return mask & ~eroded


def surface_distances(a: np.ndarray, b: np.ndarray, spacing: Spacing | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each surface voxel of ``a`` to the surface of ``b``, and from ``b``'s to ``a``'s.

    Both masks must be non-empty.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    sampling = _check_arrays(a, b, spacing)
    box = _union_box(a, b)
    if box is None or not a.any() or not b.any():
        raise MetricInputError("surface distances need two non-empty masks")
    surface_a, surface_b = _surface(a[box]), _surface(b[box])
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=sampling)
    to_a = ndimage.distance_transform_edt(~surface_a, sampling=sampling)
    return to_b[surface_a], to_a[surface_b]


def image_diagonal(shape: tuple[int, ...], spacing: Spacing | None = None) -> float:
    """Largest distance (mm) between two voxel centres of the image: the worst possible surface distance."""
    sampling = np.ones(len(shape)) if spacing is None else np.asarray(spacing, dtype=np.float64)
    return float(np.sqrt(np.sum(((np.asarray(shape) - 1) * sampling) ** 2)))


def hausdorff95(a: np.ndarray, b: np.ndarray, spacing: Spacing | None = None) -> float:
    """95th percentile (linear interpolation) of the pooled surface distances of both directions, in mm.

    Both empty: 0.0. Exactly one empty: the image diagonal (``image_diagonal``), the worst possible value.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    sampling = _check_arrays(a, b, spacing)
    has_a, has_b = bool(a.any()), bool(b.any())
    if not has_a and not has_b:
        return 0.0
    if has_a != has_b:
        return image_diagonal(a.shape, sampling)
    a_to_b, b_to_a = surface_distances(a, b, sampling)
    return float(np.percentile(np.concatenate([a_to_b, b_to_a]), 95))


def normalized_surface_dice(a: np.ndarray, b: np.ndarray, spacing: Spacing | None = None,
                            tolerance_mm: float = 1.0) -> float:
    """Fraction of surface voxels of both masks within ``tolerance_mm`` of the other mask's surface.

    (|{s in S_a: d(s, S_b) <= tol}| + |{s in S_b: d(s, S_a) <= tol}|) / (|S_a| + |S_b|).
    Both empty: 1.0. Exactly one empty: 0.0.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    sampling = _check_arrays(a, b, spacing)
    has_a, has_b = bool(a.any()), bool(b.any())
    if not has_a and not has_b:
        return 1.0
    if has_a != has_b:
        return 0.0
    a_to_b, b_to_a = surface_distances(a, b, sampling)
    within = int(np.count_nonzero(a_to_b <= tolerance_mm)) + int(np.count_nonzero(b_to_a <= tolerance_mm))
    return within / (a_to_b.size + b_to_a.size)


# --- plugins ---------------------------------------------------------------------------------------------------

class _SegmentationMetric(CaseMeanMetric):
    input_kind: ClassVar[InputKind] = "image"
    options: ClassVar[tuple[str, ...]] = ()
    # What a prediction must be, in words that quote nothing of it (the platform tells participants this).
    prediction_requirement: ClassVar[str] = "a binary mask (values 0 and 1) on the voxel grid of the reference"

    def check_case(self, prediction: Any, target: Any, case: str, options: dict[str, Any]) -> None:
        """Raise MetricInputError when this case cannot be scored (reads both images): the platform calls it per
        case before ``compute``, and again with the reference as the prediction, to tell whose fault it is."""
        read_mask_pair(prediction, target, case)

    def case_value(self, prediction: np.ndarray, target: np.ndarray, spacing: tuple[float, ...],
                   options: dict[str, Any]) -> float:
        raise NotImplementedError

    def per_case(self, data: MetricInput) -> np.ndarray:
        check_options(data, self.name, self.options)
        if len(data.predictions) != len(data.targets) or len(data.predictions) != len(data.case_ids):
            raise MetricInputError(f"{self.name}: case_ids, predictions and targets must have the same length")
        values = np.empty(len(data.case_ids))
        for i, (case, prediction, target) in enumerate(zip(data.case_ids, data.predictions, data.targets,
                                                           strict=True)):
            a, b, spacing = read_mask_pair(prediction, target, case)
            values[i] = self.case_value(a, b, spacing, data.options)
        return values


class Dice(_SegmentationMetric):
    name = "dice"
    title = "Dice similarity coefficient"
    higher_is_better = True

    def case_value(self, prediction: np.ndarray, target: np.ndarray, spacing: tuple[float, ...],
                   options: dict[str, Any]) -> float:
        return dice(prediction, target)


class IoU(_SegmentationMetric):
    name = "iou"
    title = "Intersection over union (Jaccard index)"
    higher_is_better = True

    def case_value(self, prediction: np.ndarray, target: np.ndarray, spacing: tuple[float, ...],
                   options: dict[str, Any]) -> float:
        return iou(prediction, target)


class HausdorffDistance95(_SegmentationMetric):
    name = "hd95"
    title = "95th percentile Hausdorff distance (mm)"
    higher_is_better = False

    def case_value(self, prediction: np.ndarray, target: np.ndarray, spacing: tuple[float, ...],
                   options: dict[str, Any]) -> float:
        return hausdorff95(prediction, target, spacing)


class NormalizedSurfaceDice(_SegmentationMetric):
    name = "nsd"
    title = "Normalised surface distance (surface Dice) at a tolerance"
    higher_is_better = True
    options = ("tolerance_mm",)

    def case_value(self, prediction: np.ndarray, target: np.ndarray, spacing: tuple[float, ...],
                   options: dict[str, Any]) -> float:
        tolerance = options.get("tolerance_mm", 1.0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
            raise MetricInputError(f"{self.name}: option 'tolerance_mm' must be a number >= 0, got {tolerance!r}")
        return normalized_surface_dice(prediction, target, spacing, float(tolerance))
