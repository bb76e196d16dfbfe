-- Plug-in onboarding (issue 4): the code printed on a gateway box is exchanged once for the
-- gateway's MQTT credential. Only the code's hash is kept; a code is single-use and expires.
CREATE TABLE enrollment_codes (
  code_hash   text PRIMARY KEY,
  gateway_id  text NOT NULL,
  patient_id  text NOT NULL REFERENCES patients(id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX enrollment_codes_gateway ON enrollment_codes (gateway_id);
