"""Batch-mode spleen segmentation with numpy alone: smooth, window, open, keep the largest component.

Reads /input/cases.json; for each case reads its CT (`inputs["ct-image"]`: the file, or its folder, relative to
/input) and writes a 0/1 uint8 mask on the same grid to /output/<case_id>/images/spleen-segmentation/<case_id>.mha.

1. a 3 x 3 x 3 box mean (noise down about five times);
2. the scanner's calibration: the median of soft tissue (-50..150 HU) is taken as 45 HU;
3. the spleen's window: half-way between soft tissue (45 HU) and spleen (110 HU), and below the kidney (160 HU);
4. an opening (erosion then dilation, face neighbours) and the largest face-connected component.
The window was read off the four public training cases; nothing is trained.
"""

import json
from pathlib import Path

import numpy as np
from mha import read_mha, write_mha

INPUT, OUTPUT = Path("/input"), Path("/output")
LOW, HIGH = 78.0, 138.0  # HU, for soft tissue at 45 HU


def the_image(path):
    """The image file itself, or the one .mha file in the folder `path` names."""
    return path if path.is_file() else next(path.glob("*.mha"))


def box_mean(values):
    """Mean over each voxel's 3 x 3 x 3 neighbourhood (edges repeated)."""
    result = values.astype(np.float64)
    for axis in range(result.ndim):
        padded = np.pad(result, [(1, 1) if a == axis else (0, 0) for a in range(result.ndim)], mode="edge")
        n = result.shape[axis]
        result = sum(np.take(padded, np.arange(i, i + n), axis=axis) for i in range(3)) / 3.0
    return result


def _shifted(mask, fill, combine):
    """Each voxel combined (np.minimum/np.maximum) with its six face neighbours; outside the image is `fill`."""
    result = mask.copy()
    for axis in range(mask.ndim):
        padded = np.pad(mask, [(1, 1) if a == axis else (0, 0) for a in range(mask.ndim)], constant_values=fill)
        n = mask.shape[axis]
        for start in (0, 2):
            result = combine(result, np.take(padded, np.arange(start, start + n), axis=axis))
    return result


def opening(mask):
    return _shifted(_shifted(mask, False, np.minimum), False, np.maximum)


def largest_component(mask):
    """The largest face-connected component: labels spread as the smallest voxel index, with pointer jumping."""
    size = mask.size
    labels = np.where(mask.ravel(), np.arange(size), size)
    while True:
        spread = _shifted(labels.reshape(mask.shape), size, np.minimum).ravel()
        spread = np.where(mask.ravel(), spread, size)
        jumped = np.append(spread, size)[spread]
        if np.array_equal(jumped, labels):
            break
        labels = jumped
    if not mask.any():
        return mask
    counts = np.bincount(labels[labels < size])
    return (labels == int(np.argmax(counts))).reshape(mask.shape)


def segment(image):
    smoothed = box_mean(image)
    tissue = smoothed[(smoothed > -50) & (smoothed < 150)]
    shift = float(np.median(tissue)) - 45.0 if tissue.size else 0.0
    candidate = (smoothed >= LOW + shift) & (smoothed <= HIGH + shift)
    return largest_component(opening(candidate))


def main():
    cases = json.loads((INPUT / "cases.json").read_text())
    for case in cases:
        image, header = read_mha(the_image(INPUT / case["inputs"]["ct-image"]))
        mask = segment(image).astype(np.uint8)
        write_mha(OUTPUT / case["case_id"] / "images" / "spleen-segmentation" / f"{case['case_id']}.mha", mask, header)
    print(f"segmented {len(cases)} cases")


if __name__ == "__main__":
    main()
