"""The example challenges' baselines share files on disk (challenges/_shared/container/, baselines/_shared/) that
`podium baselines` copies into each build context: every file a baseline's Dockerfile copies is in its context,
and shared folders are not built as baselines. No Docker: the contexts are written and read, not built."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from app.cli.baselines import baseline_folders, write_build_context
from tests.conftest import EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE, PROSTATE_CHALLENGE, SPLEEN_CHALLENGE

CHALLENGES = [EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE, SPLEEN_CHALLENGE, PROSTATE_CHALLENGE]
BASELINES = [folder for challenge in CHALLENGES for folder in baseline_folders(challenge)]
TRAINED = {"model.json"}  # written into the context by train.py, not kept on disk


def _copied_sources(dockerfile: Path) -> list[str]:
    """The sources of each COPY instruction (options such as --chown left out)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = shlex.split(line)
        if words and words[0].upper() == "COPY":
            sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def test_each_example_has_two_baselines_and_shared_folders_are_not_baselines() -> None:
    assert {challenge.name: [f.name for f in baseline_folders(challenge)] for challenge in CHALLENGES} == {
        "breast-cancer-wisconsin": ["logistic-regression", "single-feature"],
        "breast-multisite": ["logistic-regression", "single-feature"],
        "spleen-ct-segmentation": ["fixed-threshold", "window-and-largest-component"],
        "prostate-mri-detection": ["lesion-candidates", "psa-density"],
    }


def test_shared_folders_with_a_dockerfile_are_still_not_baselines(tmp_path: Path) -> None:
    for name in ("_shared", ".hidden", "real"):
        (tmp_path / "baselines" / name).mkdir(parents=True)
        (tmp_path / "baselines" / name / "Dockerfile").write_text("FROM scratch\n")
    assert [f.name for f in baseline_folders(tmp_path)] == ["real"]


@pytest.mark.parametrize("folder", BASELINES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_file_a_dockerfile_copies_is_in_its_build_context(folder: Path, tmp_path: Path) -> None:
    write_build_context(folder, tmp_path)
    missing = [s for s in _copied_sources(tmp_path / "Dockerfile") if s not in TRAINED and not (tmp_path / s).exists()]
    assert missing == []


def test_the_baselines_own_files_win_over_shared_ones(tmp_path: Path) -> None:
    challenges = tmp_path / "challenges"
    (challenges / "_shared" / "container").mkdir(parents=True)
    (challenges / "_shared" / "container" / "a.py").write_text("everyone's")
    (challenges / "_shared" / "container" / "b.py").write_text("everyone's")
    baselines = challenges / "example" / "baselines"
    (baselines / "_shared").mkdir(parents=True)
    (baselines / "_shared" / "b.py").write_text("the challenge's")
    (baselines / "_shared" / "c.py").write_text("the challenge's")
    (baselines / "one").mkdir()
    (baselines / "one" / "c.py").write_text("its own")
    write_build_context(baselines / "one", tmp_path / "context")
    assert {p.name: p.read_text() for p in (tmp_path / "context").iterdir()} == {
        "a.py": "everyone's", "b.py": "the challenge's", "c.py": "its own"}
