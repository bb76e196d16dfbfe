-- Questionnaires as data (FHIR R4 Questionnaire / QuestionnaireResponse), schedules and reminders.
CREATE TABLE questionnaire_assignments (
  id               bigserial PRIMARY KEY,
  patient_id       text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  questionnaire_id text NOT NULL,
  every_days       integer CHECK (every_days IS NULL OR every_days > 0),
  next_due_at      timestamptz NOT NULL,
  last_reminded_at timestamptz,
  reminders_sent   integer NOT NULL DEFAULT 0,
  assigned_by      text NOT NULL,
  active           boolean NOT NULL DEFAULT true,
  UNIQUE (patient_id, questionnaire_id)
);
CREATE INDEX questionnaire_assignments_due ON questionnaire_assignments (next_due_at) WHERE active;

CREATE TABLE questionnaire_responses (
  id               bigserial PRIMARY KEY,
  patient_id       text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  questionnaire_id text NOT NULL,
  author_kind      text NOT NULL CHECK (author_kind IN ('patient', 'caregiver', 'professional')),
  author_id        text NOT NULL,
  resource         jsonb NOT NULL,
  outcome          jsonb NOT NULL,
  episode_id       bigint REFERENCES alert_episodes(id),
  authored_at      timestamptz NOT NULL
);
CREATE INDEX questionnaire_responses_patient ON questionnaire_responses (patient_id, authored_at);
