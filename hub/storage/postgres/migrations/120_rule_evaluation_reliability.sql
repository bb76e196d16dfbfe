-- Clinical rules, second pass (docs/clinical/): how far a reading's time can be believed, and
-- rule evaluations that failed and must be retried (no silent failure).

-- contract/reading.ts timeTrust; NULL for readings filed before this column existed
ALTER TABLE reading_ledger ADD COLUMN IF NOT EXISTS time_trust text;

-- A measurement whose rule evaluation threw (bug, store error) after it was filed: retried by the
-- scheduler until it succeeds; counted in /metrics (vigil_rule_evaluations_pending).
CREATE TABLE IF NOT EXISTS rule_evaluations_pending (
  id           bigserial PRIMARY KEY,
  patient_id   text NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
  rule_id      text NOT NULL,
  reading_ids  text[] NOT NULL,
  attempts     integer NOT NULL DEFAULT 1,
  last_error   text NOT NULL,
  created_at   timestamptz NOT NULL,
  next_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rule_evaluations_pending_once ON rule_evaluations_pending (rule_id, reading_ids);

-- A stored record of a clockless device sent again (its memory re-sent at the next connection):
-- the gateway dates it on reception, so it arrives with a new id; recognised by content and
-- position (hub/rules/memory-copies.ts), it is kept but never evaluated nor counted again.
ALTER TABLE reading_ledger ADD COLUMN IF NOT EXISTS memory_copy boolean NOT NULL DEFAULT false;
