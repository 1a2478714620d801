"""`podium challenge apply`: creates, is idempotent, versions a changed test set; CLI errors are clear."""

import shutil
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.models import Challenge, Phase, TestSet
from app.usecases.apply_challenge import apply_challenge
from tests.conftest import EXAMPLE_CHALLENGE


def test_apply_creates_then_changes_nothing(resources) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        first = apply_challenge(session, resources.store, EXAMPLE_CHALLENGE)
    assert first.created and first.phases[0].test_set_uploaded
    assert first.phases[0].case_count == 228
    keys = resources.store.list("challenges/breast-cancer-wisconsin/")
    assert len([k for k in keys if "/ground_truth/" in k]) == 228
    assert len([k for k in keys if "/inputs/" in k]) == 228
    assert "challenges/breast-cancer-wisconsin/public/train.csv" in keys

    with resources.session() as session:
        second = apply_challenge(session, resources.store, EXAMPLE_CHALLENGE)
    assert not second.created and not second.phases[0].test_set_uploaded
    assert second.phases[0].test_set_version == 1
    with resources.session() as session:
        assert len(session.scalars(select(TestSet)).all()) == 1
        phase = session.scalar(select(Phase))
        assert phase.current_test_set.case_count == 228
        assert phase.time_limit_seconds == 120 and phase.ranking_metric == "auroc"


def test_a_changed_test_set_becomes_a_new_version(resources, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with resources.session() as session:
        apply_challenge(session, resources.store, EXAMPLE_CHALLENGE)
    copy = tmp_path / "bcw"
    shutil.copytree(EXAMPLE_CHALLENGE, copy, ignore=shutil.ignore_patterns("baselines"))
    spec = (copy / "challenge.yaml").read_text().replace("prepare: prepare.py\n", "")
    (copy / "challenge.yaml").write_text(spec)
    cases_csv = copy / "data" / "test" / "cases.csv"
    lines = cases_csv.read_text().splitlines()
    cases_csv.write_text("\n".join(lines[:-1]) + "\n")  # drop one case
    with resources.session() as session:
        report = apply_challenge(session, resources.store, copy)
    assert report.phases[0].test_set_version == 2 and report.phases[0].case_count == 227
    with resources.session() as session:
        versions = session.scalars(select(TestSet.version).order_by(TestSet.version)).all()
        assert versions == [1, 2]
        assert session.scalar(select(Challenge)).phases[0].current_test_set.version == 2


def test_cli_apply_reports_errors_and_changes_nothing(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "challenge.yaml").write_text("slug: x\ntitel: typo\n")
    result = runner.invoke(main, ["challenge", "apply", str(tmp_path / "broken")])
    assert result.exit_code == 1
    assert "titel: unknown key" in result.output and "Nothing was changed." in result.output
    ok = runner.invoke(main, ["challenge", "apply", str(EXAMPLE_CHALLENGE)])
    assert ok.exit_code == 0, ok.output
    assert "challenge breast-cancer-wisconsin: created" in ok.output
