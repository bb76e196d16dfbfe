-- The settings the hub holds for each box, published retained on vigil/v1/<gw>/config
-- (contract/remote-config.ts). Kept here so a restarted hub, whose embedded broker forgets
-- retained messages, publishes them again; each change is in the audit log.
CREATE TABLE gateway_remote_config (
  gateway_id  text PRIMARY KEY REFERENCES gateways (id) ON DELETE CASCADE,
  config      jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL
);
