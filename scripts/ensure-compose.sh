#!/usr/bin/env bash
# Make sure a Compose implementation is installed: Docker's compose plugin (`docker compose`) or Debian's
# docker-compose 1.29, which this installs from the machine's apt mirror when neither is there. Idempotent.
set -euo pipefail

if docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1; then
  exit 0
fi
echo "ensure-compose: installing docker-compose (Debian's package)" >&2
export DEBIAN_FRONTEND=noninteractive
if [ ! -f /var/lib/apt/periodic/podium-updated ]; then
  apt-get update -qq && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/podium-updated
fi
apt-get install -y -qq docker-compose >/dev/null
docker-compose version >/dev/null
