"""A deliberately weak baseline: the min-max scaled "mean texture" feature is the likelihood.

    python train.py TRAIN_CSV OUT_DIR
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

FEATURE = "mean texture"


def main(train_csv: Path, out_dir: Path) -> None:
    with train_csv.open() as handle:
        values = [float(row[FEATURE]) for row in csv.DictReader(handle)]
    out_dir.mkdir(parents=True, exist_ok=True)
    model = {"feature": FEATURE, "low": min(values), "high": max(values)}
    (out_dir / "model.json").write_text(json.dumps(model, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
