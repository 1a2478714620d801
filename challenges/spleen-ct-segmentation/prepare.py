"""Simulated abdominal CT phantoms with a spleen to segment, from two simulated scanners. NOTHING HERE IS REAL DATA.

    python prepare.py OUT_DIR

No package installed here ships a CT volume with a reference segmentation (scikit-image, pydicom and nibabel,
whose test data were the candidates, are not installed; SimpleITK and MedPy ship none), so every case is drawn
from a fixed seed:

- a body (an elliptic cylinder: fat rim -90 HU around soft tissue 45 HU) in air (-1000 HU);
- a vertebra (cortical 650 HU, cancellous 250 HU), the aorta (170 HU), the liver (60 HU) and the left kidney
  (160 HU): things a threshold alone confuses with the spleen;
- the spleen (about 110 HU): an ellipsoid of random size, position and in-plane rotation whose surface is
  lobulated by low-order harmonics; its voxels are the reference mask;
- the scanner: a Gaussian blur (partial volume), then noise and a calibration offset per site:
  site-a ("scanner-1"): noise sigma 10 HU, no offset, voxels 2.5 x 1.4 x 1.4 mm;
  site-b ("scanner-2"): noise sigma 25 HU, +12 HU offset, voxels 3.0 x 1.1 x 1.1 mm.

Every image is 32 x 64 x 64 voxels (z, y, x), int16 HU; masks are uint8 0/1 on the same grid. Written as
MetaImage (.mha, zlib-compressed) by the small writer below: the test set's `inputs/<case>/images/ct/<case>.mha`
and `ground_truth/<case>/images/spleen/<case>.mha`, and four public training cases under `public/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_shared"))  # for prepare_tools.py
from prepare_tools import gaussian_along, site_cases, write_cases_csv, write_mha  # noqa: E402

SEED = 20261203
SHAPE = (32, 64, 64)  # z, y, x
TEST_CASES = {"site-a": 18, "site-b": 14}
TRAIN_CASES = {"site-a": 2, "site-b": 2}
SITES = {
    # site: (scanner, noise sigma in HU, calibration offset in HU, spacing z, y, x in mm)
    "site-a": ("scanner-1", 10.0, 0.0, (2.5, 1.4, 1.4)),
    "site-b": ("scanner-2", 25.0, 12.0, (3.0, 1.1, 1.1)),
}
AIR, FAT, SOFT_TISSUE, CORTICAL, CANCELLOUS, AORTA, LIVER, KIDNEY = -1000, -90, 45, 650, 250, 170, 60, 160


def phantom(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free intensities (HU, float) and the spleen mask of one case."""
    z, y, x = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in SHAPE), indexing="ij")
    body_scale = rng.uniform(0.92, 1.0)
    body = (x / (0.9 * body_scale)) ** 2 + (y / (0.72 * body_scale)) ** 2
    hu = np.full(SHAPE, float(AIR))
    hu[body <= 1.0] = FAT
    inner = body <= 0.8
    hu[inner] = SOFT_TISSUE
    spine = (x / 0.14) ** 2 + ((y - 0.48) / 0.14) ** 2
    hu[spine <= 1.0] = CORTICAL
    hu[spine <= 0.5] = CANCELLOUS
    hu[(x + 0.12) ** 2 + (y - 0.28) ** 2 <= 0.07**2] = AORTA
    liver = ((z - 0.1) / 0.9) ** 2 + ((y + 0.05) / 0.5) ** 2 + ((x + 0.4) / rng.uniform(0.34, 0.4)) ** 2
    hu[(liver <= 1.0) & inner] = LIVER
    kidney = ((z + 0.5) / 0.3) ** 2 + ((y - 0.38) / 0.17) ** 2 + ((x - 0.42) / 0.12) ** 2
    hu[kidney <= 1.0] = KIDNEY

    centre = (rng.uniform(-0.05, 0.25), rng.uniform(0.0, 0.22), rng.uniform(0.45, 0.58))
    axes = (rng.uniform(0.3, 0.45), rng.uniform(0.2, 0.3), rng.uniform(0.13, 0.19))
    angle = rng.uniform(-0.5, 0.5)
    dy, dx = y - centre[1], x - centre[2]
    u = np.cos(angle) * dy + np.sin(angle) * dx
    v = -np.sin(angle) * dy + np.cos(angle) * dx
    w = z - centre[0]
    radius = np.sqrt((w / axes[0]) ** 2 + (u / axes[1]) ** 2 + (v / axes[2]) ** 2)
    theta, phi = np.arctan2(v, u), np.arctan2(w / axes[0], np.hypot(u / axes[1], v / axes[2]))
    phases = rng.uniform(0, 2 * np.pi, 2)
    lobulation = 1.0 + 0.12 * np.sin(3 * theta + phases[0]) * np.cos(2 * phi + phases[1])
    spleen = (radius <= lobulation) & inner
    hu[spleen] = 110.0 + rng.normal(0.0, 6.0)
    return hu, spleen


def scan(hu: np.ndarray, site: str, rng: np.random.Generator) -> np.ndarray:
    """What the site's scanner makes of it: blurred, noisy, offset, as int16."""
    _, noise, offset, _ = SITES[site]
    blurred = hu
    for axis, sigma in enumerate((0.5, 0.8, 0.8)):
        blurred = gaussian_along(blurred, axis, sigma)
    image = blurred + offset + rng.normal(0.0, noise, SHAPE)
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16)


def main(out_dir: Path) -> None:
    rng = np.random.default_rng(SEED)
    for part, counts, prefix in (("public", TRAIN_CASES, "train"), ("test", TEST_CASES, "case")):
        cases = site_cases(rng, counts, prefix)
        for case_id, site in cases:
            hu, spleen = phantom(rng)
            image = scan(hu, site, rng)
            spacing = SITES[site][3]
            origin = (-(SHAPE[2] - 1) * spacing[2] / 2, -(SHAPE[1] - 1) * spacing[1] / 2, -400.0)
            if part == "public":
                images, masks = out_dir / part / case_id, out_dir / part / case_id
            else:
                images = out_dir / part / "inputs" / case_id / "images" / "ct"
                masks = out_dir / part / "ground_truth" / case_id / "images" / "spleen"
            write_mha(images / f"{case_id}{'-ct' if part == 'public' else ''}.mha", image, spacing, origin)
            write_mha(masks / f"{case_id}{'-spleen' if part == 'public' else ''}.mha", spleen.astype(np.uint8),
                      spacing, origin)
        write_cases_csv(out_dir / part / "cases.csv", cases, {site: SITES[site][0] for site in SITES})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python prepare.py OUT_DIR")
    main(Path(sys.argv[1]))
