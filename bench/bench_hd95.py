"""HD95 on a 256 x 512 x 512 pair of masks: cropped distance transforms vs full-volume ones.

Two overlapping ellipsoids (a lesion-sized structure, small relative to the volume) with anisotropic spacing.
The reference computation is the textbook one (as in medpy): surfaces by erosion of the full volume and
scipy's Euclidean distance transform of the full volume. Not a test: it prints the times and their ratio.

    .venv/bin/python bench/bench_hd95.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from evaluation.metrics.segmentation import hausdorff95

SHAPE = (256, 512, 512)
SPACING = (1.5, 0.7, 0.7)


def ellipsoid(centre: tuple[float, ...], radii: tuple[float, ...]) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, s) for s in SHAPE)]
    distance = np.zeros(SHAPE, dtype=np.float32)
    for grid, c, r in zip(grids, centre, radii, strict=True):
        distance = distance + (((grid - c) / r) ** 2).astype(np.float32)
    return distance <= 1.0


def full_volume_hd95(a: np.ndarray, b: np.ndarray) -> float:
    structure = ndimage.generate_binary_structure(3, 1)
    surface_a = a & ~ndimage.binary_erosion(a, structure)
    surface_b = b & ~ndimage.binary_erosion(b, structure)
    a_to_b = ndimage.distance_transform_edt(~surface_b, sampling=SPACING)[surface_a]
    b_to_a = ndimage.distance_transform_edt(~surface_a, sampling=SPACING)[surface_b]
    return float(np.percentile(np.concatenate([a_to_b, b_to_a]), 95))


def main() -> None:
    a = ellipsoid((120, 260, 240), (18, 45, 35))
    b = ellipsoid((123, 255, 246), (16, 50, 32))
    b[130:134, 300:310, 200:206] = True  # a small spur: a few far-away surface points
    print(f"volume {SHAPE}, spacing {SPACING} mm, mask voxels {int(a.sum())} and {int(b.sum())}")

    start = time.perf_counter()
    cropped = hausdorff95(a, b, SPACING)
    cropped_seconds = time.perf_counter() - start

    start = time.perf_counter()
    full = full_volume_hd95(a, b)
    full_seconds = time.perf_counter() - start

    print(f"cropped (evaluation.metrics.segmentation.hausdorff95): {cropped_seconds:.3f} s  HD95 = {cropped!r} mm")
    print(f"full-volume distance transforms:                       {full_seconds:.3f} s  HD95 = {full!r} mm")
    print(f"ratio: {full_seconds / cropped_seconds:.1f}x")
    print(f"values identical: {cropped == full}")


if __name__ == "__main__":
    main()
