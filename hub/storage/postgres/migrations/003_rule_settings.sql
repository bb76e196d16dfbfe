-- Rule settings per program and per-patient overrides with their history (who, when, old, new,
-- reason): clinical-rules.md "every threshold stays configurable per patient by the responsible
-- clinician, and every override is recorded". Params are validated by each rule's zod schema.

CREATE TABLE rule_settings (
  program_id  text NOT NULL REFERENCES programs(id),
  rule_id     text NOT NULL,
  enabled     boolean NOT NULL DEFAULT true,
  params      jsonb NOT NULL DEFAULT '{}',
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (program_id, rule_id)
);

-- The current override of one rule for one patient (partial params, merged over the program's).
CREATE TABLE rule_overrides (
  patient_id  text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  rule_id     text NOT NULL,
  enabled     boolean,
  params      jsonb NOT NULL DEFAULT '{}',
  set_by      text NOT NULL,
  set_at      timestamptz NOT NULL,
  reason      text NOT NULL,
  PRIMARY KEY (patient_id, rule_id)
);

-- Every change of a program setting or a patient override, old and new value.
CREATE TABLE rule_setting_changes (
  id          bigserial PRIMARY KEY,
  scope       text NOT NULL CHECK (scope IN ('program', 'patient')),
  program_id  text,
  patient_id  text,
  rule_id     text NOT NULL,
  actor       text NOT NULL,
  at          timestamptz NOT NULL,
  old_value   jsonb,
  new_value   jsonb,
  reason      text NOT NULL
);
CREATE INDEX rule_setting_changes_patient ON rule_setting_changes (patient_id, rule_id, at);
