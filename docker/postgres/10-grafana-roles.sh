#!/bin/sh
# First start of the PostgreSQL container only (docker-entrypoint-initdb.d): the roles of the
# Grafana path (docs/security.md "Grafana").
# - vigil_grafana: group, no login; migration 030/210 grant it the grafana.* views and the columns
#   under them. Every professional's Grafana login is a member; row-level security (migration 210)
#   decides which rows each login sees. There is no shared Grafana login.
# - vigil_grafana_admin: the connection the hub uses to create, rotate and drop those logins
#   (CREATEROLE, ADMIN OPTION on vigil_grafana, no privilege on any table).
set -eu
: "${GRAFANA_PG_ROLE_ADMIN_PASSWORD:?set GRAFANA_PG_ROLE_ADMIN_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v admin_password="$GRAFANA_PG_ROLE_ADMIN_PASSWORD" <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    CREATE ROLE vigil_grafana NOLOGIN;
  END IF;
END
$$;
CREATE ROLE vigil_grafana_admin LOGIN CREATEROLE NOINHERIT PASSWORD :'admin_password';
GRANT vigil_grafana TO vigil_grafana_admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;
SQL
