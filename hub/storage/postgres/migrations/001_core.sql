-- Vigil hub core schema. Patients are identified by pseudonymous ids; names live only here.

CREATE TABLE programs (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL DEFAULT ''
);
INSERT INTO programs (id, name, description) VALUES
  ('oral_chemotherapy', 'Oral chemotherapy follow-up', 'Fever and toxicity watched by a coordinating nurse, oncologist, GP and pharmacist'),
  ('cardiovascular_prevention', 'Cardiovascular prevention', 'Home blood pressure and activity follow-up'),
  ('heart_failure', 'Heart failure', 'Daily weight, blood pressure and symptoms');

CREATE TABLE patients (
  id                   text PRIMARY KEY,
  program_id           text NOT NULL REFERENCES programs(id),
  display_name         text NOT NULL,
  birth_year           integer CHECK (birth_year BETWEEN 1900 AND 2100),
  chronic_lung_disease boolean NOT NULL DEFAULT false,
  created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateways (
  id              text PRIMARY KEY,
  -- the household's main patient: readings without a user index go there
  patient_id      text REFERENCES patients(id),
  credential_hash text,
  revoked_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_seen_at    timestamptz,
  online          boolean NOT NULL DEFAULT false
);

-- Which patient a device (and, on multi-user devices, which user slot) belongs to.
CREATE TABLE device_bindings (
  id          bigserial PRIMARY KEY,
  gateway_id  text NOT NULL REFERENCES gateways(id),
  address     text NOT NULL,
  driver      text,
  user_index  integer,
  patient_id  text NOT NULL REFERENCES patients(id),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX device_bindings_slot ON device_bindings (gateway_id, address, coalesce(user_index, -1));

-- Every reading id the hub has accepted: exactly-once filing across retries and hub instances.
-- measured_at of the first copy is canonical, so a re-sent reading overwrites the same point.
CREATE TABLE reading_ledger (
  reading_id     text PRIMARY KEY,
  patient_id     text NOT NULL REFERENCES patients(id),
  gateway_id     text NOT NULL,
  device_address text NOT NULL,
  driver         text NOT NULL,
  metric         text NOT NULL,
  value          double precision NOT NULL,
  unit           text NOT NULL,
  measured_at    timestamptz NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  stored_at      timestamptz
);
CREATE INDEX reading_ledger_patient_metric_time ON reading_ledger (patient_id, metric, measured_at);

-- Readings whose device or user is not bound to a patient: kept, listed, assignable later.
CREATE TABLE quarantined_readings (
  reading_id     text PRIMARY KEY,
  gateway_id     text NOT NULL,
  device_address text NOT NULL,
  driver         text NOT NULL,
  user_index     integer,
  metric         text NOT NULL,
  reading        jsonb NOT NULL,
  reason         text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  assigned_patient_id text REFERENCES patients(id),
  assigned_at    timestamptz
);

-- Payloads or readings that failed validation, with the stable error code.
CREATE TABLE dead_letters (
  id          bigserial PRIMARY KEY,
  gateway_id  text,
  topic       text NOT NULL,
  code        text NOT NULL,
  reason      text NOT NULL,
  payload     text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_episodes (
  id              bigserial PRIMARY KEY,
  patient_id      text NOT NULL REFERENCES patients(id),
  rule_id         text NOT NULL,
  severity        text NOT NULL CHECK (severity IN ('amber', 'red')),
  status          text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
  opened_at       timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  resolved_at     timestamptz,
  assignee        text,
  breach_count    integer NOT NULL DEFAULT 1,
  last_value      jsonb,
  trigger_reading_ids text[] NOT NULL DEFAULT '{}'
);
-- One open episode per patient x rule, enforced atomically (ThingsBoard #2986, #5652).
CREATE UNIQUE INDEX alert_episodes_one_open ON alert_episodes (patient_id, rule_id) WHERE status <> 'resolved';

CREATE TABLE professionals (
  id           text PRIMARY KEY,
  display_name text NOT NULL,
  role         text NOT NULL,
  token_hash   text UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  actor     text NOT NULL,
  action    text NOT NULL,
  entity    text NOT NULL,
  entity_id text,
  detail    jsonb NOT NULL DEFAULT '{}'
);
