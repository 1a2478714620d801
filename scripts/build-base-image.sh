#!/usr/bin/env bash
# Build the Python + numpy base image that example algorithms build on, without a registry:
# debootstrap a minimal Debian root file system from the machine's own apt mirror and `docker import` it.
# Does nothing when the image already exists.
set -euo pipefail

IMAGE="${PODIUM_BASE_IMAGE:-podium/python-base:bookworm}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-base-image: installing debootstrap" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

MIRROR="${PODIUM_DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
  MIRROR=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$MIRROR" ]; then
  echo "build-base-image: cannot tell the apt mirror; set PODIUM_DEBIAN_MIRROR" >&2
  exit 1
fi

ROOTFS=$(mktemp -d /var/tmp/podium-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "build-base-image: debootstrap bookworm from $MIRROR (about a minute)" >&2
debootstrap --variant=minbase --include=python3-minimal,python3-numpy bookworm "$ROOTFS" "$MIRROR" >/dev/null
# Smaller image: no apt caches or docs.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc "$ROOTFS"/usr/share/man
tar -C "$ROOTFS" -c . | docker import -c 'CMD ["python3"]' -c 'ENV PYTHONDONTWRITEBYTECODE=1' - "$IMAGE" >/dev/null
echo "build-base-image: built $IMAGE" >&2
