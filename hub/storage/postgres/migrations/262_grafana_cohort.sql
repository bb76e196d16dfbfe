-- Cohort board (dashboards/boards/cohort.ts): per program, care team and calendar month (UTC),
-- pseudonymised aggregates only: no patient id leaves this view. Measures as in the program
-- report (hub/reporting/cohort-report.ts): enrolled (in the team before the month ends), active
-- (a reading in the month), adherence (days with a reading / days followed in the month, mean over
-- patients), episodes per patient-month, median minutes to acknowledge the month's episodes.
-- Small cells: when fewer than 5 patients are enrolled, every figure but `enrolled` is NULL and
-- `masked` is true (the French small-cell rule the report applies, MIN_CELL).
-- Materialised: the figures cost a pass over the reading ledger, too much for every board load
-- (bench/cohort-board.ts); the hub refreshes it hourly (hub/reporting/cohort-refresh.ts), so the
-- current month lags by up to an hour. The unique index lets the refresh run CONCURRENTLY
-- (readers are never blocked).
-- Depends on 001, 002 (care teams) and 004 (acknowledged_at).

CREATE MATERIALIZED VIEW grafana.cohort_monthly AS
WITH members AS (
  SELECT t.program_id, t.id AS care_team_id, t.name AS care_team_name, p.id AS pid, p.created_at AS enrolled
  FROM care_teams t
  JOIN care_team_patients ctp ON ctp.care_team_id = t.id
  JOIN patients p ON p.id = ctp.patient_id
),
months AS (
  SELECT DISTINCT m.care_team_id, (gs AT TIME ZONE 'UTC') AS month_start
  FROM members m,
       generate_series(date_trunc('month', m.enrolled AT TIME ZONE 'UTC'),
                       date_trunc('month', now() AT TIME ZONE 'UTC'), interval '1 month') gs
),
followed AS (
  SELECT m.program_id, m.care_team_id, m.care_team_name, mo.month_start, m.pid,
         greatest(mo.month_start, m.enrolled) AS f_start,
         least(((mo.month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC', now()) AS f_end
  FROM months mo
  JOIN members m ON m.care_team_id = mo.care_team_id
  WHERE m.enrolled < ((mo.month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
),
-- one pass over the ledger and the episodes, per patient and month (from enrollment on)
daily AS (
  SELECT r.patient_id, date_trunc('month', r.measured_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month_start,
         count(DISTINCT (r.measured_at AT TIME ZONE 'UTC')::date) AS days_with_data
  FROM reading_ledger r
  JOIN patients p ON p.id = r.patient_id
  WHERE r.metric <> 'battery_level' AND r.measured_at >= p.created_at AND r.measured_at < now()
    AND EXISTS (SELECT 1 FROM care_team_patients ctp WHERE ctp.patient_id = r.patient_id)
  GROUP BY 1, 2
),
opened AS (
  SELECT e.patient_id, date_trunc('month', e.opened_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month_start,
         count(*) AS episodes
  FROM alert_episodes e
  JOIN patients p ON p.id = e.patient_id
  WHERE e.opened_at >= p.created_at AND e.opened_at < now()
  GROUP BY 1, 2
),
per_patient AS (
  SELECT f.program_id, f.care_team_id, f.care_team_name, f.month_start,
         greatest(ceil(extract(epoch FROM (f.f_end - f.f_start)) / 86400), 1) AS days_followed,
         extract(epoch FROM (f.f_end - f.f_start)) / 86400 AS days_exact,
         coalesce(d.days_with_data, 0) AS days_with_data,
         coalesce(o.episodes, 0) AS episodes
  FROM followed f
  LEFT JOIN daily d ON d.patient_id = f.pid AND d.month_start = f.month_start
  LEFT JOIN opened o ON o.patient_id = f.pid AND o.month_start = f.month_start
),
acks AS (
  SELECT f.care_team_id, f.month_start,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM (e.acknowledged_at - e.opened_at)) / 60) AS median_min
  FROM followed f
  JOIN alert_episodes e ON e.patient_id = f.pid AND e.opened_at >= f.f_start AND e.opened_at < f.f_end
  WHERE e.acknowledged_at IS NOT NULL
  GROUP BY f.care_team_id, f.month_start
),
agg AS (
  SELECT program_id, care_team_id, care_team_name, month_start,
         count(*)::integer AS enrolled,
         count(*) FILTER (WHERE days_with_data > 0)::integer AS active,
         avg(100.0 * least(days_with_data, days_followed) / days_followed) AS adherence_pct,
         sum(days_exact) / 30.4375 AS patient_months,
         sum(episodes)::integer AS episodes
  FROM per_patient
  GROUP BY program_id, care_team_id, care_team_name, month_start
)
SELECT a.program_id,
       a.care_team_id,
       a.care_team_name,
       a.month_start AS month,
       a.enrolled,
       a.enrolled < 5 AS masked,
       CASE WHEN a.enrolled >= 5 THEN a.active END AS active,
       CASE WHEN a.enrolled >= 5 THEN round(a.adherence_pct::numeric, 1)::double precision END AS adherence_pct,
       CASE WHEN a.enrolled >= 5 THEN round(a.patient_months::numeric, 2)::double precision END AS patient_months,
       CASE WHEN a.enrolled >= 5 THEN a.episodes END AS episodes,
       CASE WHEN a.enrolled >= 5 AND a.patient_months > 0
            THEN round((a.episodes / a.patient_months)::numeric, 3)::double precision END AS episodes_per_patient_month,
       CASE WHEN a.enrolled >= 5 THEN round(k.median_min::numeric, 1)::double precision END AS median_minutes_to_acknowledge
FROM agg a
LEFT JOIN acks k ON k.care_team_id = a.care_team_id AND k.month_start = a.month_start;

CREATE UNIQUE INDEX cohort_monthly_team_month ON grafana.cohort_monthly (care_team_id, month);
-- the materialised view is a table to GRANT: the boards' role reads it like the views
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_grafana') THEN
    GRANT SELECT ON grafana.cohort_monthly TO vigil_grafana;
  END IF;
END $$;
