"""The import rules of docs/architecture.md, checked by import-linter with indirect imports followed.

The contracts live in pyproject.toml ([tool.importlinter]); `make lint` runs them too. The second test
shows that they bite: a copy of the tree with one deliberately wrong import fails them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
                          encoding="utf-8", errors="replace",  # its report draws boxes, whatever this locale says
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=300)


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def _tree_with(tmp_path: Path, module: str, line: str) -> Path:
    for name in ("app", "evaluation", "runners"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return tmp_path


def test_an_indirect_path_from_the_web_to_docker_is_caught(tmp_path: Path) -> None:
    # The shared read query imports the worker's attempt module, which imports the docker runner:
    # the web never names docker, yet it would load it.
    tree = _tree_with(tmp_path, "app/queries/runs.py", "from app.pipeline import attempt  # noqa")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "app.web is not allowed to import docker" in result.stdout
    assert "app.queries.runs -> app.pipeline.attempt" in result.stdout


def test_a_library_importing_the_app_is_caught(tmp_path: Path) -> None:
    tree = _tree_with(tmp_path, "evaluation/registry.py", "import app.models  # noqa")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "evaluation is not allowed to import app" in result.stdout
