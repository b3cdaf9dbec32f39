-- Unlinking keeps a repo's workflows and runs: the repo is marked unlinked (and refused by
-- ingest and the worker) instead of deleted; linking it again clears the mark.
ALTER TABLE repos ADD COLUMN unlinked_at TEXT;
