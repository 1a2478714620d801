"""Simulated prostate MRI (ADC-like) phantoms with lesions to detect, from two simulated sites. NOTHING HERE IS REAL.

    python prepare.py OUT_DIR

No package installed here ships prostate MRI with lesion annotations (scikit-image, pydicom and nibabel, whose
test data were the candidates, are not installed; SimpleITK and MedPy ship none), so every case is drawn from a
fixed seed. The image imitates an apparent-diffusion-coefficient map (units 1e-6 mm^2/s):

- a pelvis (1400) in air (0), with the rectum behind the gland (air-filled: 250), which a plain threshold takes
  for a lesion;
- the prostate: an ellipsoid whose posterior part is the peripheral zone (1700) and the rest the transition zone
  (1250), with 0-3 benign nodules in the transition zone (950-1150: darker, often as dark as cancer);
- clinically significant cancer in about 40% of cases: 1-2 lesions (750-1050), flat ellipsoids of 2.5-4.5 voxels
  in-plane and 1-2 slices, 70% in the peripheral zone; their voxels are the reference label;
- the clinical information PI-CAI gives algorithms: age, PSA, the gland's volume (from its voxels) and PSA
  density; PSA is drawn higher where there is cancer, so that it helps but does not decide;
- the scanner: an in-plane blur (partial volume), noise (the magnitude of a complex Gaussian, as in MRI) and a
  calibration per site:
  site-a ("scanner-1"): noise sigma 80, scale 1.00, voxels 3.0 x 1.6 x 1.6 mm;
  site-b ("scanner-2"): noise sigma 150, scale 0.88, voxels 3.6 x 1.4 x 1.4 mm.

Every image is 24 x 64 x 64 voxels (z, y, x), float32; labels are uint8 0/1 on the same grid. Written as MetaImage
(.mha, zlib-compressed): the test set's `inputs/<case>/images/transverse-adc-prostate-mri/<case>.mha` and
`inputs/<case>/clinical-information-prostate-mri.json`, the reference `ground_truth/<case>/images/cspca-label/
<case>.mha` and `ground_truth/<case>/cspca-case-label.json`, and four public training cases under `public/`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_shared"))  # for prepare_tools.py
from prepare_tools import gaussian_along, site_cases, write_cases_csv, write_json, write_mha  # noqa: E402

SEED = 20261204
SHAPE = (24, 64, 64)  # z, y, x
TEST_CASES = {"site-a": 20, "site-b": 16}
TRAIN_CASES = {"site-a": 2, "site-b": 2}
SITES = {
    # site: (scanner, noise sigma, calibration scale, spacing z, y, x in mm)
    "site-a": ("scanner-1", 80.0, 1.00, (3.0, 1.6, 1.6)),
    "site-b": ("scanner-2", 150.0, 0.88, (3.6, 1.4, 1.4)),
}
CANCER_PREVALENCE = 0.4
PELVIS, RECTUM, PERIPHERAL, TRANSITION = 1400.0, 250.0, 1700.0, 1250.0


def phantom(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise-free ADC-like map, the lesion label and the gland mask of one case."""
    z, y, x = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in SHAPE), indexing="ij")
    adc = np.zeros(SHAPE)
    adc[(x / 0.95) ** 2 + (y / 0.8) ** 2 <= 1.0] = PELVIS
    centre = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.05), rng.uniform(-0.05, 0.05))
    axes = (rng.uniform(0.55, 0.75), rng.uniform(0.33, 0.42), rng.uniform(0.4, 0.5))
    gz, gy, gx = z - centre[0], y - centre[1], x - centre[2]
    gland = (gz / axes[0]) ** 2 + (gy / axes[1]) ** 2 + (gx / axes[2]) ** 2 <= 1.0
    rectum = (x - centre[2]) ** 2 / 0.16**2 + (y - centre[1] - axes[1] - 0.17) ** 2 / 0.13**2 <= 1.0
    adc[rectum] = RECTUM
    # The peripheral zone: the gland's posterior part, outside a smaller ellipsoid shifted forward.
    transition = (gz / (0.85 * axes[0])) ** 2 + ((gy + 0.3 * axes[1]) / (0.75 * axes[1])) ** 2 \
        + (gx / (0.7 * axes[2])) ** 2 <= 1.0
    adc[gland] = PERIPHERAL
    adc[gland & transition] = TRANSITION
    for _ in range(rng.integers(0, 4)):
        nodule = _blob(rng, z, y, x, gland & transition, radius=(0.1, rng.uniform(0.08, 0.14)))
        adc[nodule] = rng.uniform(950, 1150)

    label = np.zeros(SHAPE, dtype=bool)
    if rng.random() < CANCER_PREVALENCE:
        for _ in range(1 if rng.random() < 0.7 else 2):
            zone = gland & ~transition if rng.random() < 0.7 else gland & transition
            radius = (rng.uniform(0.05, 0.13), rng.uniform(0.08, 0.14))
            lesion = _blob(rng, z, y, x, zone & ~_grown(label, 3), radius=radius)
            adc[lesion] = rng.uniform(750, 1050)
            label |= lesion
    return adc, label, gland


def _blob(rng: np.random.Generator, z: np.ndarray, y: np.ndarray, x: np.ndarray, allowed: np.ndarray,
          radius: tuple[float, float]) -> np.ndarray:
    """A flat ellipsoid (radius z, radius in-plane; normalised units) centred on a random voxel of `allowed`."""
    where = np.argwhere(allowed)
    if where.size == 0:
        return np.zeros(SHAPE, dtype=bool)
    cz, cy, cx = where[rng.integers(len(where))]
    stretch = rng.uniform(0.75, 1.3)
    blob = ((z - z[cz, 0, 0]) / radius[0]) ** 2 + ((y - y[0, cy, 0]) / (radius[1] * stretch)) ** 2 \
        + ((x - x[0, 0, cx]) / (radius[1] / stretch)) ** 2 <= 1.0
    return blob & allowed


def _grown(mask: np.ndarray, voxels: int) -> np.ndarray:
    """`mask` grown by `voxels` in every direction (a box), so that lesions stay apart."""
    grown = mask.copy()
    for axis in range(mask.ndim):
        for shift in range(1, voxels + 1):
            grown |= np.roll(mask, shift, axis) | np.roll(mask, -shift, axis)
    return grown


def scan(adc: np.ndarray, site: str, rng: np.random.Generator) -> np.ndarray:
    """What the site's scanner makes of it: calibrated and noisy (magnitude of a complex signal), float32."""
    _, noise, scale, _ = SITES[site]
    blurred = gaussian_along(gaussian_along(adc, 1, 0.8), 2, 0.8)
    real = blurred * scale + rng.normal(0.0, noise, SHAPE)
    imaginary = rng.normal(0.0, noise, SHAPE)
    return np.hypot(real, imaginary).astype(np.float32)


def clinical_information(rng: np.random.Generator, gland: np.ndarray, cancer: bool,
                         spacing: tuple[float, ...]) -> dict[str, Any]:
    volume = float(gland.sum() * np.prod(spacing) / 1000.0)  # mL
    psa = float(rng.lognormal(np.log(9.0 if cancer else 5.5), 0.5))
    return {"patient_age": int(rng.normal(66, 7)), "psa": round(psa, 2), "prostate_volume": round(volume, 1),
            "psad": round(psa / volume, 3)}


def main(out_dir: Path) -> None:
    rng = np.random.default_rng(SEED)
    for part, counts, prefix in (("public", TRAIN_CASES, "train"), ("test", TEST_CASES, "case")):
        cases = site_cases(rng, counts, prefix)
        for case_id, site in cases:
            adc, label, gland = phantom(rng)
            spacing = SITES[site][3]
            image = scan(adc, site, rng)
            clinical = clinical_information(rng, gland, bool(label.any()), spacing)
            origin = (-(SHAPE[2] - 1) * spacing[2] / 2, -(SHAPE[1] - 1) * spacing[1] / 2, -30.0)
            if part == "public":
                inputs = truth = out_dir / part / case_id
                names = {"image": f"{case_id}-adc.mha", "clinical": "clinical-information-prostate-mri.json",
                         "label": f"{case_id}-cspca-label.mha", "case": "cspca-case-label.json"}
            else:
                inputs, truth = out_dir / part / "inputs" / case_id, out_dir / part / "ground_truth" / case_id
                names = {"image": f"images/transverse-adc-prostate-mri/{case_id}.mha",
                         "clinical": "clinical-information-prostate-mri.json",
                         "label": f"images/cspca-label/{case_id}.mha", "case": "cspca-case-label.json"}
            write_mha(inputs / names["image"], image, spacing, origin)
            write_json(inputs / names["clinical"], clinical)
            write_mha(truth / names["label"], label.astype(np.uint8), spacing, origin)
            write_json(truth / names["case"], int(label.any()))
        write_cases_csv(out_dir / part / "cases.csv", cases, {site: SITES[site][0] for site in SITES})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python prepare.py OUT_DIR")
    main(Path(sys.argv[1]))
