-- Credential lifecycle (docs/security.md "Credentials"): professional bearer tokens expire and
-- can be revoked with the professional; a revoked box's open enrollment codes are cancelled and a
-- revoked box is never revived by an enrollment code.
ALTER TABLE professionals
  ADD COLUMN token_expires_at timestamptz,
  ADD COLUMN revoked_at timestamptz;
-- tokens issued before this migration get the default lifetime from now on
UPDATE professionals SET token_expires_at = now() + interval '90 days' WHERE token_hash IS NOT NULL;

ALTER TABLE enrollment_codes ADD COLUMN cancelled_at timestamptz;
