//! Writing one event's runs inside its transaction: the upsert rules.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mwctl::protocol::{Run, RunStatus};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};

use crate::store::{Counts, StoreResult, parse_ts, ts};

/// event_runs rows per INSERT statement (3 parameters each, well under SQLite's limit).
const RECORDS_PER_INSERT: usize = 100;

/// A run's stored columns, to compare with what an event brings.
#[derive(PartialEq)]
struct RunRow {
    event_actor: String,
    head_branch: String,
    status: String,
    conducted_at: String,
    duration: Option<i64>,
    html_url: Option<String>,
    commit_sha: Option<String>,
    meta: Option<String>,
}

/// Writes one event's runs inside its transaction.
pub struct RunWriter<'a> {
    tx: &'a Transaction<'a>,
    event_id: &'a str,
    received_at: DateTime<Utc>,
    now: String,
    /// (run id, action) rows for event_runs, inserted together at the end.
    records: Vec<(i64, &'static str)>,
    /// repo id → workflow name → workflow id, so a batch looks each workflow up once.
    workflows: HashMap<i64, HashMap<String, i64>>,
    counts: Counts,
}

impl<'a> RunWriter<'a> {
    pub fn new(
        tx: &'a Transaction<'a>,
        event_id: &'a str,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> RunWriter<'a> {
        RunWriter {
            tx,
            event_id,
            received_at,
            now: ts(now),
            records: Vec::new(),
            workflows: HashMap::new(),
            counts: Counts::default(),
        }
    }

    /// Writes the event_runs rows; returns what the event did.
    pub fn finish(mut self) -> StoreResult<Counts> {
        self.flush_records()?;
        Ok(self.counts)
    }

    fn workflow(&mut self, repo_id: i64, name: &str) -> StoreResult<i64> {
        if let Some(id) = self.workflows.get(&repo_id).and_then(|w| w.get(name)) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM repo_workflows \
                 WHERE repo_id = ?1 AND provider = 'WEBHOOK' AND provider_workflow_id = ?2",
            )?
            .query_row(params![repo_id, name], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO repo_workflows (repo_id, type, provider, \
                            provider_workflow_id, name, is_active, created_at, updated_at) \
                         VALUES (?1, 'DEPLOYMENT', 'WEBHOOK', ?2, ?2, TRUE, ?3, ?3)",
                    )?
                    .execute(params![repo_id, name, self.now])?;
                self.tx.last_insert_rowid()
            }
        };
        self.workflows
            .entry(repo_id)
            .or_default()
            .insert(name.to_owned(), id);
        Ok(id)
    }

    /// Gets or creates the run's workflow in the repo, then inserts or updates the run.
    pub fn upsert(&mut self, repo_id: i64, run: &Run) -> StoreResult<()> {
        let workflow_id = self.workflow(repo_id, &run.workflow_name)?;
        let mut new = RunRow {
            event_actor: run.event_actor.clone(),
            head_branch: run.head_branch.clone(),
            status: run.status.as_str().to_owned(),
            conducted_at: ts(run.workflow_run_conducted_at.to_utc()),
            duration: run.duration,
            html_url: run.html_url.clone(),
            commit_sha: run.commit_sha.clone(),
            meta: run
                .meta
                .as_ref()
                .and_then(|m| serde_json::to_string(m).ok()),
        };
        // Insert first: in a backfill almost every run is new, and this saves a lookup.
        if let Some(run_id) = self.insert(workflow_id, &run.workflow_run_unique_id, &new)? {
            self.counts.created += 1;
            return self.record(run_id, "created");
        }
        let (run_id, old) = self
            .tx
            .prepare_cached(
                "SELECT id, event_actor, head_branch, status, conducted_at, duration, html_url, \
                    commit_sha, meta \
                 FROM repo_workflow_runs \
                 WHERE repo_workflow_id = ?1 AND provider_workflow_run_id = ?2",
            )?
            .query_row(params![workflow_id, run.workflow_run_unique_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    RunRow {
                        event_actor: row.get(1)?,
                        head_branch: row.get(2)?,
                        status: row.get(3)?,
                        conducted_at: row.get(4)?,
                        duration: row.get(5)?,
                        html_url: row.get(6)?,
                        commit_sha: row.get(7)?,
                        meta: row.get(8)?,
                    },
                ))
            })?;
        let old_pending = old.status == RunStatus::Pending.as_str();
        // Events arrive out of order: a PENDING run never overwrites a final status.
        if run.status == RunStatus::Pending && !old_pending {
            self.counts.unchanged += 1;
            return Ok(());
        }
        if new.duration.is_none() {
            new.duration = if run.status.is_final() && old_pending {
                // The final status of a started run: it took from its start until now.
                parse_ts(&old.conducted_at)
                    .map(|started| (self.received_at - started).num_seconds().max(0))
            } else {
                old.duration
            };
        }
        // Optional fields an update leaves out keep what was known.
        new.html_url = new.html_url.or(old.html_url.clone());
        new.commit_sha = new.commit_sha.or(old.commit_sha.clone());
        new.meta = new.meta.or(old.meta.clone());
        if new == old {
            self.counts.unchanged += 1;
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "UPDATE repo_workflow_runs SET event_actor = ?1, head_branch = ?2, status = ?3, \
                    conducted_at = ?4, duration = ?5, html_url = ?6, commit_sha = ?7, meta = ?8, \
                    updated_at = ?9 \
                 WHERE id = ?10",
            )?
            .execute(params![
                new.event_actor,
                new.head_branch,
                new.status,
                new.conducted_at,
                new.duration,
                new.html_url,
                new.commit_sha,
                new.meta,
                self.now,
                run_id
            ])?;
        self.counts.updated += 1;
        self.record(run_id, "updated")
    }

    /// Inserts a new run; `None` when the workflow already has a run with this id.
    fn insert(&self, workflow_id: i64, unique_id: &str, row: &RunRow) -> StoreResult<Option<i64>> {
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO repo_workflow_runs (repo_workflow_id, provider_workflow_run_id, \
                    event_actor, head_branch, status, conducted_at, duration, html_url, \
                    commit_sha, meta, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                workflow_id,
                unique_id,
                row.event_actor,
                row.head_branch,
                row.status,
                row.conducted_at,
                row.duration,
                row.html_url,
                row.commit_sha,
                row.meta,
                self.now
            ])?;
        Ok((inserted == 1).then(|| self.tx.last_insert_rowid()))
    }

    /// Remembers that this event wrote the run; written out by `flush_records`.
    fn record(&mut self, run_id: i64, action: &'static str) -> StoreResult<()> {
        self.records.push((run_id, action));
        Ok(())
    }

    /// Inserts the event's event_runs rows, many per statement (far cheaper than one each).
    fn flush_records(&mut self) -> StoreResult<()> {
        for chunk in self.records.chunks(RECORDS_PER_INSERT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(?1, ?{}, ?{})", 2 * i + 2, 2 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO event_runs (event_id, run_id, action) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            let mut args: Vec<SqlValue> = Vec::with_capacity(1 + 2 * chunk.len());
            args.push(SqlValue::Text(self.event_id.to_owned()));
            for (run_id, action) in chunk {
                args.push(SqlValue::Integer(*run_id));
                args.push(SqlValue::Text((*action).to_owned()));
            }
            self.tx
                .prepare_cached(&sql)?
                .execute(params_from_iter(args))?;
        }
        self.records.clear();
        Ok(())
    }
}
