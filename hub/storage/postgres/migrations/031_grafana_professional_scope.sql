-- "A clinician picks from their patients" (issue 7) on the Grafana boards: the patients in a
-- professional's clinical scope, mirroring hub/api/authz.ts patientScopeSql with clinical = true:
-- coordinating nurses see the patients of their care teams' programs, the other professionals
-- the patients of their care teams, and only with the patient's consent (not revoked).
-- The boards match the Grafana login against professional_id. Grafana OSS cannot enforce this
-- per data source (clinical-rules.md, "Access"): it narrows the lists, access control stays in the API.
-- Depends on 001 and 002 (care teams, consent).

CREATE VIEW grafana.professionals AS
SELECT id AS professional_id, role FROM professionals;

CREATE VIEW grafana.professional_patients AS
SELECT DISTINCT pr.id AS professional_id, p.id AS patient_id
FROM professionals pr
JOIN care_team_members m ON m.professional_id = pr.id
JOIN care_teams t ON t.id = m.care_team_id
JOIN patients p
  ON (pr.role = 'coordinating_nurse' AND p.program_id = t.program_id)
  OR (pr.role <> 'coordinating_nurse' AND EXISTS (
        SELECT 1 FROM care_team_patients ctp WHERE ctp.care_team_id = m.care_team_id AND ctp.patient_id = p.id))
WHERE pr.role <> 'admin'
  AND EXISTS (SELECT 1 FROM patient_consents pc WHERE pc.patient_id = p.id AND pc.professional_id = pr.id AND pc.revoked_at IS NULL);
