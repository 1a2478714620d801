"""Batch-mode spleen segmentation, deliberately weak: every voxel between 90 and 250 HU, nothing else.

No smoothing, no calibration per scanner, no shape: noise, the kidney, the aorta and the edges of bone are
taken for spleen. It shows what the metrics make of a poor mask. Same input and output as the good baseline.
"""

import json
from pathlib import Path

import numpy as np
from mha import read_mha, write_mha

INPUT, OUTPUT = Path("/input"), Path("/output")


def the_image(path):
    """The image file itself, or the one .mha file in the folder `path` names."""
    return path if path.is_file() else next(path.glob("*.mha"))


cases = json.loads((INPUT / "cases.json").read_text())
for case in cases:
    image, header = read_mha(the_image(INPUT / case["inputs"]["ct-image"]))
    mask = ((image >= 90) & (image <= 250)).astype(np.uint8)
    write_mha(OUTPUT / case["case_id"] / "images" / "spleen-segmentation" / f"{case['case_id']}.mha", mask, header)
print(f"segmented {len(cases)} cases")
