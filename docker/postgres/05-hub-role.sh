#!/bin/sh
# First start of the PostgreSQL container only (docker-entrypoint-initdb.d): the hub connects as
# vigil_hub, a least-privilege role (no superuser, no CREATEDB, no CREATEROLE) that owns the vigil
# database and its public schema (it applies the migrations). TLS only: plain host connections
# are refused (hostssl), and the hub verifies the server certificate (sslmode=verify-full).
set -eu
: "${POSTGRES_HUB_PASSWORD:?set POSTGRES_HUB_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v hub_password="$POSTGRES_HUB_PASSWORD" <<'SQL'
CREATE ROLE vigil_hub LOGIN PASSWORD :'hub_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER DATABASE vigil OWNER TO vigil_hub;
ALTER SCHEMA public OWNER TO vigil_hub;
SQL
sed -i 's/^host all all all /hostssl all all all /' "$PGDATA/pg_hba.conf"
