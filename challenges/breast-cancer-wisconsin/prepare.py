"""Produce the challenge's data from the copy of the WDBC data set bundled with scikit-learn.

    python prepare.py OUT_DIR

Writes OUT_DIR/public/train.csv (features + label) and the hidden test set OUT_DIR/test/ in Podium's
test-set layout: cases.csv, inputs/<case_id>/nuclei-features.json, ground_truth/<case_id>/malignant.json.
Deterministic: the same split and case ids every time.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_shared"))  # for prepare_tools.py
from prepare_tools import replacing_text, write_json  # noqa: E402

SEED = 20261128
TEST_FRACTION = 0.4


def main(out_dir: Path) -> None:
    data = load_breast_cancer()
    features = data.data
    malignant = (data.target == 0).astype(int)  # scikit-learn codes malignant as 0
    names = [str(n) for n in data.feature_names]
    train_idx, test_idx = train_test_split(
        np.arange(len(malignant)), test_size=TEST_FRACTION, stratify=malignant, random_state=SEED
    )
    public = out_dir / "public"
    public.mkdir(parents=True, exist_ok=True)
    with replacing_text(public / "train.csv") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", *names, "malignant"])
        for rank, i in enumerate(sorted(train_idx), start=1):
            writer.writerow([f"train-{rank:04d}", *(repr(float(v)) for v in features[i]), malignant[i]])

    test = out_dir / "test"
    rng = np.random.default_rng(SEED)
    order = rng.permutation(test_idx)  # case ids do not reveal the original row order
    test.mkdir(parents=True, exist_ok=True)
    with replacing_text(test / "cases.csv") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id"])
        for rank, i in enumerate(order, start=1):
            case_id = f"case-{rank:04d}"
            writer.writerow([case_id])
            write_json(test / "inputs" / case_id / "nuclei-features.json",
                       {name: float(value) for name, value in zip(names, features[i], strict=True)})
            write_json(test / "ground_truth" / case_id / "malignant.json", int(malignant[i]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python prepare.py OUT_DIR")
    main(Path(sys.argv[1]))
