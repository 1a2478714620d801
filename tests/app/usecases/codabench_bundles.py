"""Two small Codabench bundles of our own, written by the tests (no binary files in the repository).

- `v2_bundle`: laid out like Codabench's own test bundle and Mini-AutoML: competition.yaml v2 with CRLF line
  endings, a duplicate key, folder references, Markdown pages, a shared scoring program (metadata.yaml with an
  absolute command) that writes scores.json, two tasks per phase with different input files, a computed `avg`
  primary column and an ascending one, and an `__MACOSX/` folder.
- `v15_bundle`: laid out like CodaLab's Iris: version 1.5, `html:` pages, per-phase zipped scoring_program,
  reference_data and input_data, a scoring program whose `metadata` (no extension) uses the legacy $-variables and
  writes scores.txt, a leaderboard with YAML anchors.
Both scoring programs use only Python's standard library (v2 also numpy), so they run on the base image.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

# A case's label is 1 when its value is above 0.5. Values per data set, per phase.
V2_DATA = {
    "feedback": {"dataset1": [0.1, 0.45, 0.55, 0.9, 0.3, 0.48], "dataset2": [0.2, 0.42, 0.6, 0.7, 0.44, 0.8, 0.05]},
    "final": {"dataset1": [0.3, 0.7], "dataset2": [0.46, 0.9]},
}
V15_DATA = {"iris_valid": [0.05, 0.41, 0.47, 0.52, 0.66, 0.9, 0.35, 0.43], "iris_test": [0.2, 0.8]}

V2_YAML = """\
version: 2
title: Mini AutoML (Podium test)
description: Two data sets per phase, a computed average.
image: logo.png
registration_auto_approve: True
docker_image: codalab/codalab-legacy:py39
enable_detailed_results: True
terms: pages/terms.md
pages:
  - title: Overview
    file: pages/overview.md
  - title: Data
    file: pages/data.md
solutions:
  - index: 0
    tasks: [0]
    path: solution/
tasks:
  - index: 0
    name: dataset1 feedback
    description: The first data set
    input_data: feedback_phase/input_data/dataset1
    reference_data: feedback_phase/reference_data/dataset1
    scoring_program: scoring_program/
    ingestion_program: ingestion_program/
  - index: 1
    name: dataset2 feedback
    input_data: feedback_phase/input_data/dataset2
    reference_data: feedback_phase/reference_data/dataset2
    scoring_program: scoring_program/
  - index: 2
    name: dataset1 final
    input_data: final_phase/input_data/dataset1
    reference_data: final_phase/reference_data/dataset1
    scoring_program: scoring_program/
  - index: 3
    name: dataset2 final
    input_data: final_phase/input_data/dataset2
    reference_data: final_phase/reference_data/dataset2
    scoring_program: scoring_program/
solutions: []
phases:
  - index: 1
    name: Final
    description: The final phase.
    start: 1-2-2099
    tasks: [2, 3]
  - index: 0
    name: Feedback
    description: Tune your method here.
    start: 2020-01-01
    end: 2099-01-01
    max_submissions_per_day: 7
    max_submissions: 40
    execution_time_limit: 300
    tasks: [0, 1]
    auto_migrate_to_this_phase: False
    hide_output: True
leaderboards:
  - index: 0
    title: Results
    key: main
    submission_rule: Force_Best
    columns:
      - {title: Average accuracy, key: avg_accuracy, index: 0, sorting: desc, computation: avg,
         computation_indexes: [1, 2]}
      - {title: Dataset 1, key: dataset1, index: 1, sorting: desc}
      - {title: Dataset 2, key: dataset2, index: 2, sorting: desc}
      - {title: Error rate, key: error-rate, index: 3, sorting: asc, hidden: True, precision: 4}
  - title: Second board
    key: second
    columns:
      - {title: Dataset 1, key: dataset1, index: 0}
"""

V2_SCORER = """\
import json, os, sys
import numpy as np

ref, res = os.path.join(sys.argv[1], "ref"), os.path.join(sys.argv[1], "res")
scores = {"not_a_column": 1.0}
for name in sorted(os.listdir(ref)):
    dataset = name.replace("_reference_test.csv", "")
    truth = np.loadtxt(os.path.join(ref, name), ndmin=1)
    predicted = np.loadtxt(os.path.join(res, dataset + ".predict"), ndmin=1)
    scores[dataset] = float(np.mean(truth == predicted))
    scores["error-rate"] = 1.0 - scores[dataset]
with open(os.path.join(sys.argv[2], "scores.json"), "w") as out:
    json.dump(scores, out)
"""

V15_YAML = """\
title: Iris 1.5 (Podium test)
description: A CodaLab-style bundle.
image: logo.png
has_registration: False
html:
  overview: overview.html
  evaluation: evaluation.html
  terms: terms.html
phases:
  2:
    phasenumber: 2
    label: Final
    start_date: 2099-01-01
    color: purple
    max_submissions: 5
    scoring_program: scoring_program.zip
    reference_data: final_reference.zip
    input_data: final_input.zip
    auto_migration: True
  1:
    phasenumber: 1
    label: Development
    description: Submit predictions for the validation set.
    start_date: 2020-01-01
    color: green
    max_submissions: 100
    max_submissions_per_day: 0
    execution_time_limit: 200
    scoring_program: scoring_program.zip
    reference_data: dev_reference.zip
    input_data: dev_input.zip
    ingestion_program: ingestion_program.zip
leaderboard:
  leaderboards:
    RESULTS: &RESULTS
      label: Results
      rank: 1
  columns:
    set1_score:
      leaderboard: *RESULTS
      label: Prediction score
      numeric_format: 4
      rank: 2
    Duration:
      leaderboard: *RESULTS
      label: Duration
      rank: 7
      sort: asc
"""

V15_SCORER = """\
import glob, os, sys

input_dir, output_dir = sys.argv[1], sys.argv[2]
lines = []
for i, solution in enumerate(sorted(glob.glob(os.path.join(input_dir, "ref", "*.solution"))), start=1):
    base = os.path.basename(solution)[:-len(".solution")]
    truth = open(solution).read().split()
    predicted = open(glob.glob(os.path.join(input_dir, "res", base + "*.predict"))[0]).read().split()
    lines.append("set%d_score: %.6f" % (i, sum(t == p for t, p in zip(truth, predicted)) / len(truth)))
duration = 0.0
for line in open(os.path.join(input_dir, "res", "metadata")):
    if line.startswith("elapsedTime:"):
        duration = float(line.split(":", 1)[1])
lines.append("Duration: %s" % duration)
open(os.path.join(output_dir, "scores.txt"), "w").write("\\n".join(lines) + "\\n")
"""


def labels(values: list[float]) -> list[int]:
    return [int(v > 0.5) for v in values]


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def _zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _column(values: list[float] | list[int]) -> str:
    return "".join(f"{v}\n" for v in values)


def v2_files(yaml_text: str = V2_YAML) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "competition.yaml": yaml_text.replace("\n", "\r\n").encode(),
        "logo.png": b"\x89PNG\r\n\x1a\n",
        "pages/terms.md": "Be **fair**.\n",
        "pages/overview.md": "# Overview\r\nPredict whether a value is above one half.\r\n",
        "pages/data.md": "Values in *_input_test.csv.\n",
        "scoring_program/metadata.yaml": "command: python3 /app/program/scoring.py /app/input/ /app/output/\n",
        "scoring_program/scoring.py": V2_SCORER,
        "ingestion_program/metadata.yaml": "command: python3 ingestion.py\n",
        "ingestion_program/ingestion.py": "print('never run here')\n",
        "solution/model.py": "class Model: pass\n",
        "__MACOSX/._competition.yaml": b"\x00\x05\x16\x07",
        "scoring_program/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "feedback_phase/input_data/dataset1/._dataset1_input_test.csv": b"\x00\x05\x16\x07",
    }
    for phase, datasets in V2_DATA.items():
        for dataset, values in datasets.items():
            files[f"{phase}_phase/input_data/{dataset}/{dataset}_input_test.csv"] = _column(values)
            files[f"{phase}_phase/reference_data/{dataset}/{dataset}_reference_test.csv"] = _column(labels(values))
    return files


def v2_bundle(folder: Path, yaml_text: str = V2_YAML) -> Path:
    return write_zip(folder / "mini-automl.zip", v2_files(yaml_text))


def v15_files(yaml_text: str = V15_YAML) -> dict[str, str | bytes]:
    program = _zip_bytes({"metadata": "command: python $program/score.py $input $output\n"
                                      "description: compares predictions with the solution\n",
                          "score.py": V15_SCORER})
    files: dict[str, str | bytes] = {
        "competition.yaml": yaml_text,
        "logo.png": b"\x89PNG\r\n\x1a\n",
        "overview.html": "<html><head><style>p {}</style></head><body><h1>Iris</h1><p>Classify <b>flowers</b>."
                         "</p><ul><li>one</li><li>two</li></ul></body></html>",
        "evaluation.html": "<p>Accuracy, see <a href='https://example.org'>here</a>.</p>",
        "terms.html": "<p>Do not cheat.</p>",
        "scoring_program.zip": program,
        "ingestion_program.zip": _zip_bytes({"metadata": "command: python $ingestion_program/ingestion.py\n"}),
    }
    for prefix, name in (("dev", "iris_valid"), ("final", "iris_test")):
        values = V15_DATA[name]
        files[f"{prefix}_input.zip"] = _zip_bytes({f"{name}.data": _column(values)})
        files[f"{prefix}_reference.zip"] = _zip_bytes({f"{name}.solution": _column(labels(values))})
    return files


def v15_bundle(folder: Path, yaml_text: str = V15_YAML) -> Path:
    return write_zip(folder / "iris-15.zip", v15_files(yaml_text))
