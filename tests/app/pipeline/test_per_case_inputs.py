"""Per-case mode's /input of one case (grand-challenge.org's layout and inputs.json), and the spread of per-case time
and cost (median, 95th percentile)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.challenge_yaml import Interface
from app.pipeline.per_case_inputs import INPUTS_JSON, case_input_layout
from app.queries.costs import CaseFigures, Prices, case_spread

INTERFACES = [
    Interface(slug="age-in-months", kind="json", relative_path="age-in-months.json", json_type="integer"),
    Interface(slug="prostate-t2", kind="image", relative_path="images/prostate-t2"),
    Interface(slug="clinical-notes", kind="file", relative_path="notes.csv"),
    Interface(slug="findings", kind="json", relative_path="findings.json", json_type="object"),
]
INPUTS = {"age-in-months": 61, "prostate-t2": "c001/images/prostate-t2/c001.mha",
          "clinical-notes": "c001/notes.csv", "findings": {"psa": 4.2}}


def test_a_case_is_laid_out_as_grand_challenge_lays_out_a_job() -> None:
    files = {f.target: f for f in case_input_layout("hash-1", "c001", INPUTS, INTERFACES)}
    image = next(name for name in files if name.startswith("images/prostate-t2/"))
    assert image.endswith(".mha") and "c001" not in image
    assert files[image].stored == "images/prostate-t2/c001.mha"  # where the test set keeps it, under the case
    assert files["notes.csv"].stored == "notes.csv"
    assert json.loads(files["age-in-months.json"].content or b"") == 61 and files["age-in-months.json"].stored is None
    assert json.loads(files["findings.json"].content or b"") == {"psa": 4.2}
    assert set(files) == {image, "notes.csv", "age-in-months.json", "findings.json", INPUTS_JSON}

    entries = json.loads(files[INPUTS_JSON].content or b"")
    assert [e["socket"]["slug"] for e in entries] == [i.slug for i in INTERFACES]
    for entry in entries:
        assert set(entry) == {"pk", "socket", "interface", "value", "file", "image"}
        assert entry["socket"] == entry["interface"]
        assert set(entry["socket"]) == {"title", "description", "slug", "kind", "pk", "default_value", "super_kind",
                                        "relative_path", "overlay_segments", "look_up_table"}
    age, t2, notes, findings = entries
    assert (age["socket"]["kind"], age["socket"]["super_kind"], age["value"]) == ("Integer", "Value", 61)
    assert (t2["socket"]["kind"], t2["socket"]["super_kind"], t2["value"]) == ("Image", "Image", None)
    assert t2["socket"]["relative_path"] == "images/prostate-t2"
    assert image == f"images/prostate-t2/{t2['image']['pk']}.mha" and t2["image"]["name"] == "c001.mha"
    assert (notes["socket"]["kind"], notes["socket"]["super_kind"], notes["file"]) == ("CSV file", "File",
                                                                                       "/input/notes.csv")
    assert (findings["socket"]["kind"], findings["value"]) == ("Anything", {"psa": 4.2})
    # The container's handler key, as grand-challenge's template computes it.
    assert tuple(sorted(e["interface"]["slug"] for e in entries)) == (
        "age-in-months", "clinical-notes", "findings", "prostate-t2")


def test_an_image_uuid_is_stable_for_a_test_set_and_differs_between_cases() -> None:
    def image_of(content_hash: str, case: str) -> str:
        inputs = {**INPUTS, "prostate-t2": f"{case}/images/prostate-t2/{case}.mha"}
        return next(f.target for f in case_input_layout(content_hash, case, inputs, INTERFACES)
                    if f.slug == "prostate-t2")

    assert image_of("hash-1", "c001") == image_of("hash-1", "c001")
    assert image_of("hash-1", "c001") != image_of("hash-1", "c002")
    assert image_of("hash-1", "c001") != image_of("hash-2", "c001")


def test_the_spread_of_per_case_time_and_cost() -> None:
    cases = [CaseFigures(w, c, m) for w, c, m in [(1.0, 0.5, 100), (2.0, 1.0, 200), (3.0, 2.0, 100),
                                                  (10.0, 9.0, 400)]]
    prices = Prices(cpu_hour=36.0, gb_hour=1.0)
    spread = case_spread(prices, cases)
    assert spread is not None and spread.cases == 4
    assert spread.seconds_median == 2.5 and spread.seconds_p95 == pytest.approx(np.percentile([1, 2, 3, 10], 95))
    costs = [c.cpu_seconds / 100 + c.peak_memory_mb / 1024 * c.wall_seconds / 3600 for c in cases]  # type: ignore[operator]
    assert spread.cost_median == pytest.approx(np.median(costs))
    assert spread.cost_p95 == pytest.approx(np.percentile(costs, 95))
    # No price: times only. A case without its CPU figure: no cost (never one that leaves a part out).
    unpriced = case_spread(None, cases)
    assert unpriced is not None and unpriced.cost_median is None and unpriced.seconds_median == 2.5
    partial = case_spread(prices, [*cases, CaseFigures(1.0, None, 100)])
    assert partial is not None and partial.cost_median is None and partial.cost_p95 is None
    # Batch runs record no per-case figures: no spread.
    assert case_spread(prices, [CaseFigures(None, None, None)] * 3) is None
    assert case_spread(prices, []) is None


def test_a_failed_case_run_is_worded_twice() -> None:
    from pathlib import Path

    from app.pipeline.per_case import CaseRun, CaseRuns
    from runners.docker_runner import RunResult

    def result(code: int | None, stderr: bytes, *, timed_out: bool = False) -> RunResult:
        return RunResult(exit_code=code, timed_out=timed_out, oom_killed=False, wall_seconds=2.0, stdout=b"",
                         stderr=stderr, stdout_truncated=False, stderr_truncated=False, image_id="x",
                         wall_time_limit_seconds=60, cpu_seconds=1.0, peak_memory_bytes=64 << 20)

    runs = CaseRuns([CaseRun("c1", result(0, b""), Path("/nowhere")),
                     CaseRun("c2", result(1, b"reading case c2\nsecret-value 0.123\n"), Path("/nowhere")),
                     CaseRun("c3", result(None, b"", timed_out=True), Path("/nowhere"))])
    failures = runs.failures()
    assert set(failures) == {"c2", "c3"}
    assert failures["c2"].full == "the container exited with code 1: secret-value 0.123"
    assert failures["c2"].safe == "the container exited with code 1"  # nothing the container chose
    assert failures["c3"].full == failures["c3"].safe == "time limit exceeded (60 s)"
    assert runs.exit_code == 1 and runs.wall_seconds == 6.0 and runs.cpu_seconds == 3.0
    assert runs.peak_memory_mb == 64.0
    assert b"==> case c2: the container exited with code 1 <==" in runs.log("stderr", 1024)


def test_a_failed_case_fails_the_submission_under_fail_with_its_own_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.pipeline.per_case import per_case_wording
    from app.pipeline.scoring import Message, score_outputs
    from runners.outputs import read_output_bytes

    output = Interface(slug="score", kind="json", relative_path="p.json", json_type="number", minimum=0, maximum=1)
    truth = Interface(slug="label", kind="json", relative_path="y.json", json_type="integer")
    files = {}
    for case, label in {"c1": 1, "c2": 0, "c3": 1}.items():
        (tmp_path / "truth" / case).mkdir(parents=True)
        (tmp_path / "truth" / case / "y.json").write_text(str(label))
    (tmp_path / "out" / "c1").mkdir(parents=True)
    (tmp_path / "out" / "c1" / "p.json").write_text("0.7")
    files["c1/p.json"] = tmp_path / "out" / "c1" / "p.json"
    failures = {"c2": Message("the container exited with code 1: secret 0.123", "the container exited with code 1")}
    result = score_outputs(case_keys=["c1", "c2", "c3"], outputs=[output], ground_truth=[truth],
                           metrics=[{"name": "mae", "prediction": "score", "target": "label"}], output_files=files,
                           rejected_files={}, truth_dir=tmp_path / "truth", read_output=read_output_bytes,
                           missing_cases="fail", case_failures=failures)
    per_case_wording(result)
    assert not result.ok
    safe, full = result.failure_message(safe=True), result.failure_message()
    assert "2 of 3 cases have no valid output" in safe
    assert "c2: the container exited with code 1" in safe and "secret" not in safe
    assert "c2: the container exited with code 1: secret 0.123" in full
    # c3 ran and exited 0 but wrote nothing: named as its own container saw /output.
    assert "c3: /output/p.json is missing" in safe and "/output/c3/" not in full
