-- An open episode's row is updated at every breach and normal evaluation (EpisodeStore.raise and
-- recordNormal): 12 473 updates of 2 789 episodes in bench/hub-ingest.ts. At the default
-- fillfactor (100) pages are full, and only 51 % of those updates were heap-only (HOT, PostgreSQL
-- documentation "Heap-Only Tuples", storage/hot.html); each other one added an entry to all four
-- indexes. alert_episodes_one_open, the index every breach and normal step looks its episode up
-- by, then held an entry per version of a busy episode, and one probe read 31 buffers
-- (bench/README.md, session 14). Room for the new version on the row's own page keeps the updates
-- heap-only. Applies to pages written from now on.
ALTER TABLE alert_episodes SET (fillfactor = 50);
