-- Over-the-air updates (issue 17): what each box did with the release offered to it, and rollouts
-- that stop on their own. docs/operations.md "Over-the-air updates".

-- A rollout halts (no more offers, open offers withdrawn) once more than max_failures boxes
-- rolled back or refused its release.
ALTER TABLE gateway_rollouts
  ADD COLUMN max_failures integer NOT NULL DEFAULT 0 CHECK (max_failures >= 0),
  ADD COLUMN halted_at    timestamptz,
  ADD COLUMN halt_reason  text;

-- The last state per box and release: offered by the hub, then as the box reports it in its heartbeat.
CREATE TABLE gateway_updates (
  gateway_id text NOT NULL REFERENCES gateways(id),
  version    text NOT NULL REFERENCES gateway_releases(version),
  state      text NOT NULL CHECK (state IN
               ('offered', 'downloading', 'installed', 'waiting', 'switching', 'healthy', 'rolled_back', 'refused')),
  reason     text,
  offered_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (gateway_id, version)
);
CREATE INDEX gateway_updates_version_state ON gateway_updates (version, state);

-- Every change, for the fleet view and post-mortems (no personal data: ids, versions, codes).
CREATE TABLE gateway_update_events (
  id         bigserial PRIMARY KEY,
  gateway_id text NOT NULL,
  version    text NOT NULL,
  state      text NOT NULL,
  reason     text,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_update_events_gateway ON gateway_update_events (gateway_id, at);
