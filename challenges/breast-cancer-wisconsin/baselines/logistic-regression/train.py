"""Fit the baseline on the public training split and write model.json into the build context.

    python train.py TRAIN_CSV OUT_DIR

Standardised features + L2 logistic regression (scikit-learn). The container itself needs only numpy.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def main(train_csv: Path, out_dir: Path) -> None:
    with train_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    names = [k for k in rows[0] if k not in ("case_id", "malignant")]
    x = np.array([[float(r[n]) for n in names] for r in rows])
    y = np.array([int(r["malignant"]) for r in rows])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), y)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.json").write_text(json.dumps({
        "features": names,
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
    }, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
