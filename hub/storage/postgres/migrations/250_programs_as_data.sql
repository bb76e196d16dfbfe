-- Programs as data (issue 16 item 1, docs/programs.md): a program's definition (metrics, rules and
-- thresholds, questionnaires, content, roles and what each sees, enrollment, duration) is a JSON
-- document validated by hub/programs/definition.ts. Every change is a new immutable version; a
-- patient is enrolled under the version current at enrollment; programs are retired, never deleted.

ALTER TABLE programs
  ADD COLUMN current_version integer,
  ADD COLUMN retired_at      timestamptz,
  ADD COLUMN retired_by      text,
  ADD COLUMN created_at      timestamptz NOT NULL DEFAULT now();

CREATE TABLE program_versions (
  program_id  text NOT NULL REFERENCES programs(id),
  version     integer NOT NULL CHECK (version >= 1),
  definition  jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL,
  PRIMARY KEY (program_id, version)
);

-- What each role of a program may see, from its current version: the authorization's SQL reads
-- this table (hub/api/authz.ts), so a new role or a narrower view applies without a release.
CREATE TABLE program_role_grants (
  program_id  text NOT NULL REFERENCES programs(id),
  role        text NOT NULL,
  capability  text NOT NULL,
  PRIMARY KEY (program_id, role, capability)
);
CREATE INDEX program_role_grants_role ON program_role_grants (role, capability);

-- The version a patient was enrolled under (kept when the program moves on: the record says which
-- protocol applied when).
ALTER TABLE patients ADD COLUMN program_version integer;

-- Care roles are data now: a program may define a role (e.g. an addiction counsellor); the API
-- checks the role against the team's program definition (hub/admin/provisioning.ts).
ALTER TABLE care_team_members DROP CONSTRAINT care_team_members_role_check;
ALTER TABLE care_team_members ADD CONSTRAINT care_team_members_role_format CHECK (role ~ '^[a-z][a-z0-9_]{2,62}$' AND role <> 'admin');

-- The built-in programs as version 1: their rules (those the catalog applied to them), the
-- program settings set so far (rule_settings), the built-in roles with the matrix's view.
CREATE TEMPORARY TABLE seed_programs (id text PRIMARY KEY, definition jsonb NOT NULL) ON COMMIT DROP;
INSERT INTO seed_programs (id, definition) VALUES
('oral_chemotherapy', '{"id":"oral_chemotherapy","name":"Oral chemotherapy follow-up","description":"Fever and toxicity watched by a coordinating nurse, oncologist, GP and pharmacist","metrics":["body_temperature","spo2","heart_rate","blood_pressure_systolic","blood_pressure_diastolic","body_weight","glucose","steps"],"deviceKinds":["thermometer","pulse_oximeter","blood_pressure","weight_scale","glucose_meter","activity_tracker"],"rules":{"spo2-low":{"enabled":true,"params":{}},"sepsis-red-flags":{"enabled":true,"params":{}},"missing-data":{"enabled":true,"params":{}},"bp-hypertensive-crisis":{"enabled":true,"params":{}},"bp-grade-3":{"enabled":true,"params":{}},"chemo-fever":{"enabled":true,"params":{}},"chemo-activity-decline":{"enabled":true,"params":{}},"glucose-out-of-range":{"enabled":true,"params":{}},"home-early-warning":{"enabled":true,"params":{}},"adherence-days-30":{"enabled":true,"params":{}}},"questionnaires":[{"id":"oral-chemo-weekly","everyDays":7,"onEnrollment":false}],"content":{"articles":[],"tags":["oral_chemotherapy"]},"roles":[{"id":"coordinating_nurse","kind":"clinical","label":"Coordinating nurse","sees":["alerts","alerts_triage","readings","trends","rules","coaching","coaching_write","messages","questionnaires"]},{"id":"oncologist","kind":"clinical","label":"Oncologist","sees":["alerts","alerts_triage","readings","trends","rules","messages","questionnaires"]},{"id":"cardiologist","kind":"clinical","label":"Cardiologist","sees":["alerts","alerts_triage","readings","trends","rules","coaching","messages","questionnaires"]},{"id":"general_practitioner","kind":"clinical","label":"General practitioner","sees":["alerts","trends","rules","coaching","messages","questionnaires"]},{"id":"pharmacist","kind":"clinical","label":"Pharmacist","sees":["alerts","trends","rules","messages","questionnaires"]},{"id":"home_nurse","kind":"clinical","label":"Home nurse","sees":["alerts","readings","trends","rules","messages","questionnaires"]},{"id":"coaching_nurse","kind":"coaching","label":"Coaching nurse","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"dietitian","kind":"coaching","label":"Dietitian-nutritionist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"psychologist","kind":"coaching","label":"Psychologist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"tobacco_specialist","kind":"coaching","label":"Tobacco specialist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"physical_activity_coach","kind":"coaching","label":"Adapted physical activity educator","sees":["coaching","coaching_write","messages","questionnaires"]}],"enrollment":{"criteria":[]},"durationDays":null}'),
('cardiovascular_prevention', '{"id":"cardiovascular_prevention","name":"Cardiovascular prevention","description":"Home blood pressure and activity follow-up","metrics":["blood_pressure_systolic","blood_pressure_diastolic","heart_rate","body_weight","glucose","steps","spo2","body_temperature"],"deviceKinds":["blood_pressure","weight_scale","glucose_meter","activity_tracker"],"rules":{"spo2-low":{"enabled":true,"params":{}},"sepsis-red-flags":{"enabled":true,"params":{}},"missing-data":{"enabled":true,"params":{}},"bp-home-mean-7d":{"enabled":true,"params":{}},"bp-hypertensive-crisis":{"enabled":true,"params":{}},"bp-grade-3":{"enabled":true,"params":{}},"glucose-out-of-range":{"enabled":true,"params":{}},"home-early-warning":{"enabled":true,"params":{}},"adherence-days-30":{"enabled":true,"params":{}}},"questionnaires":[{"id":"cardio-risk","everyDays":null,"onEnrollment":false}],"content":{"articles":[],"tags":["cardiovascular_prevention"]},"roles":[{"id":"coordinating_nurse","kind":"clinical","label":"Coordinating nurse","sees":["alerts","alerts_triage","readings","trends","rules","coaching","coaching_write","messages","questionnaires"]},{"id":"oncologist","kind":"clinical","label":"Oncologist","sees":["alerts","alerts_triage","readings","trends","rules","messages","questionnaires"]},{"id":"cardiologist","kind":"clinical","label":"Cardiologist","sees":["alerts","alerts_triage","readings","trends","rules","coaching","messages","questionnaires"]},{"id":"general_practitioner","kind":"clinical","label":"General practitioner","sees":["alerts","trends","rules","coaching","messages","questionnaires"]},{"id":"pharmacist","kind":"clinical","label":"Pharmacist","sees":["alerts","trends","rules","messages","questionnaires"]},{"id":"home_nurse","kind":"clinical","label":"Home nurse","sees":["alerts","readings","trends","rules","messages","questionnaires"]},{"id":"coaching_nurse","kind":"coaching","label":"Coaching nurse","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"dietitian","kind":"coaching","label":"Dietitian-nutritionist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"psychologist","kind":"coaching","label":"Psychologist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"tobacco_specialist","kind":"coaching","label":"Tobacco specialist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"physical_activity_coach","kind":"coaching","label":"Adapted physical activity educator","sees":["coaching","coaching_write","messages","questionnaires"]}],"enrollment":{"criteria":[]},"durationDays":null}'),
('heart_failure', '{"id":"heart_failure","name":"Heart failure","description":"Daily weight, blood pressure and symptoms","metrics":["body_weight","blood_pressure_systolic","blood_pressure_diastolic","heart_rate","spo2","body_temperature","glucose","steps"],"deviceKinds":["weight_scale","blood_pressure","pulse_oximeter","thermometer"],"rules":{"spo2-low":{"enabled":true,"params":{}},"sepsis-red-flags":{"enabled":true,"params":{}},"missing-data":{"enabled":true,"params":{}},"bp-hypertensive-crisis":{"enabled":true,"params":{}},"bp-grade-3":{"enabled":true,"params":{}},"hf-weight-gain-3d":{"enabled":true,"params":{}},"hf-weight-gain-day-week":{"enabled":true,"params":{}},"hf-weight-loss-2d":{"enabled":true,"params":{}},"glucose-out-of-range":{"enabled":true,"params":{}},"home-early-warning":{"enabled":true,"params":{}},"adherence-days-30":{"enabled":true,"params":{}}},"questionnaires":[],"content":{"articles":[],"tags":["heart_failure"]},"roles":[{"id":"coordinating_nurse","kind":"clinical","label":"Coordinating nurse","sees":["alerts","alerts_triage","readings","trends","rules","coaching","coaching_write","messages","questionnaires"]},{"id":"oncologist","kind":"clinical","label":"Oncologist","sees":["alerts","alerts_triage","readings","trends","rules","messages","questionnaires"]},{"id":"cardiologist","kind":"clinical","label":"Cardiologist","sees":["alerts","alerts_triage","readings","trends","rules","coaching","messages","questionnaires"]},{"id":"general_practitioner","kind":"clinical","label":"General practitioner","sees":["alerts","trends","rules","coaching","messages","questionnaires"]},{"id":"pharmacist","kind":"clinical","label":"Pharmacist","sees":["alerts","trends","rules","messages","questionnaires"]},{"id":"home_nurse","kind":"clinical","label":"Home nurse","sees":["alerts","readings","trends","rules","messages","questionnaires"]},{"id":"coaching_nurse","kind":"coaching","label":"Coaching nurse","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"dietitian","kind":"coaching","label":"Dietitian-nutritionist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"psychologist","kind":"coaching","label":"Psychologist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"tobacco_specialist","kind":"coaching","label":"Tobacco specialist","sees":["coaching","coaching_write","messages","questionnaires"]},{"id":"physical_activity_coach","kind":"coaching","label":"Adapted physical activity educator","sees":["coaching","coaching_write","messages","questionnaires"]}],"enrollment":{"criteria":[]},"durationDays":null}');

UPDATE seed_programs s SET definition = jsonb_set(s.definition, '{rules}', (s.definition -> 'rules') || agg.rules)
FROM (SELECT program_id, jsonb_object_agg(rule_id, jsonb_build_object('enabled', enabled, 'params', params)) AS rules
      FROM rule_settings GROUP BY program_id) agg
WHERE agg.program_id = s.id;

INSERT INTO program_versions (program_id, version, definition, created_by, reason)
SELECT s.id, 1, s.definition || jsonb_build_object('name', p.name, 'description', p.description), 'migration', 'built-in program seeded as data'
FROM seed_programs s JOIN programs p ON p.id = s.id;
UPDATE programs SET current_version = 1 WHERE id IN (SELECT id FROM seed_programs);
UPDATE patients SET program_version = 1;

INSERT INTO program_role_grants (program_id, role, capability)
SELECT DISTINCT v.program_id, r ->> 'id', c.capability
FROM program_versions v
CROSS JOIN LATERAL jsonb_array_elements(v.definition -> 'roles') r
CROSS JOIN LATERAL (
  SELECT 'patients.read' AS capability
  UNION ALL
  SELECT CASE s #>> '{}'
    WHEN 'alerts' THEN 'alerts.read' WHEN 'alerts_triage' THEN 'alerts.triage' WHEN 'readings' THEN 'readings.read'
    WHEN 'trends' THEN 'trends.read' WHEN 'rules' THEN 'rules.read' WHEN 'messages' THEN 'messages.use'
    WHEN 'questionnaires' THEN 'questionnaires.read' WHEN 'coaching' THEN 'coaching.read'
    WHEN 'coaching_write' THEN 'coaching.write' END
  FROM jsonb_array_elements(r -> 'sees') s
) c;

-- A version is never changed nor deleted: a change is a new version.
CREATE FUNCTION vigil_program_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'PROGRAM_VERSION_IMMUTABLE: program versions are never changed; create a new version';
END $$;
CREATE TRIGGER program_versions_immutable BEFORE UPDATE OR DELETE ON program_versions
  FOR EACH ROW EXECUTE FUNCTION vigil_program_version_immutable();
