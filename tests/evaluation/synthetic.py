"""Synthetic masks and detection maps shared by the evaluation tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def ball(shape: tuple[int, ...], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """An axis-aligned ellipsoid (radii in voxels) as a boolean mask."""
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True)) <= 1.0


def random_blob_pair(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping random ellipsoids, small relative to the image, sometimes touching its border."""
    centre = rng.uniform(0, np.array(shape) - 1)
    radii = rng.uniform(1.0, np.array(shape) / 3)
    a = ball(shape, centre, radii)
    b = ball(shape, centre + rng.normal(0, 1.5, len(shape)), radii * rng.uniform(0.7, 1.3, len(shape)))
    a[tuple(rng.integers(0, s) for s in shape)] = True  # a stray voxel: a far-away surface point
    return a, b


def detection_case(rng: np.random.Generator, shape: tuple[int, int, int] = (16, 28, 28), p_lesion: float = 0.6,
                   p_hit: float = 0.7, max_fp: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A (detection map, label) pair: random ball lesions, candidates near some of them, and false positives.

    Candidates never touch each other (26-connectivity), so each is one component with one likelihood.
    Likelihoods are on a 0.05 grid, so ties between candidates occur.
    """
    label = np.zeros(shape, dtype=np.uint8)
    detection = np.zeros(shape, dtype=np.float32)
    taken = np.zeros(shape, dtype=bool)
    structure = ndimage.generate_binary_structure(3, 3)

    def place(mask: np.ndarray) -> None:
        nonlocal taken
        if mask.any() and not (ndimage.binary_dilation(mask, structure) & taken).any():
            detection[mask] = np.float32(rng.integers(1, 21) * 0.05)
            taken |= mask

    n_lesions = rng.binomial(3, p_lesion) if rng.random() < 0.7 else 0
    for _ in range(n_lesions):
        centre = rng.uniform(2, np.array(shape) - 3)
        radii = rng.uniform(1.5, 4.0, 3)
        label[ball(shape, centre, radii)] = 1
        for _ in range(rng.integers(1, 3)):  # sometimes two candidates near one lesion
            if rng.random() < p_hit:
                place(ball(shape, centre + rng.normal(0, 1.5, 3), radii * rng.uniform(0.5, 1.5, 3)))
    for _ in range(rng.integers(0, max_fp + 1)):
        place(ball(shape, rng.uniform(0, np.array(shape)), rng.uniform(1.0, 3.0, 3)))
    return detection, label
