-- SMART on FHIR scopes on professionals' API tokens (hub/fhir/scopes.ts, docs/api.md "FHIR scopes").
-- Scopes belong to the token: issuing a new token sets them anew (default none: no /fhir access).
-- token_patient_id is the SMART launch patient that patient/ scopes are limited to.
ALTER TABLE professionals
  ADD COLUMN token_scopes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN token_patient_id text REFERENCES patients(id) ON DELETE SET NULL;
