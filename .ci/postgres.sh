#!/usr/bin/env bash
# Install and start a local PostgreSQL for the store tests; safe to run again (idempotent).
# Run as root on Debian. Prints the export line for ENDOTRIAL_TEST_POSTGRES_URL on the last line.
set -euo pipefail

PG_USER="${PG_USER:-endotrial}"
PG_PASSWORD="${PG_PASSWORD:-endotrial}"
PG_DB="${PG_DB:-endotrial_test}"
PG_PORT="${PG_PORT:-5432}"

# apt-get is itself idempotent: on a machine that has PostgreSQL it only refreshes the lists.
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q postgresql >&2

# The newest installed major version, and its default cluster (created by the package, or here).
PG_VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$PG_VERSION main"; then
  pg_createcluster --port "$PG_PORT" "$PG_VERSION" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$PG_VERSION" main start >&2
fi

# Wait until the server accepts connections.
for _ in $(seq 1 30); do
  if su postgres -c "psql -p $PG_PORT -tAc 'SELECT 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done

psql_admin() { su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -tAc \"$1\""; }

if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != "1" ]; then
  psql_admin "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" >&2
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != "1" ]; then
  psql_admin "CREATE DATABASE $PG_DB OWNER $PG_USER" >&2
fi
# The role-grant tests make roles of their own.
psql_admin "ALTER ROLE $PG_USER CREATEROLE" >&2
# Tests create a private schema each; the role needs CREATE on the database.
psql_admin "GRANT ALL PRIVILEGES ON DATABASE $PG_DB TO $PG_USER" >&2

echo "export ENDOTRIAL_TEST_POSTGRES_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
