-- The cohort board follows the API's report rule (hub/api/routes/reports.ts, 'reports.read'):
-- a coordinating nurse sees her own care teams' aggregates, nobody else on Grafana sees any.
-- A materialised view cannot carry row-level security (PostgreSQL docs, "Row Security
-- Policies": policies apply to tables), so the aggregates (262) move out of Grafana's reach into
-- grafana_access, and grafana.cohort_monthly becomes a view with the reader's rights over a
-- SECURITY DEFINER function that returns only the rows of the signed-in login's teams (the login
-- is session_user, as for the scope functions of 210). The hub itself (not a Grafana login) keeps
-- every row. The board's SQL (dashboards/boards/cohort.ts) is unchanged.
-- Depends on 210 (grafana_access, scope_roles) and 262.

ALTER MATERIALIZED VIEW grafana.cohort_monthly SET SCHEMA grafana_access;
ALTER MATERIALIZED VIEW grafana_access.cohort_monthly RENAME TO cohort_monthly_all;
ALTER INDEX grafana_access.cohort_monthly_team_month RENAME TO cohort_monthly_all_team_month;
REVOKE ALL ON grafana_access.cohort_monthly_all FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    REVOKE ALL ON grafana_access.cohort_monthly_all FROM vigil_grafana;
  END IF;
END $$;

-- The rows the session's login may read: all of them for a role that is not a Grafana login (the
-- hub, its backups); for a Grafana login, the teams where its professional is an active
-- coordinating nurse (the only role besides admin with 'reports.read'; admins get no Grafana
-- login). Fail closed: any other login gets nothing.
CREATE FUNCTION grafana_access.cohort_for_login() RETURNS SETOF grafana_access.cohort_monthly_all
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT c.* FROM grafana_access.cohort_monthly_all c
  WHERE NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_roles g, pg_catalog.pg_roles me
          WHERE g.rolname = 'vigil_grafana' AND me.rolname = session_user
            -- as for row-level security itself, superusers and BYPASSRLS roles are not restricted
            -- (pg_has_role is true for a superuser whatever the role)
            AND NOT me.rolsuper AND NOT me.rolbypassrls
            AND pg_catalog.pg_has_role(session_user, g.oid, 'USAGE'))
     OR c.care_team_id IN (
          SELECT m.care_team_id
          FROM grafana_access.scope_roles s
          JOIN professionals p ON p.id = s.professional_id
          JOIN care_team_members m ON m.professional_id = p.id
          WHERE s.role_name = session_user
            AND p.role = 'coordinating_nurse'
            AND p.revoked_at IS NULL AND p.token_hash IS NOT NULL
            AND (p.token_expires_at IS NULL OR p.token_expires_at > now()))
$$;

CREATE VIEW grafana.cohort_monthly WITH (security_invoker = true) AS
  SELECT * FROM grafana_access.cohort_for_login();

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    GRANT SELECT ON grafana.cohort_monthly TO vigil_grafana;
  END IF;
END $$;
