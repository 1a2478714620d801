#!/usr/bin/env bash
# Run Podium as a compose stack on this machine (deploy/compose.yaml; docs/operations.md, "The stack").
#
#   scripts/stack.sh up [N]          build what is missing, then start the stack with N workers (default 2) and
#                                    wait until the web site answers /ready
#   scripts/stack.sh down [--volumes]   stop and remove the containers (and, with --volumes, all the data)
#   scripts/stack.sh compose ARGS... docker-compose with the stack's file, project and settings, e.g.
#                                    scripts/stack.sh compose exec web podium user create alice --admin
#   scripts/stack.sh env             the settings, as KEY=VALUE lines
#
# Settings come from the environment, then from the env file (PODIUM_STACK_ENV_FILE, default var/stack/stack.env,
# created on first use with a generated secret key and database password; keep it: the data needs them), then
# from the defaults below. PODIUM_STACK_PROJECT names the compose project (podium-stack); PODIUM_STACK_SKIP_BUILD=1
# skips scripts/build-stack-images.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { echo "stack: $*" >&2; }

ENV_FILE="${PODIUM_STACK_ENV_FILE:-$ROOT/var/stack/stack.env}"
if [ ! -f "$ENV_FILE" ]; then
  mkdir -p "$(dirname "$ENV_FILE")"
  (umask 077 && printf 'PODIUM_SECRET_KEY=%s\nPODIUM_STACK_DB_PASSWORD=%s\n' \
    "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ENV_FILE")
  log "wrote $ENV_FILE (a generated secret key and database password)"
fi
# The file's values, unless the environment already sets them.
while IFS='=' read -r key value; do
  case "$key" in ''|'#'*) continue ;; esac
  if [ -z "${!key+set}" ]; then export "$key=$value"; fi
done <"$ENV_FILE"

PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
: "${PODIUM_VERSION:=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')}"
WEED="$ROOT/.venv/bin/weed"
[ -x "$WEED" ] || WEED=$(command -v weed || echo weed)
: "${PODIUM_STACK_SEAWEEDFS_VERSION:=$("$WEED" version 2>/dev/null \
  | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) {print $i; exit}}')}"
: "${PODIUM_STACK_PROJECT:=podium-stack}"
: "${PODIUM_STACK_WEB_PORT:=15000}"
: "${PODIUM_STACK_DB_PORT:=15432}"
: "${PODIUM_STACK_REDIS_PORT:=16379}"
: "${PODIUM_STACK_S3_PORT:=18333}"
: "${PODIUM_STACK_WEED_MASTER_PORT:=19333}"
: "${PODIUM_STACK_WEED_VOLUME_PORT:=18080}"
: "${PODIUM_STACK_WEED_FILER_PORT:=18888}"
: "${PODIUM_STACK_WEB_WORKERS:=2}"
: "${PODIUM_PUBLIC_URL:=http://127.0.0.1:$PODIUM_STACK_WEB_PORT}"
export PODIUM_VERSION PODIUM_STACK_SEAWEEDFS_VERSION PODIUM_STACK_WEB_PORT PODIUM_STACK_DB_PORT \
  PODIUM_STACK_REDIS_PORT PODIUM_STACK_S3_PORT PODIUM_STACK_WEED_MASTER_PORT PODIUM_STACK_WEED_VOLUME_PORT \
  PODIUM_STACK_WEED_FILER_PORT PODIUM_STACK_WEB_WORKERS PODIUM_PUBLIC_URL

bash scripts/ensure-compose.sh
if docker-compose version >/dev/null 2>&1; then COMPOSE=(docker-compose); else COMPOSE=(docker compose); fi
COMPOSE+=(--project-name "$PODIUM_STACK_PROJECT" --file "$ROOT/deploy/compose.yaml")

wait_for_web() {
  local deadline=$((SECONDS + ${PODIUM_STACK_READY_TIMEOUT:-180})) id health
  id=$("${COMPOSE[@]}" ps -q web)
  while :; do
    health=$(docker inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null || echo missing)
    [ "$health" = healthy ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the web site did not become healthy ($health); its log:"
      docker logs --tail 40 "$id" >&2 || true
      return 1
    fi
    sleep 1
  done
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  up)
    workers=${1:-${PODIUM_STACK_WORKERS:-2}}
    if [ "${PODIUM_STACK_SKIP_BUILD:-0}" != 1 ]; then bash scripts/build-stack-images.sh; fi
    "${COMPOSE[@]}" up --detach --no-build --scale "worker=$workers" >&2
    wait_for_web
    log "up: $PODIUM_PUBLIC_URL ($workers workers; project $PODIUM_STACK_PROJECT)"
    ;;
  down)
    "${COMPOSE[@]}" down --remove-orphans "$@" >&2
    ;;
  compose)
    exec "${COMPOSE[@]}" "$@"
    ;;
  env)
    env | grep -E '^PODIUM_(VERSION|STACK_[A-Z_]+|PUBLIC_URL)=' | grep -v PASSWORD | sort
    ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
