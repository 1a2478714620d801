#!/bin/sh
# Create the cluster, the role and the database on the first start (an empty $PGDATA), then run PostgreSQL in the
# foreground. Settings: POSTGRES_PASSWORD (required), POSTGRES_USER and POSTGRES_DB (podium), PODIUM_STACK_DB_PORT
# (15432), PODIUM_STACK_DB_LISTEN (127.0.0.1: the stack shares the host's network; for workers on other machines,
# a comma-separated list that keeps 127.0.0.1, e.g. 127.0.0.1,10.0.0.5). Password authentication over TCP; the unix socket stays inside the container.
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
user="${POSTGRES_USER:-podium}"
database="${POSTGRES_DB:-podium}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" --encoding=UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  # Any address may connect with the password; which addresses PostgreSQL listens on limits who can try.
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE \"$database\" OWNER \"$user\";" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  echo "podium-postgres: created the cluster and the database $database" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses="${PODIUM_STACK_DB_LISTEN:-127.0.0.1}" \
  -c port="${PODIUM_STACK_DB_PORT:-15432}" -c unix_socket_directories=/tmp "$@"
