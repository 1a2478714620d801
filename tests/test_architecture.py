"""The layering rules of docs/architecture.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def _offenders(files: list[Path], forbidden: set[str]) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}" for path in files for name in sorted(_imports(path))
            if _top(name) in forbidden or name in forbidden]


@pytest.mark.parametrize("package", ["evaluation", "runners"])
def test_libraries_never_import_the_app(package: str) -> None:
    assert _offenders(_modules(package), {"app", "flask", "rq", "boto3", "sqlalchemy"}) == []


def test_only_app_tasks_imports_rq() -> None:
    files = [p for p in _modules("app") if "tasks" not in p.relative_to(ROOT).parts]
    assert _offenders(files, {"rq"}) == []


def test_only_the_s3_backend_imports_boto3() -> None:
    files = [p for p in _modules("app") + _modules("runners") + _modules("evaluation")
             if p != ROOT / "app" / "storage" / "s3.py"]
    assert _offenders(files, {"boto3", "botocore"}) == []


def test_only_runners_import_docker() -> None:
    assert _offenders(_modules("app") + _modules("evaluation"), {"docker"}) == []


def test_web_and_api_never_touch_runners_rq_or_storage_backends() -> None:
    files = _modules("app/web") + _modules("app/api")
    forbidden = {"runners", "rq", "app.storage.local", "app.storage.s3", "app.tasks.jobs"}
    assert _offenders(files, forbidden) == []
