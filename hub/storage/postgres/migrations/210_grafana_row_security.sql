-- Grafana's PostgreSQL data sources are access control, not a narrowing by login
-- (docs/security.md "Grafana"; replaces the login filter of 031). Each professional's Grafana
-- organisation logs in with its own PostgreSQL role (hub/security/grafana-postgres-scopes.ts),
-- a member of vigil_grafana. The rows such a role can read are decided here by row-level
-- security on the tables under the grafana.* views, with the API's role x team x consent rules:
-- - the grafana.* views run with the reader's rights (security_invoker), so the policies of the
--   tables below apply to the Grafana role itself, whoever owns the views;
-- - ENABLE, not FORCE: a Grafana role never owns a table and reads through views that run with
--   its own rights, so the policies always apply to it; FORCE would only subject the tables'
--   owner (the hub), whose backups then break (pg_dump refuses tables whose rows RLS would
--   filter for a role that cannot bypass it, and COPY FROM refuses RLS tables on restore);
-- - a hub role that is not the owner keeps every row (vigil_hub_all); a Grafana role sees its
--   scope (vigil_grafana_scope);
-- - the scope functions start empty (fail closed) and the hub writes their bodies from
--   hub/api/authz.ts (patientScopeSql, can) so both paths share one definition of the rules.
-- Depends on 001, 002, 030, 031, 200.

CREATE SCHEMA IF NOT EXISTS grafana_access;

-- One row per professional that has a Grafana role (written by the hub's sync).
CREATE TABLE grafana_access.scope_roles (
  role_name       text PRIMARY KEY,
  professional_id text NOT NULL UNIQUE REFERENCES professionals(id) ON DELETE CASCADE,
  generation      integer NOT NULL DEFAULT 1,
  -- SHA-256 of the password last set: the password is set again only when it changes
  password_check  text,
  synced_at       timestamptz NOT NULL DEFAULT now()
);

-- Is the current role a Grafana reader? (vigil_grafana or a member of it). current_user, not
-- session_user: inside the SECURITY DEFINER scope functions the hub's own reads stay unrestricted.
-- A Grafana login may SET ROLE only to vigil_grafana, which is restricted too.
CREATE FUNCTION grafana_access.restricted() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_roles g
    WHERE g.rolname = 'vigil_grafana' AND pg_catalog.pg_has_role(current_user, g.oid, 'USAGE'))
$$;

-- The patients the signed-in Grafana login (session_user) may see for an API capability.
-- Placeholder until the hub's first sync: nothing (fail closed).
CREATE FUNCTION grafana_access.scope_patients(cap text) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT NULL::text WHERE false
$$;

-- What narrows a capability within a patient (the pharmacist: treatment metrics, treatment rules);
-- NULL when nothing does. Placeholder: an empty list (fail closed).
CREATE FUNCTION grafana_access.scope_only(cap text) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT '{}'::text[]
$$;

-- EXECUTE stays with PUBLIC: PostgreSQL checks it for every role whose query meets a policy,
-- the hub included, and the functions answer only for the session's own login (empty otherwise).
REVOKE ALL ON TABLE grafana_access.scope_roles FROM PUBLIC;

-- Policies: the hub (not a Grafana role) keeps every row and every write; a Grafana role reads
-- the rows of its scope and writes nothing. The restricted() calls are InitPlans (once a query).
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT * FROM (VALUES
      ('patients',        $p$(id IN (SELECT grafana_access.scope_patients('trends.read'))
                              OR id IN (SELECT grafana_access.scope_patients('alerts.read')))$p$),
      ('reading_ledger',  $p$(patient_id IN (SELECT grafana_access.scope_patients('trends.read'))
                              AND ((SELECT grafana_access.scope_only('trends.read')) IS NULL OR metric = ANY ((SELECT grafana_access.scope_only('trends.read'))::text[])))$p$),
      ('alert_episodes',  $p$(patient_id IN (SELECT grafana_access.scope_patients('alerts.read'))
                              AND ((SELECT grafana_access.scope_only('alerts.read')) IS NULL OR rule_id = ANY ((SELECT grafana_access.scope_only('alerts.read'))::text[])))$p$),
      ('gateways',        $p$(patient_id IN (SELECT grafana_access.scope_patients('devices.read')))$p$),
      ('device_bindings', $p$(patient_id IN (SELECT grafana_access.scope_patients('devices.read')))$p$)
    ) AS x(tbl, scoped)
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.tbl);
    EXECUTE format(
      'CREATE POLICY vigil_hub_all ON %I USING (NOT (SELECT grafana_access.restricted())) WITH CHECK (NOT (SELECT grafana_access.restricted()))',
      t.tbl);
    EXECUTE format(
      'CREATE POLICY vigil_grafana_scope ON %I FOR SELECT USING ((SELECT grafana_access.restricted()) AND %s)',
      t.tbl, t.scoped);
  END LOOP;
END
$$;

-- The login filter views of 031 told every Grafana user every professional's scope: gone.
DROP VIEW grafana.professional_patients;
DROP VIEW grafana.professionals;

-- The views run with the reader's rights, so the policies above apply to the Grafana role.
DO $$
DECLARE
  v record;
BEGIN
  FOR v IN SELECT viewname FROM pg_views WHERE schemaname = 'grafana' LOOP
    EXECUTE format('ALTER VIEW grafana.%I SET (security_invoker = true, security_barrier = true)', v.viewname);
  END LOOP;
END
$$;

-- A view added later is readable by Grafana only once the hub's sync has checked that it runs
-- with the reader's rights (a view with its owner's rights would read every row): no default grant.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA grafana REVOKE SELECT ON TABLES FROM vigil_grafana;
    GRANT USAGE ON SCHEMA grafana_access TO vigil_grafana;
    -- the columns the grafana.* views read, nothing else (no names, birth years, credentials, values)
    GRANT SELECT (id, program_id) ON patients TO vigil_grafana;
    GRANT SELECT (id, name) ON programs TO vigil_grafana;
    GRANT SELECT (id, patient_id, rule_id, severity, status, opened_at, acknowledged_at, resolved_at, assignee, breach_count)
      ON alert_episodes TO vigil_grafana;
    GRANT SELECT (patient_id, gateway_id, metric, measured_at, received_at) ON reading_ledger TO vigil_grafana;
    GRANT SELECT (id, patient_id, online, revoked_at, last_seen_at, software_version, software_reported_at)
      ON gateways TO vigil_grafana;
    GRANT SELECT (gateway_id, patient_id) ON device_bindings TO vigil_grafana;
  ELSE
    RAISE NOTICE 'role vigil_grafana missing: Grafana reads nothing until it exists and migration 210 grants are applied';
  END IF;
END
$$;
