"""The wheel carries everything `podium db upgrade` needs, Alembic's migrations included.

Built with `pip wheel --no-deps` from a clean copy of the sources and installed into a fresh virtualenv, it
migrates an empty SQLite database to the head revision from a folder outside the repository. To stay fast and
offline, the new virtualenv borrows the dependencies already installed for the tests through a .pth file; the
test checks that Podium itself is imported from the new virtualenv, not from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from app.db_migrations import head_revision

REPO_ROOT = Path(__file__).resolve().parents[2]


def copy_sources(destination: Path) -> None:
    """pyproject.toml, the readme and the packages that pyproject.toml ships, without caches or build leftovers."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {pattern.split(".")[0].rstrip("*") for pattern in include}
    destination.mkdir(parents=True)
    for name in ("pyproject.toml", project["project"].get("readme", "README.md")):
        shutil.copy2(REPO_ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in sorted(top_level):
        shutil.copytree(REPO_ROOT / name, destination / name, ignore=ignore)


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without anything that could point Python or Podium back at the checkout."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PODIUM_") and name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    copy_sources(root / "src")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(root / "dist"), str(root / "src")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = (root / "dist").glob("podium-*.whl")
    return built


@pytest.fixture(scope="module")
def installed_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (no dependencies), then the test's site-packages borrowed."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, env=clean_environment(),
    ).stdout.strip())
    # Installed before this line is written, so that pip never saw the checkout's editable install.
    borrowed = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "zz-borrowed-dependencies.pth").write_text("".join(f"{path}\n" for path in borrowed))
    return venv


def test_the_wheel_ships_every_migration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {name.rsplit("/", 1)[1] for name in names if name.startswith("migrations/versions/")}
    in_checkout = {path.name for path in (REPO_ROOT / "migrations" / "versions").glob("*.py")}
    assert shipped == in_checkout
    assert {"migrations/__init__.py", "migrations/env.py", "migrations/script.py.mako"} <= names


def test_the_wheel_ships_every_template_and_static_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    web = REPO_ROOT / "app" / "web"
    in_checkout = {str(path.relative_to(REPO_ROOT)) for folder in ("templates", "static")
                   for path in (web / folder).rglob("*") if path.is_file()}
    assert in_checkout - names == set()
    assert "app/web/static/vendor/htmx.min.js" in names  # the site's one script: never fetched from elsewhere


def test_installed_wheel_upgrades_an_empty_sqlite_database_to_head(installed_venv: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"  # the working directory: not the repository, nor inside it
    elsewhere.mkdir()
    data_dir = tmp_path / "data"
    env = clean_environment(PODIUM_DATA_DIR=str(data_dir), PODIUM_SECRET_KEY="test-secret")

    where = subprocess.run(
        [str(installed_venv / "bin" / "python"), "-c",
         "import app, migrations, app.db_migrations as m; print(app.__file__); print(migrations.__file__); "
         "print(m.migrations_dir())"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(installed_venv.resolve()), f"imported from {line}, not the wheel"

    result = subprocess.run([str(installed_venv / "bin" / "podium"), "db", "upgrade"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"podium db upgrade failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1] == f"database at revision {head_revision()}"
    assert (data_dir / "podium.db").is_file()
