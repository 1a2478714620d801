"""Codabench bundle -> Podium challenge folder: the mapping, what is reported as not mapped, what is refused."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.challenge_yaml import load_challenge_spec
from app.usecases.codabench import CodabenchBundleError, Conversion, convert_bundle
from app.usecases.codabench.convert import aggregate_name, legacy_command
from app.usecases.codabench.evaluator_adapter import AdapterError, combine, read_scores
from app.usecases.test_set_folder import read_test_set
from tests.app.usecases.codabench_bundles import V2_YAML, V15_YAML, v2_bundle, v2_files, v15_bundle, write_zip


def _convert(tmp_path: Path, bundle: Path, **options: str) -> Conversion:
    return convert_bundle(bundle, tmp_path / "out", tmp_path / "work", **options)  # type: ignore[arg-type]


def test_a_v2_bundle_maps_to_a_valid_challenge_folder(tmp_path: Path) -> None:
    conversion = _convert(tmp_path, v2_bundle(tmp_path))
    spec, folder = load_challenge_spec(conversion.folder)
    assert spec.slug == "mini-automl-podium-test" and spec.join_policy == "auto"
    assert spec.terms == "Be **fair**."
    assert "## Overview" in spec.description and "## Data" in spec.description and "\r" not in spec.description
    feedback, final = spec.phases  # sorted by their index, not by their place in the list
    assert (feedback.slug, final.slug) == ("feedback", "final")
    assert feedback.opens_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert feedback.closes_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert final.opens_at == datetime(2099, 1, 2, tzinfo=UTC)  # "1-2-2099" is month-first, as in Codabench
    assert final.closes_at is None
    assert (feedback.limits.time_limit_seconds, feedback.limits.submissions_per_day,
            feedback.limits.submissions_total) == (300, 7, 40)
    assert (final.limits.time_limit_seconds, final.limits.submissions_per_day,
            final.limits.submissions_total) == (600, 5, 100)  # Codabench's defaults
    assert feedback.evaluator is not None
    assert [(a.name, a.title, a.higher_is_better) for a in feedback.evaluator.aggregates] == [
        ("avg_accuracy", "Average accuracy", True), ("dataset1", "Dataset 1", True),
        ("dataset2", "Dataset 2", True), ("error_rate", "Error rate", False)]
    assert (feedback.ranking.metric, feedback.ranking.order) == ("avg_accuracy", "descending")
    assert feedback.leaderboard_columns == ["avg_accuracy", "dataset1", "dataset2"]  # error-rate is hidden
    # Each task is a case; the tasks' input files differ, so they travel zipped.
    assert [i.relative_path for i in feedback.inputs] == ["codabench-task.json", "input_data.zip"]
    content = read_test_set(folder / feedback.test_set, feedback)
    assert [c.case_id for c in content.cases] == ["task-0", "task-1"]
    assert content.cases[0].inputs["codabench-task"]["name"] == "dataset1 feedback"
    with zipfile.ZipFile(folder / feedback.test_set / "ground_truth" / "task-1" / "reference_data.zip") as ref:
        assert ref.namelist() == ["dataset2_reference_test.csv"]
    recipe = json.loads((conversion.builds[0].context_dir / "codabench.json").read_text())
    assert recipe["cases"]["task-0"]["command"] == "python3 /app/program/scoring.py /app/input/ /app/output/"
    assert recipe["cases"]["task-1"]["program"] == "task-0"  # one scoring program, one copy in the image
    assert [p.name for p in (conversion.builds[0].context_dir / "programs").iterdir()] == ["task-0"]
    assert sorted(p.name for p in (conversion.builds[0].context_dir / "programs" / "task-0").iterdir()) == [
        "metadata.yaml", "scoring.py"]  # no .DS_Store
    with zipfile.ZipFile(folder / feedback.test_set / "inputs" / "task-0" / "input_data.zip") as data:
        assert data.namelist() == ["dataset1_input_test.csv"]  # no ._ resource fork
    assert "`/output/<case>/predictions.zip`" in feedback.description  # participants are told what to write
    assert conversion.builds[0].archive == folder / "phases" / "feedback" / "evaluator.tar.gz"
    assert "FROM podium/python-base:bookworm" in (conversion.builds[0].context_dir / "Dockerfile").read_text()


def test_the_same_bundle_converts_to_the_same_test_set(tmp_path: Path) -> None:
    first = _convert(tmp_path / "a", v2_bundle(tmp_path))
    second = convert_bundle(v2_bundle(tmp_path), tmp_path / "b" / "out", tmp_path / "b" / "work")
    spec, _ = load_challenge_spec(first.folder)
    hashes = [read_test_set(c.folder / spec.phases[0].test_set, spec.phases[0]).content_hash for c in (first, second)]
    assert hashes[0] == hashes[1]  # re-importing an unchanged bundle makes no new test set version


def test_a_v15_bundle_maps_pages_phases_and_legacy_commands(tmp_path: Path) -> None:
    conversion = _convert(tmp_path, v15_bundle(tmp_path), slug="iris", base_image="my/scorer:1")
    spec, folder = load_challenge_spec(conversion.folder)
    assert spec.slug == "iris" and spec.join_policy == "auto"  # has_registration: False
    assert spec.terms == "Do not cheat."
    assert "# Iris" in spec.description and "Classify **flowers**." in spec.description
    assert "- one\n- two" in spec.description and "here (https://example.org)" in spec.description
    assert "<p>" not in spec.description and "p {}" not in spec.description
    development, final = spec.phases  # sorted by phasenumber
    assert development.closes_at == datetime(2098, 12, 31, tzinfo=UTC)  # the day before the next phase starts
    assert final.opens_at == datetime(2099, 1, 1, tzinfo=UTC) and final.closes_at is None
    assert development.limits.submissions_per_day == 10_000 and development.limits.time_limit_seconds == 200
    assert [i.relative_path for i in development.inputs] == ["codabench-task.json", "iris_valid.data"]
    assert [(a.name, a.higher_is_better) for a in development.evaluator.aggregates] == [  # type: ignore[union-attr]
        ("set1_score", True), ("duration", False)]
    read_test_set(folder / development.test_set, development)
    recipe = json.loads((conversion.builds[0].context_dir / "codabench.json").read_text())
    assert recipe["cases"]["task-0"]["command"] == "python /app/program/score.py /app/input /app/output"
    assert (conversion.builds[0].context_dir / "programs" / "task-0" / "metadata").is_file()
    assert "FROM my/scorer:1" in (conversion.builds[0].context_dir / "Dockerfile").read_text()
    assert "Not mapped" in (conversion.folder / "CODABENCH_IMPORT.txt").read_text()


@pytest.mark.parametrize(("command", "expected"), [
    ("python $program/score.py $input $output", "python /app/program/score.py /app/input /app/output"),
    ("$program/run $hidden $predictions $shared $tmp", "/app/program/run /app/input/ref /app/input/res /app/shared "
                                                       "/app/output"),
    ("python3 $ingestion_program/x.py $submission_program $inputs", "python3 /app/program/x.py "
                                                                    "/app/ingested_program $inputs"),
])
def test_legacy_variables_take_their_scoring_step_meaning(command: str, expected: str) -> None:
    assert legacy_command(command) == expected


def test_column_keys_become_aggregate_names() -> None:
    taken: set[str] = set()
    assert [aggregate_name(k, taken) for k in ("Duration", "error-rate", "1st", "error_rate")] == [
        "duration", "error_rate", "m_1st", "error_rate_2"]


V2_UNMAPPED = [
    ("image: logo.png", "image: the logo is not imported"),
    ("docker_image: codalab/codalab-legacy:py39", "docker_image: no registry here"),
    ("enable_detailed_results: True", "enable_detailed_results"),
    ("    ingestion_program: ingestion_program/", "ingestion_program is not run"),
    ("    hide_output: True", "hide_output"),
    ("  - title: Second board", "leaderboards[1] (Second board): only the first leaderboard is used"),
    ("    submission_rule: Force_Best", "submission_rule 'Force_Best'"),
    ("hidden: True, precision: 4", "precision 4 is not kept"),
]


@pytest.mark.parametrize(("line", "fragment"), V2_UNMAPPED)
def test_each_unmapped_item_is_reported(tmp_path: Path, line: str, fragment: str) -> None:
    assert line in V2_YAML
    assert any(fragment in item for item in _convert(tmp_path, v2_bundle(tmp_path)).unmapped)


@pytest.mark.parametrize(("addition", "fragment"), [
    ("fact_sheet: {team: {key: team, type: text, title: Team, selection: '', is_required: false, "
     "is_on_leaderboard: false}}\n", "fact_sheet: fact sheets are not supported"),
    ("queue: 0b4b6b3b-1111-2222-3333-444455556666\n", "queue:"),
    ("unknown_key: 3\n", "unknown_key: not a key Codabench reads"),
    ("solutions:\n  - {index: 0, tasks: [0], path: solution/}\n", "solutions: example submissions"),
])
def test_more_unmapped_top_level_keys_are_reported(tmp_path: Path, addition: str, fragment: str) -> None:
    bundle = v2_bundle(tmp_path, V2_YAML + addition)  # a duplicate key: the last one wins
    assert any(fragment in item for item in _convert(tmp_path, bundle).unmapped)


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("    auto_migrate_to_this_phase: False", "    auto_migrate_to_this_phase: True\n    starting_kit: solution/\n"
     "    public_data: solution/\n    accepts_only_result_submissions: True\n    max_submissions_per_person: 3",
     ["auto_migrate_to_this_phase", "starting_kit", "public_data", "result-only submissions",
      "max_submissions_per_person"]),
    ("    start: 1-2-2099", "    start: 2099-01-02T00:00:00+02:00\n    max_submissions_per_day: 0\n"
     "    execution_time_limit: 100000", ["offset", "max_submissions_per_day 0", "execution_time_limit 100000"]),
])
def test_phase_settings_without_an_equivalent_are_reported(tmp_path: Path, old: str, new: str,
                                                           fragment: list[str]) -> None:
    conversion = _convert(tmp_path, v2_bundle(tmp_path, V2_YAML.replace(old, new)))
    for piece in fragment:
        assert any(piece in item for item in conversion.unmapped), piece


def test_v15_unmapped_items_are_reported(tmp_path: Path) -> None:
    unmapped = _convert(tmp_path, v15_bundle(tmp_path)).unmapped
    for fragment in ("auto_migration", "color", "numeric_format 4", "ingestion_program is not run", "image"):
        assert any(fragment in item for item in unmapped), fragment


def _refused(tmp_path: Path, bundle: Path) -> str:
    out = tmp_path / "out"
    with pytest.raises(CodabenchBundleError) as refused:
        convert_bundle(bundle, out, tmp_path / "work")
    assert not out.exists()  # nothing is written
    return str(refused.value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.update({"competition.yaml": b"title: [unclosed\n"}), "not valid YAML"),
    (lambda f: f.update({"competition.yaml": b"- a list\n"}), "must be a mapping"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("version: 2", "version: 3")}), "version '3'"),
    (lambda f: f.pop("pages/terms.md"), "terms: pages/terms.md is not a file in the bundle"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("feedback_phase/reference_data/dataset1",
                                                             "missing_folder")}),
     "missing_folder is not in the bundle"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("feedback_phase/input_data/dataset1",
                                                             "9f0c2a1e-3b4d-4c5e-8f60-718293a4b5c6")}),
     "the key of a data set stored on a Codabench server"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("  - index: 3\n", "  - index: 3\n    key: "
                                                             "9f0c2a1e-3b4d-4c5e-8f60-718293a4b5c6\n")}),
     "refers to a task stored on a Codabench server"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("tasks: [0, 1]", "tasks: [0, 7]")}),
     "task index(es) 7"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("terms: pages/terms.md", "terms: ../etc/passwd")}),
     "points outside the bundle"),
    (lambda f: f.pop("scoring_program/metadata.yaml"), "has no metadata.yaml (or metadata)"),
    (lambda f: f.update({"scoring_program/metadata.yaml": "description: no command\n"}), "has no `command`"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("end: 2099-01-01", "end: 2019-01-01")}),
     "closes_at must be after opens_at"),
    (lambda f: f.update({"competition.yaml": V2_YAML.replace("computation_indexes: [1, 2]",
                                                             "computation_indexes: [1, 9]")}),
     "computation_indexes 9 name no other column"),
])
def test_malformed_bundles_are_refused_with_their_reason(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    files = v2_files()
    change(files)
    assert message in _refused(tmp_path, write_zip(tmp_path / "bundle.zip", files))


def test_a_bundle_without_competition_yaml_at_its_root_is_refused(tmp_path: Path) -> None:
    files = v2_files()
    files["competition.yml"] = files.pop("competition.yaml")
    assert "no competition.yaml at its top" in _refused(tmp_path, write_zip(tmp_path / "bundle.zip", files))


def test_an_unsafe_entry_is_refused(tmp_path: Path) -> None:
    files = v2_files()
    files["../escape.txt"] = "x"
    assert "unsafe name '../escape.txt'" in _refused(tmp_path, write_zip(tmp_path / "bundle.zip", files))
    assert not (tmp_path / "escape.txt").exists()


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle.zip").write_text("competition.yaml")
    assert "is not a .zip archive" in _refused(tmp_path, tmp_path / "bundle.zip")


def test_v18_parallel_phases_are_refused(tmp_path: Path) -> None:
    text = V15_YAML.replace("    phasenumber: 2\n", "    phasenumber: 2\n    parent_phasenumber: 1\n")
    assert "parallel phases" in _refused(tmp_path, v15_bundle(tmp_path, text))


def test_the_adapter_reads_scores_txt_and_computes_columns(tmp_path: Path) -> None:
    (tmp_path / "scores.txt").write_text("# a comment\nset1_score: 0.75\nDuration: '2.5'\nextra: 3\n")
    assert read_scores(tmp_path, {"set1_score", "Duration"}, "t") == {"set1_score": 0.75, "Duration": 2.5}
    columns = [{"key": "avg", "name": "avg", "title": "Avg", "index": 0, "computation": "avg", "indexes": [1, 2]},
               {"key": "a", "name": "a", "title": "A", "index": 1, "computation": None, "indexes": []},
               {"key": "B-x", "name": "b_x", "title": "B", "index": 2, "computation": None, "indexes": []},
               {"key": "best", "name": "best", "title": "Best", "index": 3, "computation": "max", "indexes": [0, 1]}]
    rows = [("task-0", {"a": 0.5, "B-x": 1.0}), ("task-1", {"B-x": 0.0})]
    assert combine(rows, columns) == {"avg": 0.5, "a": 0.5, "b_x": 0.5, "best": 0.5}
    with pytest.raises(AdapterError, match="no scoring program wrote 'a'"):
        combine([("task-0", {"B-x": 1.0})], columns)
    (tmp_path / "scores.txt").write_text("set1_score: nan\n")
    with pytest.raises(AdapterError, match="not a finite number"):
        read_scores(tmp_path, {"set1_score"}, "t")


def test_a_base_image_must_be_an_image_name(tmp_path: Path) -> None:
    with pytest.raises(CodabenchBundleError, match="is not an image name"):
        convert_bundle(v2_bundle(tmp_path), tmp_path / "out", tmp_path / "work",
                       base_image="podium/python-base:bookworm\nRUN echo injected")
    assert not (tmp_path / "out").exists()


def test_large_reference_data_gets_room_in_tmp(tmp_path: Path) -> None:
    files = v2_files()
    files["feedback_phase/reference_data/dataset1/big.bin"] = b"\0" * (100 * 1024**2)
    spec, _ = load_challenge_spec(_convert(tmp_path, write_zip(tmp_path / "big.zip", files)).folder)
    feedback, final = spec.phases
    assert (feedback.limits.tmp_mb, feedback.limits.memory_mb) == (265, 1033)  # 2 x 100 MiB (and a few bytes) + 64
    assert (final.limits.tmp_mb, final.limits.memory_mb) == (256, 1024)

