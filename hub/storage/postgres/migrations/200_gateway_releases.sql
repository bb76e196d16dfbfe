-- Gateway software (issue 17 "fleet operations"): the version each box reports in its heartbeat,
-- the signed releases the hub offers, and the staged rollouts (percentage of the fleet).
ALTER TABLE gateways
  ADD COLUMN software_version     text,
  ADD COLUMN software_reported_at timestamptz;

-- A release is stored only once its ed25519 signature verified with the release public key
-- (hub/fleet/releases.ts); the boxes verify it again before running it.
CREATE TABLE gateway_releases (
  version      text PRIMARY KEY,
  manifest     bytea NOT NULL,
  signature    text NOT NULL,
  artifact     bytea NOT NULL,
  sha256       text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now(),
  published_by text NOT NULL
);

-- The latest row is the current rollout: `percent` of the not-revoked boxes, chosen per box by
-- hub/fleet/rollout.ts, are offered `version`. 0 stops offering it.
CREATE TABLE gateway_rollouts (
  id         bigserial PRIMARY KEY,
  version    text NOT NULL REFERENCES gateway_releases(version),
  percent    integer NOT NULL CHECK (percent BETWEEN 0 AND 100),
  started_at timestamptz NOT NULL DEFAULT now(),
  started_by text NOT NULL
);

-- Fleet view of versions for the Grafana fleet board (no personal data: versions and counts).
CREATE VIEW grafana.fleet_versions AS
SELECT coalesce(g.software_version, 'not reported') AS version,
       count(*)::integer AS gateways,
       count(*) FILTER (WHERE g.online)::integer AS online,
       max(g.software_reported_at) AS last_report
FROM gateways g
WHERE g.revoked_at IS NULL
GROUP BY 1;
