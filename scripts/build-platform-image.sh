#!/usr/bin/env bash
# Build the platform image podium/platform:<version> (web and worker roles) FROM the locally built
# podium/python-base:bookworm, with Podium's wheel and its dependencies installed. Nothing is pulled, and the
# build itself has no network (`docker build --network none`):
#   1. Podium's wheel is built on the host from a clean copy of the sources, reproducibly (SOURCE_DATE_EPOCH),
#      so that an unchanged tree gives the same bytes and Docker reuses its layers;
#   2. the wheels of every dependency, for the base image's Python, glibc and CPU, are resolved from a cache
#      under build/platform-image/wheels (git-ignored); only what the cache lacks is downloaded, once;
#   3. the wheels are laid out as the build context of the top-level Dockerfile, which installs them with
#      `pip install --no-index` (pip runs from its own wheel: the base image has none).
# A second run with nothing changed downloads nothing and reuses every image layer.
#
# Settings: PODIUM_PLATFORM_IMAGE (default podium/platform:<version>), PODIUM_BASE_IMAGE
# (podium/python-base:bookworm), PODIUM_BUILD_PYTHON (the Python whose pip builds and downloads: .venv's, else
# python3), PODIUM_PLATFORM_BUILD_DIR (build/platform-image).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "build-platform-image: $*" >&2; }

PYTHON="${PODIUM_BUILD_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
PIP=("$PYTHON" -m pip --disable-pip-version-check)
BASE_IMAGE="${PODIUM_BASE_IMAGE:-podium/python-base:bookworm}"
OUT="${PODIUM_PLATFORM_BUILD_DIR:-$ROOT/build/platform-image}"
CACHE="$OUT/wheels"
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
IMAGE="${PODIUM_PLATFORM_IMAGE:-podium/platform:$VERSION}"
# The legacy builder unless the caller chose: it needs no buildx and never looks for the base in a registry.
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/podium-platform-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE/build" "$CACHE/deps" "$CACHE/pip" "$WORK/src" "$WORK/dist"

bash scripts/build-base-image.sh   # does nothing when the base image exists


# The base image's Python and platform: the wheels gathered on the host must be ones that it can install.
read -r PY_VERSION GLIBC ARCH < <(docker run --rm --network none --entrypoint python3 "$BASE_IMAGE" -c \
  'import platform; print(platform.python_version(), platform.libc_ver()[1], platform.machine())')
if [ -z "${ARCH:-}" ]; then
  log "cannot run python3 in $BASE_IMAGE"
  exit 1
fi
PY_MAJOR_MINOR=${PY_VERSION%.*}
GLIBC_MINOR=${GLIBC#*.}
TARGET=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp --abi "cp${PY_MAJOR_MINOR/./}")
for ((minor = GLIBC_MINOR; minor >= 5; minor--)); do
  TARGET+=(--platform "manylinux_2_${minor}_${ARCH}")
done
TARGET+=(--platform "manylinux2014_${ARCH}" --platform "manylinux2010_${ARCH}" --platform "manylinux1_${ARCH}")
log "target: CPython $PY_VERSION, glibc $GLIBC, $ARCH (from $BASE_IMAGE)"

# pip's own wheel: it runs from the wheel, in the base image (which has no pip) and in the build.
PIP_WHEEL=$(ls "$CACHE"/pip/pip-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$PIP_WHEEL" ]; then
  log "downloading pip's wheel into $CACHE/pip (once)"
  "${PIP[@]}" download --quiet --no-deps --only-binary=:all: -d "$CACHE/pip" pip
  PIP_WHEEL=$(ls "$CACHE"/pip/pip-*.whl | sort -V | tail -n 1)
fi

# 1. Podium's wheel from a clean copy: the packages that pyproject.toml ships, and the files it names.
"$PYTHON" - "$WORK/src" <<'PY'
import shutil
import sys
import tomllib
from pathlib import Path

destination = Path(sys.argv[1])
project = tomllib.load(open("pyproject.toml", "rb"))
include = project["tool"]["setuptools"]["packages"]["find"]["include"]
files = ["pyproject.toml", project["project"].get("readme", "README.md")]
files += [name for name in ("setup.py", "setup.cfg", "MANIFEST.in", "LICENSE") if Path(name).exists()]
for name in files:
    shutil.copy2(name, destination / name)
ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
for name in sorted({pattern.split(".")[0].rstrip("*") for pattern in include}):
    if Path(name).is_dir():
        shutil.copytree(name, destination / name, ignore=ignore)
PY
mapfile -t BUILD_REQUIRES < <("$PYTHON" -c \
  'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
build_wheel() {
  "${PIP[@]}" wheel --quiet --no-deps --no-index --find-links "$CACHE/build" -w "$WORK/dist" "$WORK/src"
}
if ! build_wheel 2>"$WORK/build.log"; then
  log "downloading the build requirements into $CACHE/build (${BUILD_REQUIRES[*]})"
  "${PIP[@]}" download --quiet --only-binary=:all: -d "$CACHE/build" "${BUILD_REQUIRES[@]}"
  build_wheel 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; exit 1; }
fi
WHEEL=$(ls "$WORK"/dist/podium-*.whl)
log "built $(basename "$WHEEL")"

# 2. Every dependency's wheel. The base image's own Python resolves them from the cache (network none), so that
# environment markers are judged by the interpreter that will run them (redis needs async-timeout before
# Python 3.11.3, for one); the host downloads only what that resolution lacks.
resolve() {
  docker run --rm --network none --entrypoint python3 \
    -v "$CACHE/deps:/wheels:ro" -v "$PIP_WHEEL:/pip.whl:ro" -v "$WORK:/work" "$BASE_IMAGE" \
    /pip.whl/pip install --quiet --disable-pip-version-check --no-cache-dir --dry-run --ignore-installed \
    --no-index --find-links /wheels --target /tmp/target --report /work/report.json "/work/dist/$(basename "$WHEEL")"
}
attempt=0
until resolve 2>"$WORK/resolve.log"; do
  attempt=$((attempt + 1))
  missing=$(sed -n 's/.*No matching distribution found for \([^ ]*\).*/\1/p' "$WORK/resolve.log" | head -n 1)
  if [ "$attempt" -eq 1 ]; then
    log "downloading dependency wheels into $CACHE/deps (the first time, or after a dependency changed)"
    "${PIP[@]}" download --quiet "${TARGET[@]}" -d "$CACHE/deps" "$WHEEL"
    rm -f "$CACHE/deps/$(basename "$WHEEL")"
  elif [ -n "$missing" ] && [ "$attempt" -le 20 ]; then
    log "downloading $missing, which Python $PY_VERSION needs"
    "${PIP[@]}" download --quiet "${TARGET[@]}" -d "$CACHE/deps" "$missing"
  else
    cat "$WORK/resolve.log" >&2
    exit 1
  fi
done

# 3. The build context: exactly the resolved wheels (hard links into the cache where possible).
CONTEXT="$OUT/context"
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/deps" "$CONTEXT/pip" "$CONTEXT/podium"
place() { ln -f "$1" "$2/" 2>/dev/null || cp "$1" "$2/"; }
"$PYTHON" - "$WORK/report.json" >"$WORK/deps.txt" <<'PY'
import json
import posixpath
import sys
from urllib.parse import unquote, urlparse

for item in json.load(open(sys.argv[1]))["install"]:
    if not item.get("is_direct"):
        print(posixpath.basename(unquote(urlparse(item["download_info"]["url"]).path)))
PY
while read -r dep; do place "$CACHE/deps/$dep" "$CONTEXT/deps"; done <"$WORK/deps.txt"
place "$PIP_WHEEL" "$CONTEXT/pip"
place "$WHEEL" "$CONTEXT/podium"
cp Dockerfile "$CONTEXT/Dockerfile"
log "$(wc -l <"$WORK/deps.txt") dependency wheels, $(du -sh "$CONTEXT" | cut -f1) of build context"

PREVIOUS=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker build --network none --tag "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION" \
  "$CONTEXT"
# The image this tag named before, if the build replaced it and nothing else names it (the build's cached
# layers stay: they belong to the intermediate images).
if [ -n "$PREVIOUS" ] && [ "$PREVIOUS" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ] \
   && [ "$(docker image inspect --format '{{len .RepoTags}}' "$PREVIOUS" 2>/dev/null)" = "0" ]; then
  docker image rm "$PREVIOUS" >/dev/null 2>&1 || true
fi
log "built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'))"
