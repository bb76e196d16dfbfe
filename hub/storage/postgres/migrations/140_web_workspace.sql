-- Care-team web workspace (docs/web.md): sign-in for professionals, browser sessions, the
-- patient's contact details, call notes, and a notification that wakes the live worklists.

-- Sign-in: a login and an argon2id password hash (PHC string), an optional TOTP secret, and the
-- identity at a hospital's OpenID Connect provider (issuer + subject).
ALTER TABLE professionals
  ADD COLUMN login          text UNIQUE,
  ADD COLUMN password_hash  text,
  ADD COLUMN totp_secret    text,
  ADD COLUMN oidc_issuer    text,
  ADD COLUMN oidc_subject   text,
  ADD COLUMN disabled_at    timestamptz;
CREATE UNIQUE INDEX professionals_oidc ON professionals (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;

-- A browser session: only the SHA-256 of the cookie value is kept. principal_kind leaves room for
-- patient sessions (patient space) next to professional ones.
CREATE TABLE web_sessions (
  id_hash         text PRIMARY KEY,
  principal_kind  text NOT NULL CHECK (principal_kind IN ('professional', 'patient')),
  principal_id    text NOT NULL,
  -- 'pending_totp': password accepted, second factor still due
  stage           text NOT NULL CHECK (stage IN ('pending_totp', 'active')),
  method          text NOT NULL CHECK (method IN ('password', 'oidc')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_seen_at    timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  ended_at        timestamptz
);
CREATE INDEX web_sessions_principal ON web_sessions (principal_kind, principal_id);

-- Contact details the nurse calls (issue 12 item 3).
ALTER TABLE patients
  ADD COLUMN phone           text,
  ADD COLUMN phone_alt       text,
  ADD COLUMN address         text,
  ADD COLUMN caregiver_name  text,
  ADD COLUMN caregiver_phone text;

-- Call notes: what was said on the phone, by whom, about which episode.
CREATE TABLE call_notes (
  id          bigserial PRIMARY KEY,
  patient_id  text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  episode_id  bigint REFERENCES alert_episodes(id),
  author      text NOT NULL,
  at          timestamptz NOT NULL,
  body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000)
);
CREATE INDEX call_notes_patient ON call_notes (patient_id, at);

-- Every change to an episode wakes the open worklists of every hub instance (LISTEN vigil_worklist).
-- The payload is the episode id only: each browser then asks the API what it may see.
CREATE FUNCTION vigil_notify_worklist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vigil_worklist', NEW.id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER alert_episodes_notify AFTER INSERT OR UPDATE ON alert_episodes
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_worklist();
