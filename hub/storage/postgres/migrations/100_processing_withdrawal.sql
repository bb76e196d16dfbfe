-- Consent withdrawal stops processing (GDPR art. 7(3), art. 18): from the next reading on, a
-- patient who withdrew is not filed (readings quarantined as CONSENT_WITHDRAWN), evaluated by
-- rules, notified or sent to webhooks. Two ways to withdraw:
--   - the patient withdraws from telemonitoring as a whole (processing_withdrawn_at);
--   - the patient withdrew every consent given to a professional (nobody may see the data,
--     so producing alerts about it would be processing without a purpose).
ALTER TABLE patients ADD COLUMN processing_withdrawn_at timestamptz;

CREATE FUNCTION vigil_processing_stopped(pid text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM patients WHERE id = pid AND processing_withdrawn_at IS NOT NULL)
      OR (EXISTS (SELECT 1 FROM patient_consents WHERE patient_id = pid)
          AND NOT EXISTS (SELECT 1 FROM patient_consents WHERE patient_id = pid AND revoked_at IS NULL))
$$;
