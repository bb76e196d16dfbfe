-- Outbound webhooks per care team (clinical pathway delivery), HMAC-SHA256 signed, retried with
-- backoff; every attempt is logged.

CREATE TABLE webhooks (
  id           bigserial PRIMARY KEY,
  care_team_id text NOT NULL REFERENCES care_teams(id) ON DELETE CASCADE,
  url          text NOT NULL,
  -- HMAC key; kept in clear because the hub must sign with it (shown once at creation)
  secret       text NOT NULL,
  active       boolean NOT NULL DEFAULT true,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
  id              bigserial PRIMARY KEY,
  webhook_id      bigint NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  notification_id bigint NOT NULL REFERENCES notifications(id),
  idempotency_key text NOT NULL,
  payload         jsonb NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  leased_until    timestamptz,
  last_status     integer,
  last_error      text,
  created_at      timestamptz NOT NULL,
  delivered_at    timestamptz,
  UNIQUE (webhook_id, notification_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_delivery_attempts (
  id          bigserial PRIMARY KEY,
  delivery_id bigint NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL,
  http_status integer,
  error       text,
  duration_ms integer NOT NULL
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, attempt);
