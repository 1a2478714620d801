"""Batch-mode algorithm: read /input/cases.json, write /output/<case_id>/malignancy-likelihood.json."""

import json
from pathlib import Path

import numpy as np

model = json.loads(Path("/opt/algorithm/model.json").read_text())
mean, scale = np.array(model["mean"]), np.array(model["scale"])
coef, intercept = np.array(model["coef"]), model["intercept"]

cases = json.loads(Path("/input/cases.json").read_text())
for case in cases:
    features = case["inputs"]["nuclei-features"]
    x = (np.array([features[name] for name in model["features"]]) - mean) / scale
    likelihood = 1.0 / (1.0 + np.exp(-(x @ coef + intercept)))
    out = Path("/output") / case["case_id"] / "malignancy-likelihood.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(float(likelihood)))
print(f"wrote {len(cases)} predictions")
