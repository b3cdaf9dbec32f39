//! SQLite write transactions: the writer connection's guard, carried from one call to the next,
//! inside `BEGIN IMMEDIATE` … `COMMIT`. Statements are prepared once per connection (rusqlite's
//! statement cache) and batches run row by row on them, which SQLite does fastest.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mwctl::protocol::RunStatus;
use mwctl::protocol::admin::{EventStatus, IncidentRef, Repo, RunRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::OwnedMutexGuard;

use super::{
    Inner, all_keys, bad_column, end_abandoned_transaction, event_run_refs, event_status,
    incidents, list_repos_on, task_failed, ts_col,
};
use crate::rules::{WORKFLOW_PROVIDER, WORKFLOW_TYPE};
use crate::store::{
    Action, Counts, Finished, IncidentHistory, IncidentRecord, IncidentSlot, IncidentUpdate,
    IncidentWrite, KeyRecord, PastWrite, RunFields, RunHistory, RunUpdate, RunWrite, Slot,
    StoreError, StoreResult, Tx, WriteRecord, Writer, ts,
};

pub struct SqliteTx {
    /// The writer, inside a transaction; `None` once committed.
    conn: Option<OwnedMutexGuard<Connection>>,
    /// Run each call on the calling thread instead of the blocking pool: the worker's
    /// transactions, called from the worker's own runtime thread, which does nothing else
    /// meanwhile (a hop to another thread per call would cost more than a small event's writes).
    inline: bool,
}

impl SqliteTx {
    pub(super) async fn begin(inner: &Arc<Inner>, writer: Writer) -> StoreResult<Box<dyn Tx>> {
        let inline = writer == Writer::Worker;
        if inline {
            inner.yield_to_ingest();
        }
        let conn = Arc::clone(&inner.writer).lock_owned().await;
        let mut tx = SqliteTx {
            conn: Some(conn),
            inline,
        };
        tx.run(|conn| {
            end_abandoned_transaction(conn);
            conn.execute_batch("BEGIN IMMEDIATE")?;
            Ok(())
        })
        .await?;
        Ok(Box::new(tx))
    }

    /// Runs `f` on the connection, inline or on a blocking thread. A panic in it becomes an
    /// error (and the transaction is rolled back when dropped).
    async fn run<T, F>(&mut self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Other("the transaction is over".to_owned()))?;
        if self.inline {
            let result = catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(StoreError::Other("a database call panicked".to_owned())));
            self.conn = Some(conn);
            return result;
        }
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(task_failed)?;
        self.conn = Some(conn);
        result
    }
}

impl Drop for SqliteTx {
    /// Not committed: roll back (quick in WAL mode: nothing is written back).
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn hold(&mut self, ids: &[&str], owner: &str) -> StoreResult<Vec<bool>> {
        let ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
        let owner = owner.to_owned();
        self.run(move |conn| {
            // The writer is held: nobody can take the events over until the commit.
            let mut held = conn.prepare_cached(
                "SELECT 1 FROM events WHERE id = ?1 AND status = 'RUNNING' AND lease_owner = ?2",
            )?;
            ids.iter()
                .map(|id| {
                    let found = held.query_row(params![id, owner], |_| Ok(())).optional()?;
                    Ok(found.is_some())
                })
                .collect()
        })
        .await
    }

    async fn keys(&mut self) -> StoreResult<Vec<KeyRecord>> {
        self.run(|conn| all_keys(conn, "")).await
    }

    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |conn| {
            conn.prepare_cached("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2")?
                .execute(params![ts(at), id])?;
            Ok(())
        })
        .await
    }

    async fn repos(&mut self) -> StoreResult<Vec<Repo>> {
        self.run(list_repos_on).await
    }

    async fn insert_runs(
        &mut self,
        runs: Vec<RunWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Slot>> {
        self.run(move |conn| {
            let now = ts(at);
            let mut workflows = Workflows::default();
            let mut slots = Vec::with_capacity(runs.len());
            for run in &runs {
                let workflow_id =
                    workflows.get_or_create(conn, run.repo_id, &run.workflow, &now)?;
                slots.push(insert_run(conn, workflow_id, run, &now)?);
            }
            Ok(slots)
        })
        .await
    }

    async fn update_runs(&mut self, updates: Vec<RunUpdate>, at: DateTime<Utc>) -> StoreResult<()> {
        self.run(move |conn| {
            let now = ts(at);
            let mut stmt = conn.prepare_cached(
                "UPDATE repo_workflow_runs SET event_actor = ?1, head_branch = ?2, status = ?3, \
                    conducted_at = ?4, duration = ?5, html_url = ?6, commit_sha = ?7, meta = ?8, \
                    updated_at = ?9 \
                 WHERE id = ?10",
            )?;
            for update in &updates {
                let new = &update.after;
                stmt.execute(params![
                    new.event_actor,
                    new.head_branch,
                    new.status.as_str(),
                    ts(new.conducted_at),
                    new.duration,
                    new.html_url,
                    new.commit_sha,
                    new.meta,
                    now,
                    update.run_id
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn finish_events(&mut self, events: Vec<Finished>, at: DateTime<Utc>) -> StoreResult<()> {
        self.run(move |conn| {
            let now = ts(at);
            for event in &events {
                // Reprocessing after a crash starts from a clean slate for this event.
                conn.prepare_cached("DELETE FROM event_runs WHERE event_id = ?1")?
                    .execute([&event.id])?;
                record_writes(conn, &event.id, &event.written)?;
                let counts = event.counts;
                conn.prepare_cached(
                    "UPDATE events SET status = 'SUCCESS', error = NULL, processed_at = ?1, \
                        lease_until = NULL, runs_created = ?2, runs_updated = ?3, \
                        runs_unchanged = ?4 WHERE id = ?5",
                )?
                .execute(params![
                    now,
                    counts.created as i64,
                    counts.updated as i64,
                    counts.unchanged as i64,
                    event.id
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn insert_incidents(
        &mut self,
        writes: Vec<IncidentWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<IncidentSlot>> {
        self.run(move |conn| incidents::insert(conn, &writes, &ts(at)))
            .await
    }

    async fn update_incidents(
        &mut self,
        updates: Vec<IncidentUpdate>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.run(move |conn| incidents::update(conn, &updates, &ts(at)))
            .await
    }

    async fn finish_incident_event(
        &mut self,
        id: &str,
        written: Vec<IncidentRecord>,
        counts: Counts,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |conn| incidents::finish(conn, &id, &written, counts, &ts(at)))
            .await
    }

    async fn event_incidents(&mut self, id: &str) -> StoreResult<Vec<IncidentRef>> {
        let id = id.to_owned();
        self.run(move |conn| incidents::event_incident_refs(conn, &id))
            .await
    }

    async fn incident_history(
        &mut self,
        incident_ids: Vec<i64>,
    ) -> StoreResult<Vec<IncidentHistory>> {
        self.run(move |conn| incidents::history(conn, &incident_ids))
            .await
    }

    async fn delete_incidents(&mut self, incident_ids: Vec<i64>) -> StoreResult<()> {
        self.run(move |conn| incidents::delete(conn, &incident_ids))
            .await
    }

    async fn event_status(&mut self, id: &str) -> StoreResult<Option<EventStatus>> {
        let id = id.to_owned();
        self.run(move |conn| event_status(conn, &id)).await
    }

    async fn event_runs(&mut self, id: &str) -> StoreResult<Vec<RunRef>> {
        let id = id.to_owned();
        self.run(move |conn| event_run_refs(conn, &id)).await
    }

    async fn run_history(&mut self, run_ids: Vec<i64>) -> StoreResult<Vec<RunHistory>> {
        self.run(move |conn| {
            let mut histories = Vec::with_capacity(run_ids.len());
            for run_id in run_ids {
                let current = conn
                    .prepare_cached(&format!(
                        "SELECT {RUN_FIELDS} FROM repo_workflow_runs WHERE id = ?1"
                    ))?
                    .query_row([run_id], |row| run_fields(row, 0))
                    .optional()?;
                let Some(current) = current else { continue };
                let mut stmt = conn.prepare_cached(
                    "SELECT er.event_id, e.status = 'PRUNED', er.action, er.replaced \
                     FROM event_runs er JOIN events e ON e.id = er.event_id \
                     WHERE er.run_id = ?1 ORDER BY er.seq, er.event_id",
                )?;
                let writes = stmt
                    .query_map([run_id], |row| {
                        let action: String = row.get(2)?;
                        let replaced: Option<String> = row.get(3)?;
                        Ok(PastWrite {
                            event_id: row.get(0)?,
                            pruned: row.get(1)?,
                            action: Action::parse(&action).ok_or_else(|| bad_column(2, &action))?,
                            before: replaced
                                .map(|json| {
                                    serde_json::from_str(&json).map_err(|_| bad_column(3, &json))
                                })
                                .transpose()?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                histories.push(RunHistory {
                    run_id,
                    current,
                    writes,
                });
            }
            Ok(histories)
        })
        .await
    }

    async fn delete_runs(&mut self, run_ids: Vec<i64>) -> StoreResult<u64> {
        self.run(move |conn| {
            let mut workflows = Vec::new();
            for run_id in &run_ids {
                let workflow: Option<i64> = conn
                    .prepare_cached(
                        "SELECT repo_workflow_id FROM repo_workflow_runs WHERE id = ?1",
                    )?
                    .query_row([run_id], |row| row.get(0))
                    .optional()?;
                workflows.extend(workflow);
                // The run, and every event's record of it.
                conn.prepare_cached("DELETE FROM repo_workflow_runs WHERE id = ?1")?
                    .execute([run_id])?;
                conn.prepare_cached("DELETE FROM event_runs WHERE run_id = ?1")?
                    .execute([run_id])?;
            }
            workflows.sort_unstable();
            workflows.dedup();
            let mut deleted = 0;
            for workflow in workflows {
                deleted += conn
                    .prepare_cached(
                        "DELETE FROM repo_workflows WHERE id = ?1 AND NOT EXISTS \
                         (SELECT 1 FROM repo_workflow_runs WHERE repo_workflow_id = ?1)",
                    )?
                    .execute([workflow])? as u64;
            }
            Ok(deleted)
        })
        .await
    }

    async fn mark_pruned(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |conn| {
            conn.prepare_cached(
                "UPDATE events SET status = 'PRUNED', processed_at = ?1 WHERE id = ?2",
            )?
            .execute(params![ts(at), id])?;
            Ok(())
        })
        .await
    }

    async fn repo_runs(&mut self, repo_id: i64) -> StoreResult<Vec<i64>> {
        self.run(move |conn| {
            let ids = conn
                .prepare_cached(
                    "SELECT wr.id FROM repo_workflow_runs wr \
                     JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
                     WHERE w.repo_id = ?1 ORDER BY wr.id",
                )?
                .query_map([repo_id], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    async fn release_events(&mut self, run_ids: Vec<i64>, at: DateTime<Utc>) -> StoreResult<u64> {
        self.run(move |conn| {
            let now = ts(at);
            let mut stmt = conn.prepare_cached(
                "UPDATE events SET status = 'PRUNED', processed_at = ?1 \
                 WHERE status = 'SUCCESS' AND id IN (SELECT event_id FROM event_runs WHERE run_id = ?2)",
            )?;
            let mut released = 0;
            for run_id in run_ids {
                released += stmt.execute(params![now, run_id])? as u64;
            }
            Ok(released)
        })
        .await
    }

    async fn unlink_repo(&mut self, repo_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        self.run(move |conn| {
            conn.prepare_cached("UPDATE repos SET unlinked_at = ?1 WHERE id = ?2")?
                .execute(params![ts(at), repo_id])?;
            Ok(())
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.run(|conn| Ok(conn.execute_batch("COMMIT")?)).await?;
        // Committed: nothing to roll back on drop.
        drop(self.conn.take());
        Ok(())
    }

    async fn rollback(mut self: Box<Self>) -> StoreResult<()> {
        self.run(|conn| Ok(conn.execute_batch("ROLLBACK")?)).await?;
        drop(self.conn.take());
        Ok(())
    }
}

/// repo id → workflow name → workflow id, so a batch looks each workflow up once.
#[derive(Default)]
struct Workflows(HashMap<i64, HashMap<String, i64>>);

impl Workflows {
    fn get_or_create(
        &mut self,
        conn: &Connection,
        repo_id: i64,
        name: &str,
        now: &str,
    ) -> StoreResult<i64> {
        if let Some(id) = self.0.get(&repo_id).and_then(|w| w.get(name)) {
            return Ok(*id);
        }
        let found: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM repo_workflows \
                 WHERE repo_id = ?1 AND provider = ?2 AND provider_workflow_id = ?3",
            )?
            .query_row(params![repo_id, WORKFLOW_PROVIDER, name], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached(
                    "INSERT INTO repo_workflows (repo_id, type, provider, \
                        provider_workflow_id, name, is_active, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4, TRUE, ?5, ?5)",
                )?
                .execute(params![
                    repo_id,
                    WORKFLOW_TYPE,
                    WORKFLOW_PROVIDER,
                    name,
                    now
                ])?;
                conn.last_insert_rowid()
            }
        };
        self.0
            .entry(repo_id)
            .or_default()
            .insert(name.to_owned(), id);
        Ok(id)
    }
}

/// Inserts a new run, or reads the stored one. Insert first: in a backfill almost every run is
/// new, and this saves a lookup.
fn insert_run(conn: &Connection, workflow_id: i64, run: &RunWrite, now: &str) -> StoreResult<Slot> {
    let f = &run.fields;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO repo_workflow_runs (repo_workflow_id, provider_workflow_run_id, \
                event_actor, head_branch, status, conducted_at, duration, html_url, \
                commit_sha, meta, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            workflow_id,
            run.unique_id,
            f.event_actor,
            f.head_branch,
            f.status.as_str(),
            ts(f.conducted_at),
            f.duration,
            f.html_url,
            f.commit_sha,
            f.meta,
            now
        ])?;
    if inserted == 1 {
        return Ok(Slot::Created(conn.last_insert_rowid()));
    }
    let (run_id, stored) = conn
        .prepare_cached(&format!(
            "SELECT id, {RUN_FIELDS} FROM repo_workflow_runs \
             WHERE repo_workflow_id = ?1 AND provider_workflow_run_id = ?2"
        ))?
        .query_row(params![workflow_id, run.unique_id], |row| {
            Ok((row.get::<_, i64>(0)?, run_fields(row, 1)?))
        })?;
    Ok(Slot::Exists { run_id, stored })
}

/// A run's stored fields, in [`run_fields`]' order.
const RUN_FIELDS: &str =
    "event_actor, head_branch, status, conducted_at, duration, html_url, commit_sha, meta";

/// Reads [`RUN_FIELDS`] starting at column `at`.
fn run_fields(row: &Row<'_>, at: usize) -> rusqlite::Result<RunFields> {
    let status: String = row.get(at + 2)?;
    Ok(RunFields {
        event_actor: row.get(at)?,
        head_branch: row.get(at + 1)?,
        status: RunStatus::parse(&status).ok_or_else(|| bad_column(at + 2, &status))?,
        conducted_at: ts_col(row, at + 3)?,
        duration: row.get(at + 4)?,
        html_url: row.get(at + 5)?,
        commit_sha: row.get(at + 6)?,
        meta: row.get(at + 7)?,
    })
}

/// Inserts the event's event_runs rows, row by row on cached statements (a multi-row INSERT with
/// a subquery per row was re-prepared by SQLite on every execution: a quarter of a backfill's
/// server CPU). Each row takes the next place in its run's history (a created run's rows were
/// deleted with any earlier run that had its id, so its history starts at 1).
fn record_writes(conn: &Connection, event_id: &str, written: &[WriteRecord]) -> StoreResult<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO event_runs (event_id, run_id, action, replaced, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    )?;
    let mut next_seq =
        conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM event_runs WHERE run_id = ?1")?;
    for record in written {
        let seq: i64 = match record.action {
            // A run created now has no history yet: no lookup (the backfill case).
            Action::Created => 1,
            Action::Updated => next_seq.query_row([record.run_id], |row| row.get(0))?,
        };
        let replaced = record
            .before
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Other(format!("a run's fields as JSON: {e}")))?;
        insert.execute(params![
            event_id,
            record.run_id,
            record.action.as_str(),
            replaced,
            seq
        ])?;
    }
    Ok(())
}
