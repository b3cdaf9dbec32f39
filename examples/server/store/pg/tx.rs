//! PostgreSQL write transactions: a pooled connection inside `BEGIN` … `COMMIT` (READ
//! COMMITTED). What a decision reads is locked until the commit, so instances deciding on the
//! same rows take turns; a deadlock between two of them aborts one with a transient error,
//! which the worker retries.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mwctl::protocol::RunStatus;
use mwctl::protocol::admin::{EventStatus, IncidentRef, Repo, RunRef};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::{
    KEY_COLUMNS, REPO_COLUMNS, bad, event_run_refs, incidents, key_from_row, repo_from_row, ts_of,
};
use crate::rules::{WORKFLOW_PROVIDER, WORKFLOW_TYPE};
use crate::store::{
    Action, Counts, Finished, IncidentHistory, IncidentRecord, IncidentSlot, IncidentUpdate,
    IncidentWrite, KeyRecord, PastWrite, RunFields, RunHistory, RunUpdate, RunWrite, Slot,
    StoreError, StoreResult, Tx, ts,
};

pub struct PgTx {
    /// `None` once committed; dropped uncommitted, sqlx rolls it back.
    tx: Option<Transaction<'static, Postgres>>,
    /// Workflow ids found or created by this transaction, by (repo, name): a batch of events
    /// writes to the same few workflows, and each lookup is two round trips.
    workflows: HashMap<(i64, String), i64>,
}

impl PgTx {
    pub(super) async fn begin(pool: &PgPool) -> StoreResult<PgTx> {
        Ok(PgTx {
            tx: Some(pool.begin().await?),
            workflows: HashMap::new(),
        })
    }

    fn conn(&mut self) -> StoreResult<&mut PgConnection> {
        self.tx
            .as_deref_mut()
            .ok_or_else(|| StoreError::Other("the transaction is over".to_owned()))
    }
}

fn fields_from_row(row: &PgRow) -> StoreResult<RunFields> {
    let status: String = row.try_get("status")?;
    Ok(RunFields {
        event_actor: row.try_get("event_actor")?,
        head_branch: row.try_get("head_branch")?,
        status: RunStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        conducted_at: ts_of(row, "conducted_at")?,
        duration: row.try_get("duration")?,
        html_url: row.try_get("html_url")?,
        commit_sha: row.try_get("commit_sha")?,
        meta: row.try_get("meta")?,
    })
}

#[async_trait]
impl Tx for PgTx {
    async fn hold(&mut self, ids: &[&str], owner: &str) -> StoreResult<Vec<bool>> {
        // In key order, as every transaction locks them.
        let held: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM events WHERE id = ANY($1) AND status = 'RUNNING' AND lease_owner = $2 \
             ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .bind(owner)
        .fetch_all(self.conn()?)
        .await?;
        Ok(ids.iter().map(|id| held.iter().any(|h| h == id)).collect())
    }

    async fn keys(&mut self) -> StoreResult<Vec<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id FOR UPDATE");
        sqlx::query(&sql)
            .fetch_all(self.conn()?)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(id)
            .execute(self.conn()?)
            .await?;
        Ok(())
    }

    async fn repos(&mut self) -> StoreResult<Vec<Repo>> {
        // Shared locks: workers read them side by side; an unlink waits for them.
        let sql = format!(
            "SELECT {REPO_COLUMNS} FROM repos WHERE unlinked_at IS NULL ORDER BY id FOR SHARE"
        );
        sqlx::query(&sql)
            .fetch_all(self.conn()?)
            .await?
            .iter()
            .map(repo_from_row)
            .collect()
    }

    async fn insert_runs(
        &mut self,
        runs: Vec<RunWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Slot>> {
        let now = ts(at);
        let mut workflows = std::mem::take(&mut self.workflows);
        let conn = self.conn()?;
        let mut batch = Vec::with_capacity(runs.len());
        for run in &runs {
            let key = (run.repo_id, run.workflow.clone());
            let workflow_id = match workflows.get(&key) {
                Some(id) => *id,
                None => {
                    let id = workflow_id(conn, run.repo_id, &run.workflow, &now).await?;
                    workflows.insert(key, id);
                    id
                }
            };
            batch.push((workflow_id, run));
        }
        if batch.is_empty() {
            self.workflows = workflows;
            return Ok(Vec::new());
        }
        let slots = insert_batch(conn, &batch, &now).await;
        self.workflows = workflows;
        slots
    }

    async fn update_runs(&mut self, updates: Vec<RunUpdate>, at: DateTime<Utc>) -> StoreResult<()> {
        // One statement for the batch (at most one update per run: a join finds each row once).
        let column = |f: &dyn Fn(&RunFields) -> Option<String>| -> Vec<Option<String>> {
            updates.iter().map(|u| f(&u.after)).collect()
        };
        let run_ids: Vec<i64> = updates.iter().map(|u| u.run_id).collect();
        let durations: Vec<Option<i64>> = updates.iter().map(|u| u.after.duration).collect();
        sqlx::query(
            "UPDATE repo_workflow_runs r SET event_actor = t.a, head_branch = t.b, status = t.s, \
                conducted_at = t.c, duration = t.d, html_url = t.h, commit_sha = t.x, \
                meta = t.m, updated_at = $10 \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                $6::bigint[], $7::text[], $8::text[], $9::text[]) AS t(id, a, b, s, c, d, h, x, m) \
             WHERE r.id = t.id",
        )
        .bind(&run_ids)
        .bind(column(&|f| Some(f.event_actor.clone())))
        .bind(column(&|f| Some(f.head_branch.clone())))
        .bind(column(&|f| Some(f.status.as_str().to_owned())))
        .bind(column(&|f| Some(ts(f.conducted_at))))
        .bind(&durations)
        .bind(column(&|f| f.html_url.clone()))
        .bind(column(&|f| f.commit_sha.clone()))
        .bind(column(&|f| f.meta.clone()))
        .bind(ts(at))
        .execute(self.conn()?)
        .await?;
        Ok(())
    }

    async fn finish_events(&mut self, events: Vec<Finished>, at: DateTime<Utc>) -> StoreResult<()> {
        let conn = self.conn()?;
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        // Reprocessing after a crash starts from a clean slate for these events.
        sqlx::query("DELETE FROM event_runs WHERE event_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        record_writes(conn, &events).await?;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let counts = |f: &dyn Fn(&Counts) -> u64| -> Vec<i64> {
            events.iter().map(|e| count(f(&e.counts))).collect()
        };
        sqlx::query(
            "UPDATE events e SET status = 'SUCCESS', error = NULL, processed_at = $1, \
                lease_until = NULL, runs_created = t.c, runs_updated = t.u, runs_unchanged = t.k \
             FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(id, c, u, k) \
             WHERE e.id = t.id",
        )
        .bind(ts(at))
        .bind(&ids)
        .bind(counts(&|c| c.created))
        .bind(counts(&|c| c.updated))
        .bind(counts(&|c| c.unchanged))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn insert_incidents(
        &mut self,
        writes: Vec<IncidentWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<IncidentSlot>> {
        incidents::insert(self.conn()?, &writes, &ts(at)).await
    }

    async fn update_incidents(
        &mut self,
        updates: Vec<IncidentUpdate>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        incidents::update(self.conn()?, &updates, &ts(at)).await
    }

    async fn finish_incident_event(
        &mut self,
        id: &str,
        written: Vec<IncidentRecord>,
        counts: Counts,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        incidents::finish(self.conn()?, id, &written, counts, &ts(at)).await
    }

    async fn event_incidents(&mut self, id: &str) -> StoreResult<Vec<IncidentRef>> {
        incidents::event_incident_refs(self.conn()?, id).await
    }

    async fn incident_history(
        &mut self,
        incident_ids: Vec<i64>,
    ) -> StoreResult<Vec<IncidentHistory>> {
        incidents::history(self.conn()?, &incident_ids).await
    }

    async fn delete_incidents(&mut self, incident_ids: Vec<i64>) -> StoreResult<()> {
        incidents::delete(self.conn()?, &incident_ids).await
    }

    async fn event_status(&mut self, id: &str) -> StoreResult<Option<EventStatus>> {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM events WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(self.conn()?)
                .await?;
        status
            .map(|s| {
                s.parse()
                    .map_err(|_| StoreError::Other(format!("event {id} has unknown status {s:?}")))
            })
            .transpose()
    }

    async fn event_runs(&mut self, id: &str) -> StoreResult<Vec<RunRef>> {
        event_run_refs(self.conn()?, id).await
    }

    async fn run_history(&mut self, run_ids: Vec<i64>) -> StoreResult<Vec<RunHistory>> {
        let conn = self.conn()?;
        // Locked until the commit: what pruning decides from them stays true.
        let rows = sqlx::query(
            "SELECT id, event_actor, head_branch, status, conducted_at, duration, html_url, \
                commit_sha, meta \
             FROM repo_workflow_runs WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&run_ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut current: HashMap<i64, RunFields> = HashMap::with_capacity(rows.len());
        for row in &rows {
            current.insert(row.try_get("id")?, fields_from_row(row)?);
        }
        let rows = sqlx::query(
            "SELECT er.run_id, er.event_id, e.status = 'PRUNED' AS pruned, er.action, er.replaced \
             FROM event_runs er JOIN events e ON e.id = er.event_id \
             WHERE er.run_id = ANY($1) ORDER BY er.run_id, er.seq, er.event_id",
        )
        .bind(&run_ids)
        .fetch_all(&mut *conn)
        .await?;
        let mut writes: HashMap<i64, Vec<PastWrite>> = HashMap::new();
        for row in &rows {
            let action: String = row.try_get("action")?;
            let replaced: Option<String> = row.try_get("replaced")?;
            writes
                .entry(row.try_get("run_id")?)
                .or_default()
                .push(PastWrite {
                    event_id: row.try_get("event_id")?,
                    pruned: row.try_get("pruned")?,
                    action: Action::parse(&action).ok_or_else(|| bad("action", &action))?,
                    before: replaced
                        .map(|json| serde_json::from_str(&json).map_err(|_| bad("replaced", &json)))
                        .transpose()?,
                });
        }
        // In the order given, each run that exists once.
        let mut histories = Vec::with_capacity(current.len());
        for run_id in run_ids {
            if let Some(fields) = current.remove(&run_id) {
                histories.push(RunHistory {
                    run_id,
                    current: fields,
                    writes: writes.remove(&run_id).unwrap_or_default(),
                });
            }
        }
        Ok(histories)
    }

    async fn delete_runs(&mut self, run_ids: Vec<i64>) -> StoreResult<u64> {
        // It may delete workflows this transaction looked up.
        self.workflows.clear();
        let conn = self.conn()?;
        // Every event's record of the runs goes with them (no foreign key: see bulk.sql).
        sqlx::query("DELETE FROM event_runs WHERE run_id = ANY($1)")
            .bind(&run_ids)
            .execute(&mut *conn)
            .await?;
        let mut workflows: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM repo_workflow_runs WHERE id = ANY($1) RETURNING repo_workflow_id",
        )
        .bind(&run_ids)
        .fetch_all(&mut *conn)
        .await?;
        workflows.sort_unstable();
        workflows.dedup();
        // A worker adding a run to one of them holds it (FOR KEY SHARE) until its commit: wait
        // for it, so that the next statement sees the run and keeps the workflow.
        sqlx::query("SELECT 1 FROM repo_workflows WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&workflows)
            .execute(&mut *conn)
            .await?;
        let deleted = sqlx::query(
            "DELETE FROM repo_workflows w WHERE w.id = ANY($1) AND NOT EXISTS \
             (SELECT 1 FROM repo_workflow_runs wr WHERE wr.repo_workflow_id = w.id)",
        )
        .bind(&workflows)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(deleted)
    }

    async fn mark_pruned(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE events SET status = 'PRUNED', processed_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(id)
            .execute(self.conn()?)
            .await?;
        Ok(())
    }

    async fn repo_runs(&mut self, repo_id: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT wr.id FROM repo_workflow_runs wr \
             JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
             WHERE w.repo_id = $1 ORDER BY wr.id FOR UPDATE OF wr",
        )
        .bind(repo_id)
        .fetch_all(self.conn()?)
        .await?)
    }

    async fn release_events(&mut self, run_ids: Vec<i64>, at: DateTime<Utc>) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE events SET status = 'PRUNED', processed_at = $1 \
             WHERE status = 'SUCCESS' \
                AND id IN (SELECT event_id FROM event_runs WHERE run_id = ANY($2))",
        )
        .bind(ts(at))
        .bind(&run_ids)
        .execute(self.conn()?)
        .await?
        .rows_affected())
    }

    async fn unlink_repo(&mut self, repo_id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE repos SET unlinked_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(repo_id)
            .execute(self.conn()?)
            .await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        let tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Other("the transaction is over".to_owned()))?;
        tx.commit().await?;
        Ok(())
    }

    async fn rollback(mut self: Box<Self>) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            tx.rollback().await?;
        }
        Ok(())
    }
}

/// Inserts the events' event_runs rows in one statement, in write order: no `ON CONFLICT`
/// (it costs an index lookup per row), as finish_events deleted the events' records first and
/// an event writes a run once. Each row takes the
/// next place in its run's history: after the run's stored records (a created run has none),
/// the batch's writes to it in order. An updated run is locked (insert_runs), so no one else
/// numbers it meanwhile.
async fn record_writes(conn: &mut PgConnection, events: &[Finished]) -> StoreResult<()> {
    let records = || {
        events
            .iter()
            .flat_map(|e| e.written.iter().map(move |w| (e, w)))
    };
    let event_ids: Vec<&str> = records().map(|(e, _)| e.id.as_str()).collect();
    if event_ids.is_empty() {
        return Ok(());
    }
    let run_ids: Vec<i64> = records().map(|(_, w)| w.run_id).collect();
    let actions: Vec<&str> = records().map(|(_, w)| w.action.as_str()).collect();
    let replaced = records()
        .map(|(_, w)| w.before.as_ref().map(serde_json::to_string).transpose())
        .collect::<Result<Vec<Option<String>>, _>>()
        .map_err(|e| StoreError::Other(format!("a run's fields as JSON: {e}")))?;
    sqlx::query(
        "INSERT INTO event_runs (event_id, run_id, action, replaced, seq) \
         SELECT e, r, a, x, row_number() OVER (PARTITION BY r ORDER BY n) + \
            CASE WHEN a = 'created' THEN 0 ELSE \
                (SELECT COALESCE(MAX(seq), 0) FROM event_runs WHERE run_id = r) END \
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) \
            WITH ORDINALITY AS t(e, r, a, x, n) \
         ORDER BY n",
    )
    .bind(&event_ids)
    .bind(&run_ids)
    .bind(&actions)
    .bind(&replaced)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The id of the workflow of that name in the repo, created when missing, and locked against
/// deletion until the commit (a prune deletes workflows it empties: see workflow_lock.sql).
/// Concurrent creators meet on the unique constraint: the loser waits for the winner's commit
/// and reads its row. A workflow deleted between the two statements is created again.
async fn workflow_id(
    conn: &mut PgConnection,
    repo_id: i64,
    name: &str,
    now: &str,
) -> StoreResult<i64> {
    // Each turn but the last loses only to a prune that committed in between.
    for _ in 0..3 {
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO repo_workflows (repo_id, type, provider, provider_workflow_id, name, \
                is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4, TRUE, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(repo_id)
        .bind(WORKFLOW_TYPE)
        .bind(WORKFLOW_PROVIDER)
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = created {
            return Ok(id);
        }
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM repo_workflows \
             WHERE repo_id = $1 AND provider = $2 AND provider_workflow_id = $3 FOR KEY SHARE",
        )
        .bind(repo_id)
        .bind(WORKFLOW_PROVIDER)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = found {
            return Ok(id);
        }
    }
    Err(StoreError::Transient(format!(
        "the workflow {name:?} was deleted each time it was looked up"
    )))
}

/// Inserts the new runs (one statement), then reads and locks the stored ones (one more):
/// two round trips per batch, not per run. The rows go in key order, so that two instances
/// writing overlapping batches wait for each other instead of deadlocking. Of two entries for
/// one run, the first is the one inserted and the second finds it, as row by row.
async fn insert_batch(
    conn: &mut PgConnection,
    runs: &[(i64, &RunWrite)],
    now: &str,
) -> StoreResult<Vec<Slot>> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| {
        (runs[a].0, &runs[a].1.unique_id).cmp(&(runs[b].0, &runs[b].1.unique_id))
    });
    let column = |f: &dyn Fn(&RunWrite) -> Option<String>| -> Vec<Option<String>> {
        order.iter().map(|&i| f(runs[i].1)).collect()
    };
    let workflow_ids: Vec<i64> = order.iter().map(|&i| runs[i].0).collect();
    let unique_ids = column(&|r| Some(r.unique_id.clone()));
    let durations: Vec<Option<i64>> = order.iter().map(|&i| runs[i].1.fields.duration).collect();
    let created = sqlx::query(
        "INSERT INTO repo_workflow_runs (repo_workflow_id, provider_workflow_run_id, \
            event_actor, head_branch, status, conducted_at, duration, html_url, \
            commit_sha, meta, created_at, updated_at) \
         SELECT w, u, a, b, s, c, d, h, x, m, $11, $11 FROM unnest($1::bigint[], $2::text[], \
            $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], \
            $9::text[], $10::text[]) WITH ORDINALITY AS t(w, u, a, b, s, c, d, h, x, m, n) \
         ORDER BY n \
         ON CONFLICT DO NOTHING RETURNING id, repo_workflow_id, provider_workflow_run_id",
    )
    .bind(&workflow_ids)
    .bind(&unique_ids)
    .bind(column(&|r| Some(r.fields.event_actor.clone())))
    .bind(column(&|r| Some(r.fields.head_branch.clone())))
    .bind(column(&|r| Some(r.fields.status.as_str().to_owned())))
    .bind(column(&|r| Some(ts(r.fields.conducted_at))))
    .bind(&durations)
    .bind(column(&|r| r.fields.html_url.clone()))
    .bind(column(&|r| r.fields.commit_sha.clone()))
    .bind(column(&|r| r.fields.meta.clone()))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut new: HashMap<(i64, String), i64> = HashMap::with_capacity(created.len());
    for row in &created {
        new.insert(
            (
                row.try_get("repo_workflow_id")?,
                row.try_get("provider_workflow_run_id")?,
            ),
            row.try_get("id")?,
        );
    }
    // Every entry not inserted now finds its stored row (an earlier entry's, or older).
    let mut slots: Vec<Option<Slot>> = vec![None; runs.len()];
    let mut rest: (Vec<i64>, Vec<String>) = (Vec::new(), Vec::new());
    for (i, (workflow_id, run)) in runs.iter().enumerate() {
        match new.remove(&(*workflow_id, run.unique_id.clone())) {
            Some(run_id) => slots[i] = Some(Slot::Created(run_id)),
            None => {
                rest.0.push(*workflow_id);
                rest.1.push(run.unique_id.clone());
            }
        }
    }
    if !rest.0.is_empty() {
        let rows = sqlx::query(
            "SELECT id, repo_workflow_id, provider_workflow_run_id, event_actor, head_branch, \
                status, conducted_at, duration, html_url, commit_sha, meta \
             FROM repo_workflow_runs \
             WHERE (repo_workflow_id, provider_workflow_run_id) IN \
                (SELECT * FROM unnest($1::bigint[], $2::text[])) \
             ORDER BY repo_workflow_id, provider_workflow_run_id FOR UPDATE",
        )
        .bind(&rest.0)
        .bind(&rest.1)
        .fetch_all(&mut *conn)
        .await?;
        let mut stored: HashMap<(i64, String), (i64, RunFields)> = HashMap::new();
        for row in &rows {
            stored.insert(
                (
                    row.try_get("repo_workflow_id")?,
                    row.try_get("provider_workflow_run_id")?,
                ),
                (row.try_get("id")?, fields_from_row(row)?),
            );
        }
        for (i, (workflow_id, run)) in runs.iter().enumerate() {
            if slots[i].is_some() {
                continue;
            }
            let (run_id, fields) = stored
                .get(&(*workflow_id, run.unique_id.clone()))
                .ok_or_else(|| {
                    StoreError::Other(format!("run {} was neither new nor stored", run.unique_id))
                })?;
            slots[i] = Some(Slot::Exists {
                run_id: *run_id,
                stored: fields.clone(),
            });
        }
    }
    Ok(slots.into_iter().flatten().collect())
}
