-- Version 2: exact prune undo and unlinking that keeps runs, as SQLite's undo.sql and
-- unlink.sql. Each recorded write gets its place in the run's history (seq: 1, 2, … per run, in
-- write order; rows recorded before this version keep 0) and, for an update, the fields it
-- replaced (`replaced`, RunFields as JSON text); an unlinked repo is marked, not deleted.
ALTER TABLE event_runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_runs ADD COLUMN replaced TEXT;
DROP INDEX event_runs_run;
CREATE INDEX event_runs_run ON event_runs (run_id, seq);
ALTER TABLE repos ADD COLUMN unlinked_at TEXT COLLATE "C";
