-- Access audit (GDPR art. 30 and 32; French health-data hosting rules require tracing every
-- access to health data): every API/FHIR request of a professional, every export and every
-- refusal, one row each. Append-only: UPDATE and DELETE are refused by a trigger for every role,
-- owner included. Two narrow exceptions, each needing a transaction-local setting that only the
-- hub's erasure and retention code sets (hub/admin/patient-rights.ts, hub/admin/retention.ts):
--   vigil.pseudonymise = on : UPDATE that only replaces patient_id by its erasure pseudonym;
--   vigil.retention = <ISO time> : DELETE of rows older than that time.
-- audit_log (changes) gets the same protection.
CREATE TABLE access_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text,
  role        text,
  action      text NOT NULL,
  route       text,
  patient_id  text,
  status      integer NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('allowed', 'refused')),
  address     text
);
CREATE INDEX access_log_patient ON access_log (patient_id, at);
CREATE INDEX access_log_at ON access_log (at);

CREATE FUNCTION vigil_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cutoff text := current_setting('vigil.retention', true);
BEGIN
  -- nested IFs: plpgsql does not short-circuit, and each table has its own columns
  IF TG_OP = 'UPDATE' AND current_setting('vigil.pseudonymise', true) = 'on' THEN
    IF TG_TABLE_NAME = 'access_log' THEN
      IF NEW.patient_id LIKE 'erased-%'
         AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.route, NEW.status, NEW.outcome)
             IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.route, OLD.status, OLD.outcome) THEN
        RETURN NEW;
      END IF;
    ELSIF TG_TABLE_NAME = 'audit_log' THEN
      IF (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.entity)
         IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.entity) THEN
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

CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
  FOR EACH ROW EXECUTE FUNCTION vigil_append_only();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION vigil_append_only();
-- TRUNCATE bypasses row triggers: refuse it too
CREATE FUNCTION vigil_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'AUDIT_APPEND_ONLY: TRUNCATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log FOR EACH STATEMENT EXECUTE FUNCTION vigil_no_truncate();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION vigil_no_truncate();
