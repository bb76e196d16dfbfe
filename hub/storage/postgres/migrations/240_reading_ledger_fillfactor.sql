-- Ingest marks each ledger row stored right after filing it (UPDATE ... SET stored_at). With full
-- pages (fillfactor 100) every such update writes a new row version on another page and new
-- entries in both indexes; with room left on the page it is a heap-only (HOT) update that touches
-- no index (PostgreSQL documentation, "Heap-Only Tuples", storage/hot.html). Applies to pages
-- written from now on.
ALTER TABLE reading_ledger SET (fillfactor = 80);
