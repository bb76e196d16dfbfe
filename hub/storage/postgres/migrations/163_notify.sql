-- Notification service (issue 13 item 6): templates a nurse edits, on-call rota per team,
-- contacts of professionals, events to deliver and a delivery log with retries.

CREATE TABLE notify_templates (
  key        text NOT NULL,
  locale     text NOT NULL CHECK (locale IN ('fr', 'en')),
  subject    text NOT NULL,
  body       text NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key, locale)
);

CREATE TABLE professional_contacts (
  professional_id text PRIMARY KEY REFERENCES professionals(id) ON DELETE CASCADE,
  email text,
  phone text
);

-- Who is on call for a team, when. Overlaps resolve to the latest starting shift.
CREATE TABLE oncall_shifts (
  id              bigserial PRIMARY KEY,
  care_team_id    text NOT NULL REFERENCES care_teams(id) ON DELETE CASCADE,
  professional_id text NOT NULL REFERENCES professionals(id) ON DELETE CASCADE,
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
  created_by      text NOT NULL
);
CREATE INDEX oncall_shifts_team ON oncall_shifts (care_team_id, starts_at, ends_at);

-- Something happened that someone must hear about. Filled by triggers so the rule engine and
-- the episode store stay unaware of the channels; the dispatcher claims each event once.
CREATE TABLE notify_events (
  id           bigserial PRIMARY KEY,
  kind         text NOT NULL,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  ref_id       bigint,
  data         jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at timestamptz
);
CREATE INDEX notify_events_pending ON notify_events (id) WHERE processed_at IS NULL;

-- One row per message to one recipient on one channel; at-least-once with retries.
CREATE TABLE notify_deliveries (
  id              bigserial PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  event_id        bigint REFERENCES notify_events(id) ON DELETE SET NULL,
  patient_id      text REFERENCES patients(id) ON DELETE CASCADE,
  recipient_kind  text NOT NULL CHECK (recipient_kind IN ('patient', 'caregiver', 'professional')),
  recipient_id    text NOT NULL,
  channel         text NOT NULL CHECK (channel IN ('email', 'sms', 'space')),
  template_key    text NOT NULL,
  locale          text NOT NULL,
  params          jsonb NOT NULL DEFAULT '{}',
  urgent          boolean NOT NULL DEFAULT false,
  status          text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  sent_at         timestamptz,
  read_at         timestamptz,
  created_at      timestamptz NOT NULL
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notify_deliveries_space ON notify_deliveries (patient_id, created_at) WHERE channel = 'space';

-- "Please re-measure" requests reach the patient (rule engine inserts remeasure_requests).
CREATE FUNCTION vigil_notify_remeasure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO notify_events (kind, patient_id, ref_id, data)
    VALUES ('remeasure', NEW.patient_id, NEW.id, jsonb_build_object('ruleId', NEW.rule_id, 'value', NEW.value));
  PERFORM pg_notify('vigil_notify', NEW.patient_id);
  RETURN NEW;
END $$;
CREATE TRIGGER remeasure_requests_notify AFTER INSERT ON remeasure_requests
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_remeasure();

-- Red episode notifications (opened, escalated, re-notified) reach the team's on-call professional.
CREATE FUNCTION vigil_notify_red_episode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.severity = 'red' AND NEW.kind IN ('opened', 'escalated', 'renotified') THEN
    INSERT INTO notify_events (kind, patient_id, ref_id, data)
      VALUES ('red_episode', NEW.patient_id, NEW.episode_id, jsonb_build_object('notificationId', NEW.id, 'kind', NEW.kind));
    PERFORM pg_notify('vigil_notify', NEW.patient_id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER notifications_red_oncall AFTER INSERT ON notifications
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_red_episode();
