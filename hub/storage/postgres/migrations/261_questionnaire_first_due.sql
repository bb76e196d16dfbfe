-- Questionnaire adherence in program reports (hub/reporting/questionnaire-adherence.ts): the
-- number of times a questionnaire fell due is counted from its first due date, which next_due_at
-- (moved at every answer) no longer tells. Existing assignments start from their current due date.
-- Nullable so that a writer unaware of the column still inserts; the report then falls back to
-- next_due_at, as the backfill does.
ALTER TABLE questionnaire_assignments ADD COLUMN first_due_at timestamptz;
UPDATE questionnaire_assignments SET first_due_at = next_due_at;
