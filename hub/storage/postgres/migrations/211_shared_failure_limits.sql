-- Failed-authentication counters shared by every hub instance (hub/security/failure-limiter.ts,
-- docs/security.md "Failed logins"): the columns rate-limiter-flexible's PostgreSQL store reads
-- and writes (key, points, expire in ms since the epoch). Keys hold a client address, so rows are
-- deleted an hour after they expire (the limiter's own sweep, every 5 minutes).
CREATE TABLE failure_limits (
  key    varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
CREATE INDEX failure_limits_expire ON failure_limits (expire);
