-- The runs' foreign key to their workflow ran a checking query per inserted run (3 µs of a
-- run's 9 µs in a backfill), and did not do the one job it seemed to: when a prune on one
-- instance deleted a workflow it had emptied while a worker on another was adding a run to it,
-- the key's ON DELETE CASCADE deleted the worker's new run too. Row locks do that job instead:
-- a worker takes its workflows FOR KEY SHARE (once per transaction), and delete_runs locks
-- them FOR UPDATE, which waits for that worker, before it looks for runs left in them.
ALTER TABLE repo_workflow_runs DROP CONSTRAINT IF EXISTS repo_workflow_runs_repo_workflow_id_fkey;
