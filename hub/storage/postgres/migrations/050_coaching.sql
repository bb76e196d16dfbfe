-- Coaching (cardiovascular prevention): the coaching team's roles, goals agreed with the
-- participant, and scheduled calls with their notes.

-- Coaching roles beside the clinical ones: nurse, dietitian-nutritionist, psychologist, tobacco
-- specialist and adapted-physical-activity educator (the French cardiovascular coaching teams).
ALTER TABLE care_team_members DROP CONSTRAINT care_team_members_role_check;
ALTER TABLE care_team_members ADD CONSTRAINT care_team_members_role_check CHECK (role IN (
  'coordinating_nurse', 'oncologist', 'cardiologist', 'general_practitioner', 'pharmacist', 'home_nurse',
  'coaching_nurse', 'dietitian', 'psychologist', 'tobacco_specialist', 'physical_activity_coach'));

CREATE TABLE coaching_goals (
  id          bigserial PRIMARY KEY,
  patient_id  text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('steps_per_day', 'body_weight', 'systolic_bp', 'cigarettes_per_day')),
  baseline    double precision NOT NULL,
  target      double precision NOT NULL CHECK (target <> baseline),
  due_on      date NOT NULL,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'achieved', 'stopped')),
  note        text,
  set_by      text NOT NULL,
  set_at      timestamptz NOT NULL DEFAULT now(),
  closed_at   timestamptz
);
CREATE INDEX coaching_goals_patient ON coaching_goals (patient_id, status);

CREATE TABLE coaching_calls (
  id            bigserial PRIMARY KEY,
  patient_id    text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  coach_id      text NOT NULL REFERENCES professionals(id),
  channel       text NOT NULL CHECK (channel IN ('phone', 'video', 'sms', 'in_person')),
  scheduled_at  timestamptz NOT NULL,
  status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'done', 'missed', 'cancelled')),
  note          text,
  -- what the participant reported during the call (e.g. cigarettes per day), for goals no device measures
  reported      jsonb NOT NULL DEFAULT '{}',
  completed_at  timestamptz,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coaching_calls_coach ON coaching_calls (coach_id, scheduled_at);
CREATE INDEX coaching_calls_patient ON coaching_calls (patient_id, scheduled_at);
