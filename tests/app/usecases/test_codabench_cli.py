"""`podium challenge import-codabench`: what it says when there is nothing to do or the bundle is malformed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.config import Settings
from tests.app.usecases.codabench_bundles import v2_files, write_zip


def test_the_command_needs_a_destination(settings: Settings, tmp_path: Path) -> None:
    bundle = write_zip(tmp_path / "b.zip", v2_files())
    outcome = CliRunner().invoke(main, ["challenge", "import-codabench", str(bundle)])
    assert outcome.exit_code == 2 and "--out DIR" in outcome.output


def test_a_malformed_bundle_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    files = v2_files()
    files["competition.yaml"] = b"version: 2\ntitle: [unclosed\n"
    out = tmp_path / "out"
    outcome = CliRunner().invoke(main, ["challenge", "import-codabench", str(write_zip(tmp_path / "b.zip", files)),
                                        "--out", str(out)])
    assert outcome.exit_code == 1
    assert "competition.yaml is not valid YAML" in outcome.output and "Nothing was changed." in outcome.output
    assert not out.exists()
