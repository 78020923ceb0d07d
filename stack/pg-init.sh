#!/usr/bin/env bash
# pg-init for the process-compose stack: create the PostgreSQL cluster, role `app` and database
# `app` on the first run only. Run by process-compose.yaml (pg-init); checked by shellcheck
# (tests/stack/test_pg_init_script.py).
#
#   pg-init.sh DATA_DIR PORT
#
# The temporary server listens on no TCP address, only on a socket in a fresh short directory,
# so the postgres probe (TCP) can never see it as ready. Socket paths over ~100 bytes break
# PostgreSQL, and a repository can sit deep: mktemp -d keeps it short.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: pg-init.sh DATA_DIR PORT" >&2
  exit 2
fi
pgdata="$1/postgres"
port="$2"

if [ ! -s "$pgdata/PG_VERSION" ]; then
  mkdir -p "$pgdata"
  # trust: only local users reach 127.0.0.1, and it is a development database.
  # --no-sync saves a third of initdb's time; the price is a cluster lost if the machine
  # crashes in the next few seconds, then delete the state dir and start again.
  initdb --pgdata="$pgdata" --username=postgres --auth=trust \
    --encoding=UTF8 --no-locale --no-instructions --no-sync
fi

# The marker lives inside the cluster, so deleting the cluster re-runs this part too.
if [ -e "$pgdata/stack-init.done" ]; then
  exit 0
fi

sock="$(mktemp -d)"
cleanup() {
  pg_ctl --pgdata="$pgdata" --mode=fast --wait stop >/dev/null 2>&1 || true
  rm -rf "$sock"
}
trap cleanup EXIT

if ! pg_ctl --pgdata="$pgdata" --wait --silent --log="$sock/init.log" \
  --options="-c listen_addresses='' -c unix_socket_directories='$sock' -p $port" start; then
  cat "$sock/init.log" >&2
  exit 1
fi

# PostgreSQL 15 grants CREATE on schema public to the database owner only.
psql --host="$sock" --port="$port" --username=postgres --dbname=postgres \
  --quiet --no-psqlrc --set=ON_ERROR_STOP=1 <<'SQL'
SELECT 'CREATE ROLE app LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')
\gexec
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')
\gexec
SQL

touch "$pgdata/stack-init.done"
