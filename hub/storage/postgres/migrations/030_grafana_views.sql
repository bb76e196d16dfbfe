-- Read-only views for the Grafana boards (dashboards/README.md). Grafana's PostgreSQL data
-- source logs in as a member of vigil_grafana, which can read this schema and nothing else.
-- Grafana OSS has no per-data-source permissions (clinical-rules.md, "Access"), so these views
-- expose pseudonymous ids and programs only: no names, no birth years, no credentials.
-- Depends only on the tables of 001_core.sql.

CREATE SCHEMA grafana;

-- A patient as the boards show it: pseudonymous id and program.
CREATE VIEW grafana.patient_directory AS
SELECT p.id AS patient_id,
       p.program_id,
       pr.name AS program_name,
       p.id || ' (' || pr.name || ')' AS label
FROM patients p
JOIN programs pr ON pr.id = p.program_id;

CREATE VIEW grafana.programs AS
SELECT id AS program_id, name AS program_name FROM programs;

-- Alert episodes; ended_at is null while the episode is not resolved.
CREATE VIEW grafana.episodes AS
SELECT e.id AS episode_id,
       e.patient_id,
       p.program_id,
       e.rule_id,
       e.severity,
       e.status,
       e.opened_at,
       e.acknowledged_at,
       e.resolved_at AS ended_at,
       e.assignee,
       e.breach_count
FROM alert_episodes e
JOIN patients p ON p.id = e.patient_id;

-- Age of each patient's last measurement (rule 3/3b: no reading for 48 h / 72 h). Device
-- battery levels are not measurements of the patient and count neither here nor below.
CREATE VIEW grafana.last_reading AS
SELECT p.id AS patient_id,
       max(r.measured_at) AS last_reading_at,
       round((extract(epoch FROM now() - max(r.measured_at)) / 3600.0)::numeric, 1)::double precision AS last_reading_age_hours
FROM patients p
LEFT JOIN reading_ledger r ON r.patient_id = p.id AND r.metric <> 'battery_level'
GROUP BY p.id;

-- Days with data in the last 30 (UTC calendar days, today included): the figure programs
-- report on (clinical-rules.md notes: CPT 99454 wants >= 16 of 30).
CREATE VIEW grafana.adherence AS
SELECT p.id AS patient_id,
       count(DISTINCT (r.measured_at AT TIME ZONE 'UTC')::date)::integer AS days_with_data_30d,
       round(count(DISTINCT (r.measured_at AT TIME ZONE 'UTC')::date) * 100.0 / 30, 1)::double precision AS adherence_pct
FROM patients p
LEFT JOIN reading_ledger r
  ON r.patient_id = p.id
 AND r.metric <> 'battery_level'
 AND (r.measured_at AT TIME ZONE 'UTC')::date >= (now() AT TIME ZONE 'UTC')::date - 29
 AND r.measured_at <= now()
GROUP BY p.id;

-- The care team worklist: one row per patient. "Open" means not resolved (open or acknowledged).
CREATE VIEW grafana.worklist AS
SELECT d.patient_id,
       d.program_id,
       d.program_name,
       coalesce(e.red_open, 0)::integer AS red_open,
       coalesce(e.amber_open, 0)::integer AS amber_open,
       coalesce(e.unacknowledged, 0)::integer AS unacknowledged,
       l.last_reading_at,
       l.last_reading_age_hours,
       a.days_with_data_30d,
       a.adherence_pct
FROM grafana.patient_directory d
JOIN grafana.last_reading l ON l.patient_id = d.patient_id
JOIN grafana.adherence a ON a.patient_id = d.patient_id
LEFT JOIN (
  SELECT patient_id,
         count(*) FILTER (WHERE severity = 'red') AS red_open,
         count(*) FILTER (WHERE severity = 'amber') AS amber_open,
         count(*) FILTER (WHERE status = 'open') AS unacknowledged
  FROM alert_episodes
  WHERE status <> 'resolved'
  GROUP BY patient_id
) e ON e.patient_id = d.patient_id;

-- Home gateways: online state from the retained status topic, last contact.
CREATE VIEW grafana.fleet_gateways AS
SELECT g.id AS gateway_id,
       g.patient_id,
       p.program_id,
       g.online AND g.revoked_at IS NULL AS online,
       g.revoked_at IS NOT NULL AS revoked,
       g.last_seen_at,
       round((extract(epoch FROM now() - g.last_seen_at) / 60.0)::numeric, 1)::double precision AS last_seen_age_minutes,
       (SELECT count(*) FROM device_bindings b WHERE b.gateway_id = g.id)::integer AS devices_bound
FROM gateways g
LEFT JOIN patients p ON p.id = g.patient_id;

-- Readings as the hub received them (ingest rate by arrival time, not measurement time).
CREATE VIEW grafana.readings_received AS
SELECT received_at, gateway_id, metric FROM reading_ledger;

-- The read-only role. Roles are cluster-wide: create it once, tolerate a concurrent creator, and
-- do not fail the hub's start when its database user may not create roles (then an
-- administrator creates vigil_grafana and grants it SELECT on the grafana schema).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    BEGIN
      CREATE ROLE vigil_grafana NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE NOTICE 'role vigil_grafana not created (no CREATEROLE): create it and GRANT SELECT ON ALL TABLES IN SCHEMA grafana TO vigil_grafana';
        RETURN;
    END;
  END IF;
  GRANT USAGE ON SCHEMA grafana TO vigil_grafana;
  GRANT SELECT ON ALL TABLES IN SCHEMA grafana TO vigil_grafana;
  -- views added by later migrations (031-039) are readable too
  ALTER DEFAULT PRIVILEGES IN SCHEMA grafana GRANT SELECT ON TABLES TO vigil_grafana;
END
$$;
