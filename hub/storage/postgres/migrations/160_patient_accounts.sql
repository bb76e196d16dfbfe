-- The patient's side (issue 13): patient and caregiver (aidant) accounts, password-less sign-in,
-- sessions of the patient space. Codes and session tokens are kept as hashes only.

-- Contact details the patient (or the nurse at enrolment) chose for sign-in codes and reminders.
CREATE TABLE patient_accounts (
  patient_id   text PRIMARY KEY REFERENCES patients(id) ON DELETE CASCADE,
  email        text,
  phone        text,
  locale       text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
  -- quiet hours in Europe/Paris local time: non-urgent messages wait until the end
  quiet_start  smallint NOT NULL DEFAULT 21 CHECK (quiet_start BETWEEN 0 AND 23),
  quiet_end    smallint NOT NULL DEFAULT 8 CHECK (quiet_end BETWEEN 0 AND 23),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A caregiver the patient granted access to her space; revoked_at ends it (kept for the record).
CREATE TABLE caregivers (
  id           text PRIMARY KEY,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  display_name text NOT NULL,
  email        text,
  phone        text,
  granted_at   timestamptz NOT NULL DEFAULT now(),
  granted_by   text NOT NULL,
  revoked_at   timestamptz,
  revoked_by   text
);
CREATE INDEX caregivers_patient ON caregivers (patient_id);

-- One-time sign-in codes (e-mail, SMS) and printed QR codes; single use, expiring, attempts counted.
CREATE TABLE signin_codes (
  id           bigserial PRIMARY KEY,
  subject_kind text NOT NULL CHECK (subject_kind IN ('patient', 'caregiver')),
  subject_id   text NOT NULL,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'qr')),
  code_hash    text NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  attempts     integer NOT NULL DEFAULT 0,
  issued_by    text NOT NULL
);
CREATE INDEX signin_codes_subject ON signin_codes (subject_kind, subject_id, created_at);
CREATE UNIQUE INDEX signin_codes_qr ON signin_codes (code_hash) WHERE channel = 'qr';

CREATE TABLE portal_sessions (
  token_hash   text PRIMARY KEY,
  subject_kind text NOT NULL CHECK (subject_kind IN ('patient', 'caregiver')),
  subject_id   text NOT NULL,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);
CREATE INDEX portal_sessions_subject ON portal_sessions (subject_kind, subject_id);

-- What each professional the patient consented to may see; NULL = everything the role allows
-- (the consent row itself stays in patient_consents, the trust rules of issue 5 apply).
ALTER TABLE patient_consents ADD COLUMN IF NOT EXISTS patient_scope text[];
