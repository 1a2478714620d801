"""challenge.yaml validation: errors name the key and the file; nothing is written on error."""

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from app.challenge_yaml import ChallengeSpecError, load_challenge_spec
from app.models import Challenge
from app.usecases.apply_challenge import apply_challenge
from tests.conftest import EXAMPLE_CHALLENGE


def _write_variant(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((EXAMPLE_CHALLENGE / "challenge.yaml").read_text())
    change(raw)
    folder = tmp_path / "challenge"
    folder.mkdir()
    (folder / "challenge.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_the_example_challenge_is_valid() -> None:
    spec, folder = load_challenge_spec(EXAMPLE_CHALLENGE)
    assert spec.slug == "breast-cancer-wisconsin"
    assert [m.name for m in spec.phases[0].metrics] == ["auroc", "average_precision"]
    assert folder == EXAMPLE_CHALLENGE


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r.update(colour="blue"), r"colour: unknown key"),
    (lambda r: r["phases"][0].update(time_limit=5), r"phases\.0\.time_limit: unknown key"),
    (lambda r: r["phases"][0]["limits"].update(memory_mb="lots"), r"phases\.0\.limits\.memory_mb: "),
    (lambda r: r["phases"][0]["metrics"][0].update(name="accuracy-ish"), r"unknown metric 'accuracy-ish'"),
    (lambda r: r["phases"][0]["ranking"].update(metric="dice"), r"ranking\.metric 'dice' is not one of"),
    (lambda r: r["phases"][0]["outputs"][0].update(relative_path="../x.json"), r"relative_path"),
    (lambda r: r.pop("title"), r"title: required key is missing"),
    (lambda r: r.update(slug="Has Spaces"), r"slug: String should match pattern"),
])
def test_bad_keys_are_named_with_the_file(tmp_path: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    folder = _write_variant(tmp_path, change)
    with pytest.raises(ChallengeSpecError) as excinfo:
        load_challenge_spec(folder)
    message = str(excinfo.value)
    assert str(folder / "challenge.yaml") in message
    assert pytest.importorskip("re").search(expected, message), message


def test_yaml_syntax_errors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "challenge.yaml").write_text("slug: [unclosed\n")
    with pytest.raises(ChallengeSpecError, match="not valid YAML"):
        load_challenge_spec(tmp_path)


def test_nothing_is_written_when_the_test_set_is_broken(tmp_path: Path, resources) -> None:  # type: ignore[no-untyped-def]
    folder = _write_variant(tmp_path, lambda r: r.update(prepare=None))
    test_set = folder / "data" / "test"
    (test_set / "inputs" / "c1").mkdir(parents=True)
    (test_set / "cases.csv").write_text("case_id,site\nc1,A\nc2,B\n")
    (test_set / "inputs" / "c1" / "nuclei-features.json").write_text('{"a": 1}')
    (test_set / "ground_truth" / "c1").mkdir(parents=True)
    (test_set / "ground_truth" / "c1" / "malignant.json").write_text("NaN")
    (folder / "data" / "public").mkdir(parents=True)
    (folder / "data" / "public" / "train.csv").write_text("x\n")
    from app.usecases.test_set_folder import TestSetError

    with pytest.raises(TestSetError) as excinfo, resources.session() as session:
        apply_challenge(session, resources.store, folder)
    message = str(excinfo.value)
    assert "c1/malignant.json: expected a finite number" in message or "malignant.json" in message
    assert "inputs/c2/nuclei-features.json: missing" in message
    with resources.session() as session:
        assert session.scalar(select(func.count(Challenge.id))) == 0
    assert resources.store.list("challenges/") == []


def _rank_then_aggregate_on(metric: str, order: str = "descending"):  # type: ignore[no-untyped-def]
    def change(raw) -> None:  # type: ignore[no-untyped-def]
        phase = raw["phases"][0]
        if metric not in [m["name"] for m in phase["metrics"]]:
            phase["metrics"].append({"name": metric, "prediction": "malignancy-likelihood", "target": "malignant"})
        phase["ranking"] = {"metric": metric, "order": order}
        phase.setdefault("analysis", {})["ranking_scheme"] = "rank-then-aggregate"
    return change


@pytest.mark.parametrize("metric", ["auroc", "average_precision", "sensitivity", "expected_calibration_error"])
def test_rank_then_aggregate_on_a_set_level_metric_is_refused_with_the_reason(tmp_path: Path, metric: str) -> None:
    folder = _write_variant(tmp_path, _rank_then_aggregate_on(metric))
    with pytest.raises(ChallengeSpecError) as excinfo:
        load_challenge_spec(folder)
    message = str(excinfo.value)
    assert str(folder / "challenge.yaml") in message and "phases.0" in message
    assert f"ranking.metric {metric!r} is a set-level metric" in message  # why ...
    assert "no per-case value" in message
    assert "'aggregate-then-rank' or 'significance'" in message and "brier_score" in message  # ... and what instead


@pytest.mark.parametrize("scheme", ["aggregate-then-rank", "significance"])
def test_a_set_level_ranking_metric_takes_the_other_schemes(tmp_path: Path, scheme: str) -> None:
    def change(raw) -> None:  # type: ignore[no-untyped-def]
        raw["phases"][0].setdefault("analysis", {})["ranking_scheme"] = scheme
    spec, _ = load_challenge_spec(_write_variant(tmp_path, change))
    assert spec.phases[0].analysis.ranking_scheme == scheme and spec.phases[0].ranking.metric == "auroc"


def test_rank_then_aggregate_on_a_case_level_metric_is_valid(tmp_path: Path) -> None:
    spec, _ = load_challenge_spec(_write_variant(tmp_path, _rank_then_aggregate_on("brier_score", "ascending")))
    phase = spec.phases[0]
    assert phase.analysis.ranking_scheme == "rank-then-aggregate" and phase.ranking.metric == "brier_score"


# --- ranking across metrics (ranking.metrics, ranking.combine) -------------------------------------------------------

def _ranked_across(ranking: dict, scheme: str = "aggregate-then-rank", evaluator: bool = False):  # type: ignore[no-untyped-def]
    def change(raw) -> None:  # type: ignore[no-untyped-def]
        phase = raw["phases"][0]
        phase["metrics"].append({"name": "brier_score", "prediction": "malignancy-likelihood", "target": "malignant"})
        phase["ranking"] = ranking
        phase.setdefault("analysis", {})["ranking_scheme"] = scheme
        if evaluator:
            phase["evaluator"] = {"archive": "evaluator.tar.gz",
                                  "aggregates": [{"name": "net_benefit", "higher_is_better": True}]}
    return change


def test_a_ranking_across_metrics_resolves_its_primary_orders_and_weights(tmp_path: Path) -> None:
    spec, _ = load_challenge_spec(_write_variant(tmp_path, _ranked_across(
        {"metrics": [{"metric": "auroc", "weight": 2}, {"metric": "brier_score"}], "combine": "median"})))
    phase = spec.phases[0]
    assert phase.ranking.metric == "auroc"  # the first one, when ranking.metric is left out
    assert phase.ranking_order() == "descending"
    assert phase.ranking_across() == {"metrics": [{"metric": "auroc", "order": "descending", "weight": 2.0},
                                                  {"metric": "brier_score", "order": "ascending", "weight": 1.0}],
                                      "combine": "median"}


def test_the_ranking_order_defaults_to_the_metrics_own_direction(tmp_path: Path) -> None:
    spec, _ = load_challenge_spec(_write_variant(tmp_path, _ranked_across({"metric": "brier_score"})))
    assert spec.phases[0].ranking_order() == "ascending" and spec.phases[0].ranking_across() is None
    (tmp_path / "b").mkdir()
    spec, _ = load_challenge_spec(_write_variant(tmp_path / "b", _ranked_across(
        {"metrics": [{"metric": "brier_score", "order": "descending"}, {"metric": "auroc"}]})))
    assert spec.phases[0].ranking_order() == "descending"  # the primary's order in ranking.metrics


@pytest.mark.parametrize(("ranking", "scheme", "evaluator", "expected"), [
    ({"metrics": [{"metric": "auroc"}]}, "aggregate-then-rank", False, r"ranking\.metrics: .*at least 2 items"),
    ({"metrics": [{"metric": "auroc"}, {"metric": "auroc"}]}, "aggregate-then-rank", False, r"appear once"),
    ({"metrics": [{"metric": "auroc"}, {"metric": "dice"}]}, "aggregate-then-rank", False,
     r"ranking\.metrics: 'dice' not among the phase's metrics"),
    ({"metric": "average_precision", "metrics": [{"metric": "auroc"}, {"metric": "brier_score"}]},
     "aggregate-then-rank", False, r"'average_precision' \(the primary metric\) must be one of ranking\.metrics"),
    ({"metric": "auroc", "order": "ascending", "metrics": [{"metric": "auroc", "order": "descending"},
                                                           {"metric": "brier_score"}]},
     "aggregate-then-rank", False, r"disagree; give it once"),
    ({"metric": "auroc", "combine": "mean"}, "aggregate-then-rank", False, r"combine applies to a ranking across"),
    ({"metrics": [{"metric": "auroc", "weight": 0}, {"metric": "brier_score"}]}, "aggregate-then-rank", False,
     r"weight: Input should be greater than 0"),
    ({"metrics": [{"metric": "auroc"}, {"metric": "brier_score"}], "combine": "max"}, "aggregate-then-rank", False,
     r"combine: Input should be 'mean' or 'median'"),
    ({"metrics": [{"metric": "brier_score"}, {"metric": "auroc"}]}, "rank-then-aggregate", False,
     r"ranking\.metrics 'auroc' is a set-level metric"),
    ({"metrics": [{"metric": "auroc"}, {"metric": "net_benefit"}]}, "significance", True,
     r"'net_benefit' is an evaluator's aggregate .* 'aggregate-then-rank'"),
    ({"metric": "net_benefit"}, "significance", True, r"ranking\.metric 'net_benefit' is an evaluator's aggregate"),
])
def test_rankings_across_metrics_that_cannot_work_are_refused(tmp_path: Path, ranking: dict, scheme: str,  # type: ignore[type-arg]
                                                              evaluator: bool, expected: str) -> None:
    import re

    with pytest.raises(ChallengeSpecError) as excinfo:
        load_challenge_spec(_write_variant(tmp_path, _ranked_across(ranking, scheme, evaluator)))
    assert re.search(expected, str(excinfo.value)), str(excinfo.value)


def test_an_evaluator_aggregate_ranks_across_metrics_by_aggregate_then_rank(tmp_path: Path) -> None:
    spec, _ = load_challenge_spec(_write_variant(tmp_path, _ranked_across(
        {"metrics": [{"metric": "auroc"}, {"metric": "net_benefit", "weight": 0.5}]}, evaluator=True)))
    assert spec.phases[0].ranking_across() == {
        "metrics": [{"metric": "auroc", "order": "descending", "weight": 1.0},
                    {"metric": "net_benefit", "order": "descending", "weight": 0.5}], "combine": "mean"}


# --- analysis.cluster_by (the clustered bootstrap) -------------------------------------------------------------------

@pytest.mark.parametrize(("cluster_by", "breakdown_by", "expected"), [
    ("  ", [], r"analysis\.cluster_by: .*name a metadata column of cases\.csv"),
    ("site", ["site"], r"cluster_by 'site' is also in breakdown_by: .*no width; cluster by a finer column"),
])
def test_a_cluster_column_that_cannot_work_is_refused(tmp_path: Path, cluster_by: str, breakdown_by: list[str],
                                                      expected: str) -> None:
    def change(raw) -> None:  # type: ignore[no-untyped-def]
        raw["phases"][0]["analysis"] = {"cluster_by": cluster_by, "breakdown_by": breakdown_by}
    with pytest.raises(ChallengeSpecError) as excinfo:
        load_challenge_spec(_write_variant(tmp_path, change))
    assert pytest.importorskip("re").search(expected, str(excinfo.value)), str(excinfo.value)


def test_cluster_by_defaults_to_none(tmp_path: Path) -> None:
    spec, _ = load_challenge_spec(_write_variant(tmp_path, lambda raw: None))
    assert spec.phases[0].analysis.cluster_by is None


def _multisite_variant(tmp_path: Path, cluster_by: str) -> Path:
    import shutil

    from tests.conftest import MULTISITE_CHALLENGE

    folder = tmp_path / "multisite"
    shutil.copytree(MULTISITE_CHALLENGE, folder, ignore=shutil.ignore_patterns("baselines", "prepare.py"))
    raw = yaml.safe_load((folder / "challenge.yaml").read_text())
    raw.pop("prepare", None)  # data/ is prepared already; applying is then quick
    raw["phases"] = raw["phases"][:1]  # its central phase (the phase at-sites needs its sites registered)
    raw["phases"][0]["analysis"]["cluster_by"] = cluster_by
    raw["phases"][0]["analysis"]["breakdown_by"] = ["scanner"]
    (folder / "challenge.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_an_unknown_cluster_column_is_refused_at_apply_naming_the_columns(tmp_path: Path, resources) -> None:  # type: ignore[no-untyped-def]
    folder = _multisite_variant(tmp_path, "patient_id")
    with pytest.raises(ChallengeSpecError) as excinfo, resources.session() as session:
        apply_challenge(session, resources.store, folder)
    assert "analysis.cluster_by: column 'patient_id' is not in cases.csv (columns: site, scanner)" in str(excinfo.value)
    with resources.session() as session:
        assert session.scalar(select(func.count(Challenge.id))) == 0


def test_a_cluster_column_of_the_test_set_is_applied_and_exported(tmp_path: Path, resources) -> None:  # type: ignore[no-untyped-def]
    from app.queries.challenge_spec import challenge_spec_of

    folder = _multisite_variant(tmp_path, "site")
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)
        challenge = session.scalar(select(Challenge))
        assert challenge is not None
        assert challenge.phases[0].analysis["cluster_by"] == "site"
        assert challenge_spec_of(challenge)["phases"][0]["analysis"]["cluster_by"] == "site"
