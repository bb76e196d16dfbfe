-- Alert episode lifecycle (clinical-rules.md, "Alert engineering defaults"): hysteresis counter,
-- re-notification, escalation, silences, "please re-measure" state, notifications.
-- Times come from the hub's injectable clock, not from now(), so the lifecycle is testable.

ALTER TABLE alert_episodes
  ADD COLUMN normal_streak      integer NOT NULL DEFAULT 0,
  -- key of the last counted evaluation: the same evaluation seen by two hub instances counts once
  ADD COLUMN last_eval_key      text,
  ADD COLUMN last_notified_at   timestamptz,
  ADD COLUMN resolved_by        text,
  ADD COLUMN escalated_from     text,
  ADD COLUMN related_episode_ids bigint[] NOT NULL DEFAULT '{}',
  ADD COLUMN priority           text NOT NULL DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent', 'stat')),
  ADD COLUMN interpretations    jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN summary            text NOT NULL DEFAULT '';
CREATE INDEX alert_episodes_patient ON alert_episodes (patient_id, opened_at);
CREATE INDEX alert_episodes_active ON alert_episodes (status, severity) WHERE status <> 'resolved';

-- Per-patient silences with an expiry (hospital stay, holiday); rule_id NULL = every rule.
CREATE TABLE alert_silences (
  id          bigserial PRIMARY KEY,
  patient_id  text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  rule_id     text,
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
  reason      text NOT NULL,
  created_by  text NOT NULL,
  cancelled_at timestamptz
);
CREATE INDEX alert_silences_patient ON alert_silences (patient_id, ends_at);

-- Confirmed-threshold rules: a first out-of-range reading asks the patient to re-measure.
CREATE TABLE remeasure_requests (
  id           bigserial PRIMARY KEY,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  rule_id      text NOT NULL,
  reading_ids  text[] NOT NULL,
  value        jsonb NOT NULL,
  requested_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  status       text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cleared', 'expired')),
  closed_at    timestamptz
);
CREATE UNIQUE INDEX remeasure_one_pending ON remeasure_requests (patient_id, rule_id) WHERE status = 'pending';

-- One row per notification (opened, re-notified, escalated); delivered by webhooks at least once,
-- idempotency_key lets receivers dedup (alertmanager#4108).
CREATE TABLE notifications (
  id              bigserial PRIMARY KEY,
  episode_id      bigint NOT NULL REFERENCES alert_episodes(id),
  patient_id      text NOT NULL REFERENCES patients(id),
  kind            text NOT NULL CHECK (kind IN ('opened', 'renotified', 'escalated')),
  severity        text NOT NULL CHECK (severity IN ('amber', 'red')),
  recipient_roles text[] NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL
);
CREATE INDEX notifications_episode ON notifications (episode_id);

-- Scheduled jobs claimed atomically so N hub instances run each job once per period.
CREATE TABLE scheduler_jobs (
  job         text PRIMARY KEY,
  last_run_at timestamptz NOT NULL
);

-- Missing-data rule: last reading per patient and device.
CREATE INDEX reading_ledger_patient_device_time ON reading_ledger (patient_id, device_address, measured_at);
