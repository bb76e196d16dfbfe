-- Erasure (hub/admin/patient-rights.ts) also pseudonymises the actor column where the patient
-- acted herself (a message she posted, a questionnaire she answered: the actor is her id).
-- Same narrow exception as 102: only under vigil.pseudonymise = on, and only towards an
-- erased- pseudonym; every other column stays as it was.
CREATE OR REPLACE FUNCTION vigil_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cutoff text := current_setting('vigil.retention', true);
BEGIN
  -- nested IFs: plpgsql does not short-circuit, and each table has its own columns
  IF TG_OP = 'UPDATE' AND current_setting('vigil.pseudonymise', true) = 'on' THEN
    IF NEW.actor IS DISTINCT FROM OLD.actor AND NEW.actor NOT LIKE 'erased-%' THEN
      RAISE EXCEPTION 'AUDIT_APPEND_ONLY: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_TABLE_NAME = 'access_log' THEN
      IF (NEW.patient_id LIKE 'erased-%' OR NEW.patient_id IS NOT DISTINCT FROM OLD.patient_id)
         AND (NEW.id, NEW.at, NEW.action, NEW.route, NEW.status, NEW.outcome)
             IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.action, OLD.route, OLD.status, OLD.outcome) THEN
        RETURN NEW;
      END IF;
    ELSIF TG_TABLE_NAME = 'audit_log' THEN
      IF (NEW.id, NEW.at, NEW.action, NEW.entity)
         IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.action, OLD.entity) THEN
        RETURN NEW;
      END IF;
    END IF;
  END IF;
  IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <> '' AND OLD.at < cutoff::timestamptz THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'AUDIT_APPEND_ONLY: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
