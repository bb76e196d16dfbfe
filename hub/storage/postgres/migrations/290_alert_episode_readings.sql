-- An episode's readings as rows, not as arrays rewritten at every breach (bench/README.md,
-- session 8, "Why a breach still costs 868 us"). EpisodeStore.raise appended each breach's
-- reading ids to alert_episodes.trigger_reading_ids (text[]) and merged its interpretations into
-- alert_episodes.interpretations (jsonb), both rewritten whole at each breach. Under a backlog a
-- 7-day blood-pressure mean stays high and one episode collects 150-170 breaches: 342 ids (12 KB)
-- and 14 KB of jsonb, and at that size each of the two cost about 1.1 ms of PostgreSQL time per
-- breach (1.17 ms the array, 1.09 ms the jsonb, measured over 300 breaches on the longest
-- episode); the raise statement averaged 868 us over 12 781 breaches of the ingest bench, the
-- largest PostgreSQL cost of ingest. The overlap checks (`&&` on the whole array) and the
-- resolution check (max(measured_at) over the ledger rows of ANY(trigger_reading_ids), at every
-- normal evaluation of an open episode) read them whole too.
-- Now a breach inserts one small row per new reading; the checks are index probes. On a scratch
-- database (one episode, breaches 171-320, two 32-hex reading ids each, EXPLAIN ANALYZE of the
-- prepared raise statement, three runs each) the statement went from 1.44-1.69 ms to 0.72-0.90 ms.

-- One row per reading an episode counted, with the interpretation the rule gave it (H, HH, L, LL;
-- NULL: none). seq keeps the order in which the episode counted its readings (the array's order).
CREATE TABLE alert_episode_readings (
  episode_id     bigint NOT NULL REFERENCES alert_episodes(id) ON DELETE CASCADE,
  reading_id     text NOT NULL,
  interpretation text,
  seq            bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (episode_id, reading_id)
);
-- "a resolved episode already counted one of these readings" looks up by reading
CREATE INDEX alert_episode_readings_reading ON alert_episode_readings (reading_id);

-- The latest measured_at among the episode's readings, kept by EpisodeStore.raise: a normal
-- measured before it does not step the episode towards resolution. Read only while the episode
-- is active; initialised below for the active ones (NULL: no reading in the ledger, as before).
-- A column rather than the child table joined to the ledger at each normal evaluation: for 342
-- readings 0.011 ms against 0.26 ms (3.2 ms the old ANY(trigger_reading_ids), same database).
-- Exact because a reading is in the ledger before the rules see it and its measured_at never
-- changes.
ALTER TABLE alert_episodes ADD COLUMN last_measured_at timestamptz;

-- The arrays' elements in array order; a reading listed twice counts once, where it came first.
INSERT INTO alert_episode_readings (episode_id, reading_id, interpretation)
SELECT e.id, t.reading_id, e.interpretations ->> t.reading_id
  FROM alert_episodes e, unnest(e.trigger_reading_ids) WITH ORDINALITY AS t(reading_id, n)
 ORDER BY e.id, t.n
ON CONFLICT DO NOTHING;

-- Interpretations of readings that are not in the array: no rule produces them (hub/rules: every
-- Evaluation keys its interpretations by its own readingIds, and the other callers of raise give
-- none), but a hand-edited or older row may hold some. They were readings of that breach, so they
-- are kept as the episode's readings, after the array's, rather than dropped.
INSERT INTO alert_episode_readings (episode_id, reading_id, interpretation)
SELECT e.id, i.key, i.value
  FROM alert_episodes e, jsonb_each_text(e.interpretations) AS i(key, value)
 WHERE NOT (i.key = ANY (e.trigger_reading_ids))
 ORDER BY e.id, i.key
ON CONFLICT DO NOTHING;

-- Active episodes only: a resolved episode never steps again, and every updated row wakes the
-- worklists (trigger alert_episodes_notify, migration 140).
UPDATE alert_episodes e
   SET last_measured_at = (SELECT max(l.measured_at) FROM reading_ledger l WHERE l.reading_id = ANY (e.trigger_reading_ids))
 WHERE e.status <> 'resolved' AND cardinality(e.trigger_reading_ids) > 0;

-- One source of truth.
ALTER TABLE alert_episodes DROP COLUMN trigger_reading_ids, DROP COLUMN interpretations;

-- Grants: none. The hub owns its tables; vigil_grafana (migration 210) was granted columns of
-- alert_episodes that did not include trigger_reading_ids or interpretations, so it reads nothing
-- of this table either, and no row security is needed for a table no Grafana role can read.
-- A deployment running the hub as a non-owner role grants it SELECT and INSERT here (deleting an
-- episode deletes its rows through the foreign key, with the table owner's rights).
