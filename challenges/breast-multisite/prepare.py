"""A multi-site test set made from the WDBC data shipped with scikit-learn. THE SITES ARE SIMULATED.

    python prepare.py OUT_DIR

WDBC comes from one hospital. To exercise per-site analysis we split its 569 real cases into public
training data (40%, untouched) and a hidden test set (60%) spread over three simulated hospitals:

- site-a ("scanner-1"): the reference; features untouched; a screening population (low prevalence).
- site-b ("scanner-2"): a different imaging system, simulated as a calibration shift: texture
  features x 1.25 and size features (radius, perimeter, area) x 0.85; mid prevalence.
- site-c ("scanner-3"): a noisier system, simulated as multiplicative noise on every feature
  (lognormal, sigma 0.08); a referral population (high prevalence).

Cases are assigned to sites at random with class-dependent probabilities, which sets the prevalence
per site. Two simulated readers (readers.csv) give a binary call per case, drawn from the reference
with fixed sensitivity/specificity per reader and site. Everything is seeded and reproducible; the
numbers say nothing about any real hospital, scanner or reader.

The same hidden cases are written twice: once as one central test set (test/, the phase "test") and
once as one folder per site (sites/<site>/, the phase "at-sites", whose cases stay at the sites: each
site loads its own folder into its own storage with `podium site load-cases`). Both phases therefore
hold exactly the same cases, inputs and ground truth.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_shared"))  # for prepare_tools.py
from prepare_tools import replacing_bytes, replacing_text, write_csv, write_json  # noqa: E402

SEED = 20261129
SITES = {
    # site: (scanner, P(site | benign), P(site | malignant))
    "site-a": ("scanner-1", 0.50, 0.20),
    "site-b": ("scanner-2", 0.30, 0.30),
    "site-c": ("scanner-3", 0.20, 0.50),
}
READERS = {  # reader: (sensitivity, specificity), the same at every site
    "reader-1": (0.86, 0.92),
    "reader-2": (0.93, 0.80),
}


def shift_features(features: np.ndarray, names: list[str], site: str, rng: np.random.Generator) -> np.ndarray:
    shifted = features.copy()
    if site == "site-b":
        for i, name in enumerate(names):
            if "texture" in name:
                shifted[i] *= 1.25
            if any(word in name for word in ("radius", "perimeter", "area")):
                shifted[i] *= 0.85
    elif site == "site-c":
        shifted *= rng.lognormal(mean=0.0, sigma=0.08, size=shifted.shape)
    return shifted


def main(out_dir: Path) -> None:
    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    malignant = (data.target == 0).astype(int)
    rng = np.random.default_rng(SEED)
    train_idx, test_idx = train_test_split(np.arange(len(malignant)), test_size=0.6, stratify=malignant,
                                           random_state=SEED)
    public = out_dir / "public"
    public.mkdir(parents=True, exist_ok=True)
    with replacing_text(public / "train.csv") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", *names, "malignant"])
        for rank, i in enumerate(sorted(train_idx), start=1):
            writer.writerow([f"train-{rank:04d}", *(repr(float(v)) for v in data.data[i]), malignant[i]])

    test = out_dir / "test"
    test.mkdir(parents=True, exist_ok=True)
    site_names = list(SITES)
    rows, reader_rows = [], []
    for rank, i in enumerate(rng.permutation(test_idx), start=1):
        case_id = f"case-{rank:04d}"
        weights = np.array([SITES[s][2 if malignant[i] else 1] for s in site_names])
        site = site_names[rng.choice(len(site_names), p=weights / weights.sum())]
        rows.append([case_id, site, SITES[site][0]])
        features = shift_features(data.data[i], names, site, rng)
        write_json(test / "inputs" / case_id / "nuclei-features.json",
                   {n: float(v) for n, v in zip(names, features, strict=True)})
        write_json(test / "ground_truth" / case_id / "malignant.json", int(malignant[i]))
        for reader, (sensitivity, specificity) in READERS.items():
            positive = rng.random() < (sensitivity if malignant[i] else 1.0 - specificity)
            reader_rows.append([case_id, reader, int(positive)])
    write_csv(test / "cases.csv", ["case_id", "site", "scanner"], rows)
    write_csv(out_dir / "readers.csv", ["case_id", "reader", "score"], reader_rows)
    write_site_folders(test, out_dir / "sites", rows)


def write_site_folders(test: Path, sites: Path, rows: list[list[str]]) -> None:
    """One test-set folder per site (cases.csv, inputs/, ground_truth/) with that site's cases of `test`, byte for
    byte; `podium site load-cases` adds the site column, so each site's cases.csv lists case_id and scanner."""
    for site in SITES:
        mine = [row for row in rows if row[1] == site]
        folder = sites / site
        for case_id, _, _ in mine:
            for part, name in (("inputs", "nuclei-features.json"), ("ground_truth", "malignant.json")):
                with replacing_bytes(folder / part / case_id / name) as handle:
                    handle.write((test / part / case_id / name).read_bytes())
        write_csv(folder / "cases.csv", ["case_id", "scanner"], [[case_id, scanner] for case_id, _, scanner in mine])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python prepare.py OUT_DIR")
    main(Path(sys.argv[1]))
