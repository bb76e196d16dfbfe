#!/bin/sh
# First start of the PostgreSQL container only (docker-entrypoint-initdb.d): the login Grafana's
# data source uses. It is a member of vigil_grafana, which hub migration 030 grants SELECT on the
# grafana.* views and nothing else.
set -eu
: "${GRAFANA_PG_READER_PASSWORD:?set GRAFANA_PG_READER_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v reader_password="$GRAFANA_PG_READER_PASSWORD" <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    CREATE ROLE vigil_grafana NOLOGIN;
  END IF;
END
$$;
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password' IN ROLE vigil_grafana;
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
SQL
