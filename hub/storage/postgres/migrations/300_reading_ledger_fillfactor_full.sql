-- Ingest now adds ledger rows already marked stored, in the transaction that writes their time
-- series points and evaluates their rules (hub/ingest/ingest-service.ts fileShard): no UPDATE
-- follows the insert, so the room migration 280 kept on each page for a heap-only update of
-- stored_at only made the heap twice as large, and each insert touch twice as many pages.
-- Rows are still updated rarely (memory copies, rows a hub left unmarked before this version,
-- quarantine assignment). Applies to pages written from now on.
ALTER TABLE reading_ledger SET (fillfactor = 100);
