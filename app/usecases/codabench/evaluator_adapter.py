"""The entry point of an imported Codabench scoring program's evaluation image (runs inside the sandbox).

It adapts Podium's evaluator contract (docs/challenges.md, "Organiser evaluation containers"):
    /input/cases.json, /input/predictions/<case_id>/predictions.zip, /input/ground_truth/<case_id>/reference_data.zip
    -> /output/metrics.json
to Codabench's scoring layout, once per case (one case per Codabench task):
    /app/program     the task's scoring program (metadata `command`, legacy $-variables already replaced)
    /app/input/ref   the task's reference data          /app/input/res   the participant's predictions
    /app/output      scores.json (or scores.txt)        /app/shared      an empty folder
The root file system is read-only, so /app/{program,input,output,shared} are links (made when the image is built)
into /tmp/codabench, which is rebuilt for every case. Only Python's standard library is used: the image's base may
hold nothing else. Configuration: codabench.json beside this file, written by app/usecases/codabench/convert.py.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = Path("/tmp/codabench")
INPUT = Path("/input")
OUTPUT = Path("/output")


class AdapterError(RuntimeError):
    """Why the scores could not be produced (printed for the organisers, who read the evaluator's logs)."""


def main() -> int:
    config = json.loads((HERE / "codabench.json").read_text())
    try:
        cases = json.loads((INPUT / "cases.json").read_text())
        rows = [(case["case_id"], score_case(case["case_id"], config)) for case in cases]
        aggregates = combine(rows, config["columns"])
    except AdapterError as exc:
        print(f"codabench adapter: {exc}", file=sys.stderr)
        return 1
    names = {c["key"]: c["name"] for c in config["columns"]}
    document = {
        "cases": [{"case_id": case_id, **{names[k]: v for k, v in scores.items()}} for case_id, scores in rows],
        "aggregates": aggregates,
    }
    (OUTPUT / "metrics.json").write_text(json.dumps(document))
    return 0


def score_case(case_id: str, config: dict[str, Any]) -> dict[str, float]:
    entry = config["cases"].get(case_id)
    if entry is None:
        raise AdapterError(f"case {case_id!r} is no task of this phase")
    shutil.rmtree(WORK, ignore_errors=True)
    for folder in ("input/ref", "input/res", "output", "shared"):
        (WORK / folder).mkdir(parents=True)
    os.symlink(HERE / "programs" / entry["program"], WORK / "program")
    unzip(INPUT / "ground_truth" / case_id / config["reference_file"], WORK / "input" / "ref", "the reference data")
    unzip(INPUT / "predictions" / case_id / config["prediction_file"], WORK / "input" / "res",
          f"the participant's {config['prediction_file']}")
    metadata = WORK / "input" / "res" / "metadata"
    if not metadata.exists():  # Codabench's worker writes it after the prediction step; the duration is unknown here
        metadata.write_text("exitCode: 0\nelapsedTime: 0\n")
    print(f"codabench adapter: task {entry['task']!r} ({case_id}): {entry['command']}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(entry["command"], shell=True, cwd="/app/program", env=env, check=False)  # noqa: S602
    if result.returncode != 0:
        raise AdapterError(f"task {entry['task']!r}: the scoring program exited with code {result.returncode}")
    return read_scores(WORK / "output", {c["key"] for c in config["columns"] if not c["computation"]}, entry["task"])


def unzip(archive: Path, into: Path, what: str) -> None:
    try:
        with zipfile.ZipFile(archive) as source:
            for info in source.infolist():
                parts = PurePosixPath(info.filename).parts
                if info.filename.startswith("/") or ".." in parts or "\\" in info.filename:
                    raise AdapterError(f"{what} holds an unsafe name {info.filename!r}")
                if parts and parts[0] == "__MACOSX":
                    continue
                source.extract(info, into)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise AdapterError(f"{what} cannot be unpacked ({type(exc).__name__}: {exc})") from None


def read_scores(output: Path, keys: set[str], task: str) -> dict[str, float]:
    """scores.json (a flat object), else scores.txt (`key: value` lines); only the leaderboard's keys are kept."""
    raw: dict[str, Any]
    if (output / "scores.json").is_file():
        try:
            raw = json.loads((output / "scores.json").read_text())
        except ValueError as exc:
            raise AdapterError(f"task {task!r}: scores.json is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise AdapterError(f"task {task!r}: scores.json must be an object of column key -> number")
    elif (output / "scores.txt").is_file():
        raw = {}
        for line in (output / "scores.txt").read_text().splitlines():
            key, separator, value = line.partition(":")
            if separator and key.strip() and not key.lstrip().startswith("#"):
                raw[key.strip()] = value.strip().strip("'\"")
    else:
        raise AdapterError(f"task {task!r}: the scoring program wrote neither scores.json nor scores.txt in "
                           "/app/output")
    scores: dict[str, float] = {}
    for key, value in raw.items():
        if key not in keys:
            print(f"codabench adapter: task {task!r}: score {key!r} is no leaderboard column; dropped", flush=True)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AdapterError(f"task {task!r}: score {key!r} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise AdapterError(f"task {task!r}: score {key!r} is {number}, not a finite number")
        scores[key] = number
    return scores


def combine(rows: list[tuple[str, dict[str, float]]], columns: list[dict[str, Any]]) -> dict[str, float]:
    """Each column's value: the one task that wrote it (the mean if several did); then computed columns."""
    values: dict[int, float] = {}
    aggregates: dict[str, float] = {}
    for column in columns:
        if column["computation"]:
            continue
        written = [scores[column["key"]] for _, scores in rows if column["key"] in scores]
        if not written:
            raise AdapterError(f"no scoring program wrote {column['key']!r} (leaderboard column {column['title']!r})")
        values[column["index"]] = sum(written) / len(written)
    pending = [c for c in columns if c["computation"]]
    while pending:
        ready = [c for c in pending if all(i in values for i in c["indexes"])]
        if not ready:
            raise AdapterError("computed columns refer to each other in a circle")
        for column in ready:
            inputs = [values[i] for i in column["indexes"]]
            values[column["index"]] = _compute(column["computation"], inputs)
            pending.remove(column)
    for column in columns:
        aggregates[column["name"]] = values[column["index"]]
    return aggregates


def _compute(operation: str, inputs: list[float]) -> float:
    if operation == "avg":
        return sum(inputs) / len(inputs)
    if operation == "sum":
        return float(sum(inputs))
    return min(inputs) if operation == "min" else max(inputs)


if __name__ == "__main__":
    sys.exit(main())
