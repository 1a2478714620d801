"""Batch mode, plain Python: likelihood = "mean texture" scaled to [0, 1] by the training range."""

import json
import os

with open("/opt/algorithm/model.json") as handle:
    model = json.load(handle)
with open("/input/cases.json") as handle:
    cases = json.load(handle)

span = model["high"] - model["low"]
for case in cases:
    value = case["inputs"]["nuclei-features"][model["feature"]]
    likelihood = min(1.0, max(0.0, (value - model["low"]) / span))
    folder = os.path.join("/output", case["case_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "malignancy-likelihood.json"), "w") as handle:
        json.dump(likelihood, handle)
print("wrote", len(cases), "predictions")
