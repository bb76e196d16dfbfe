-- Care teams, members with a role each, patients assigned to teams, and patient consent
-- (issue 5 item 3; clinical-rules.md "Access: care-team membership with a role per member, plus
-- patient consent, plus a full audit trail").

CREATE TABLE care_teams (
  id          text PRIMARY KEY,
  program_id  text NOT NULL REFERENCES programs(id),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A professional may sit in several teams, with a role per team.
CREATE TABLE care_team_members (
  care_team_id    text NOT NULL REFERENCES care_teams(id) ON DELETE CASCADE,
  professional_id text NOT NULL REFERENCES professionals(id) ON DELETE CASCADE,
  role            text NOT NULL CHECK (role IN ('coordinating_nurse', 'oncologist', 'cardiologist', 'general_practitioner', 'pharmacist', 'home_nurse')),
  added_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (care_team_id, professional_id)
);
CREATE INDEX care_team_members_professional ON care_team_members (professional_id);

CREATE TABLE care_team_patients (
  care_team_id text NOT NULL REFERENCES care_teams(id) ON DELETE CASCADE,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  added_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (care_team_id, patient_id)
);
CREATE INDEX care_team_patients_patient ON care_team_patients (patient_id);

-- Which professionals the patient accepted. A revoked consent is kept (revoked_at) for the record.
CREATE TABLE patient_consents (
  patient_id      text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  professional_id text NOT NULL REFERENCES professionals(id) ON DELETE CASCADE,
  granted_at      timestamptz NOT NULL DEFAULT now(),
  recorded_by     text NOT NULL,
  revoked_at      timestamptz,
  PRIMARY KEY (patient_id, professional_id)
);

CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
