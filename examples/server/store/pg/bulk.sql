-- A backfill writes a million event_runs rows: each of their two foreign keys cost a checking
-- query per row (a third of PostgreSQL's CPU). Events are never deleted, so the event's key
-- guarded nothing; the runs' is kept by deleting a run's records with it (delete_runs), as on
-- SQLite.
ALTER TABLE event_runs DROP CONSTRAINT IF EXISTS event_runs_event_id_fkey;
ALTER TABLE event_runs DROP CONSTRAINT IF EXISTS event_runs_run_id_fkey;
-- Bodies arrive gzip-compressed from the server: PostgreSQL's own compression only wasted CPU.
ALTER TABLE event_bodies ALTER COLUMN body SET STORAGE EXTERNAL;
