-- Secure messaging (issue 13 item 3). Bodies, subjects, file names and attachment bytes are
-- encrypted by the application (AES-256-GCM, hub/messaging/kms.ts): the database never holds them
-- in clear. key_id names the key that sealed the row (rotation).
CREATE TABLE message_threads (
  id           bigserial PRIMARY KEY,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  -- 'patient': patient (or caregiver) <-> care team; 'team': care-team-internal about the patient
  kind         text NOT NULL CHECK (kind IN ('patient', 'team')),
  subject_enc  bytea NOT NULL,
  key_id       text NOT NULL,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL,
  last_message_at timestamptz NOT NULL
);
CREATE INDEX message_threads_patient ON message_threads (patient_id, last_message_at);

CREATE TABLE messages (
  id           bigserial PRIMARY KEY,
  thread_id    bigint NOT NULL REFERENCES message_threads(id) ON DELETE CASCADE,
  author_kind  text NOT NULL CHECK (author_kind IN ('patient', 'caregiver', 'professional')),
  author_id    text NOT NULL,
  body_enc     bytea NOT NULL,
  key_id       text NOT NULL,
  urgent       boolean NOT NULL DEFAULT false,
  episode_id   bigint REFERENCES alert_episodes(id),
  created_at   timestamptz NOT NULL
);
CREATE INDEX messages_thread ON messages (thread_id, created_at);

CREATE TABLE message_attachments (
  id           bigserial PRIMARY KEY,
  message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  media_type   text NOT NULL,
  size_bytes   integer NOT NULL,
  filename_enc bytea NOT NULL,
  content_enc  bytea NOT NULL,
  key_id       text NOT NULL
);
CREATE INDEX message_attachments_message ON message_attachments (message_id);

-- Read receipts: who read which message when (one row per reader).
CREATE TABLE message_reads (
  message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  reader_kind  text NOT NULL CHECK (reader_kind IN ('patient', 'caregiver', 'professional')),
  reader_id    text NOT NULL,
  read_at      timestamptz NOT NULL,
  PRIMARY KEY (message_id, reader_kind, reader_id)
);
