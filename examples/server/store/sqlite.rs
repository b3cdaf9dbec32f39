//! The SQLite store: one writer connection behind a mutex (SQLite allows one writer at a time;
//! a mutex hands it over without the busy handler's sleeps) and a small pool of readers, which
//! WAL mode lets run beside the writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mwctl::protocol::admin::{
    ApiKey, Event, EventDetail, EventStatus, PruneReport, Repo, RunRef, Scope, StoredRun,
};
use mwctl::protocol::{RepoRef, Run, RunStatus};
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior, params,
    params_from_iter,
};

use super::{
    Applied, Claimed, Counts, EventQuery, Inserted, KeyRecord, NewEvent, Pruned, Revoked, RunQuery,
    Store, StoreError, StoreResult, parse_ts, ts,
};
use crate::resolve::resolve_runs;

/// Schema versions, applied in order at open; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the background thread copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL pages after which a commit checkpoints by itself: only a backstop, should the
/// background thread fall behind (4 KiB pages: 80 MiB).
const AUTOCHECKPOINT_PAGES: i64 = 20_000;

/// event_runs rows per INSERT statement (3 parameters each, well under SQLite's limit).
const RECORDS_PER_INSERT: usize = 100;

/// Statuses whose webhook-id blocks a repeat (see the events_webhook_id index).
const DEDUPE_STATUSES: &str = "('WAITING', 'RUNNING', 'SUCCESS')";

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Tells the checkpoint thread to end.
    closing: Arc<AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        let transient = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure)
        );
        if transient {
            StoreError::Transient(e.to_string())
        } else {
            StoreError::Other(e.to_string())
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let mut writer = connect(path)?;
        // WAL persists in the file; readers then never block the writer or each other.
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        // 16 MiB of page cache (the default is 2 MiB) for the indexes that upserts probe.
        writer.pragma_update(None, "cache_size", -16_384)?;
        migrate(&mut writer)?;
        let closing = Arc::new(AtomicBool::new(false));
        spawn_checkpointer(connect(path)?, Arc::clone(&closing))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            closing,
        })
    }

    /// Runs `f` on the writer connection.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        // A panic elsewhere cannot leave a transaction open (rusqlite rolls back on drop).
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn)
    }

    /// Runs `f` on a pooled read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.pragma_update(None, "query_only", "ON")?;
                conn.pragma_update(None, "cache_size", -16_384)?;
                conn
            }
        };
        let result = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// Checkpoints from a thread of its own, so that copying the WAL into the database never
/// happens inside a commit that ingest is waiting for. PASSIVE: it never blocks the writer.
fn spawn_checkpointer(conn: Connection, closing: Arc<AtomicBool>) -> StoreResult<()> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            while !closing.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                // A failure (busy, say) is retried on the next tick.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })
        .map(drop)
        .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // NORMAL in WAL mode: a commit survives a crash of the process; a power loss may lose the
    // last commits but never corrupts the database.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Not enforced: each check is an index lookup per written row, and the writer is the
    // bottleneck. The store deletes dependent rows itself (unlink_repo, prune_event).
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Other(format!(
            "the database has schema version {version}, newer than this server's {known}; run a newer server"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Maps a text column that holds one of our timestamps.
fn ts_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    parse_ts(&s).ok_or_else(|| bad_column(idx, &s))
}

/// Counts are stored as SQL integers (signed 64-bit).
fn count_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n).map_err(|_| bad_column(idx, &n.to_string()))
}

fn opt_ts_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| parse_ts(&s).ok_or_else(|| bad_column(idx, &s)))
        .transpose()
}

fn bad_column(idx: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        rusqlite::types::Type::Text,
        format!("unexpected stored value {value:?}").into(),
    )
}

fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split(',').filter_map(|s| s.parse().ok()).collect()
}

const KEY_COLUMNS: &str =
    "id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at, key_hash";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let scopes: String = row.get(3)?;
    Ok(KeyRecord {
        key: ApiKey {
            id: row.get(0)?,
            name: row.get(1)?,
            prefix: row.get(2)?,
            scopes: scopes_from_text(&scopes),
            created_at: ts_col(row, 4)?,
            expires_at: opt_ts_col(row, 5)?,
            last_used_at: opt_ts_col(row, 6)?,
            revoked_at: opt_ts_col(row, 7)?,
        },
        key_hash: row.get(8)?,
    })
}

const REPO_COLUMNS: &str = "id, host, org, name, created_at";

fn repo_from_row(row: &Row<'_>) -> rusqlite::Result<Repo> {
    let host: String = row.get(1)?;
    let org: String = row.get(2)?;
    let name: String = row.get(3)?;
    Ok(Repo {
        id: row.get(0)?,
        url: format!("https://{host}/{org}/{name}"),
        host,
        org,
        name,
        created_at: ts_col(row, 4)?,
    })
}

fn list_repos_on(conn: &Connection) -> StoreResult<Vec<Repo>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {REPO_COLUMNS} FROM repos ORDER BY id"))?;
    let repos = stmt
        .query_map([], repo_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(repos)
}

const EVENT_COLUMNS: &str = "id, key_id, request_type, webhook_id, received_at, status, error, \
     attempts, processed_at, runs_received, runs_created, runs_updated, runs_unchanged";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let status: String = row.get(5)?;
    Ok(Event {
        id: row.get(0)?,
        key_id: row.get(1)?,
        request_type: row.get(2)?,
        webhook_id: row.get(3)?,
        received_at: ts_col(row, 4)?,
        status: status.parse().map_err(|_| bad_column(5, &status))?,
        error: row.get(6)?,
        attempts: row.get(7)?,
        processed_at: opt_ts_col(row, 8)?,
        runs_received: count_col(row, 9)?,
        runs_created: count_col(row, 10)?,
        runs_updated: count_col(row, 11)?,
        runs_unchanged: count_col(row, 12)?,
    })
}

fn event_status(conn: &Connection, id: &str) -> StoreResult<Option<EventStatus>> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM events WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    status
        .map(|s| {
            s.parse()
                .map_err(|_| StoreError::Other(format!("event {id} has unknown status {s:?}")))
        })
        .transpose()
}

/// The runs an event wrote, for its detail and its prune report.
fn event_run_refs(conn: &Connection, event_id: &str) -> StoreResult<Vec<RunRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT er.run_id, er.action, r.org || '/' || r.name, w.name, \
                wr.provider_workflow_run_id, wr.status \
         FROM event_runs er \
         JOIN repo_workflow_runs wr ON wr.id = er.run_id \
         JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
         JOIN repos r ON r.id = w.repo_id \
         WHERE er.event_id = ?1 ORDER BY er.run_id",
    )?;
    let refs = stmt
        .query_map([event_id], |row| {
            Ok(RunRef {
                run_id: row.get(0)?,
                action: row.get(1)?,
                repo: row.get(2)?,
                workflow: row.get(3)?,
                unique_id: row.get(4)?,
                status: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(refs)
}

fn find_duplicate_on(
    conn: &Connection,
    key_id: &str,
    webhook_id: &str,
) -> StoreResult<Option<String>> {
    let sql = format!(
        "SELECT response FROM events \
         WHERE key_id = ?1 AND webhook_id = ?2 AND status IN {DEDUPE_STATUSES} LIMIT 1"
    );
    let response = conn
        .prepare_cached(&sql)?
        .query_row(params![key_id, webhook_id], |row| row.get(0))
        .optional()?;
    Ok(response)
}

impl Store for SqliteStore {
    fn count_keys(&self) -> StoreResult<u64> {
        self.read(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
    }

    fn insert_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        self.write(|conn| {
            conn.prepare_cached(
                "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                key.id,
                key.name,
                key.prefix,
                key_hash,
                scopes_to_text(&key.scopes),
                ts(key.created_at),
                key.expires_at.map(ts),
            ])?;
            Ok(())
        })
    }

    fn find_key(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1");
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([key_hash], key_from_row)
                .optional()?)
        })
    }

    fn touch_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            conn.prepare_cached("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")?
                .execute(params![ts(at), id])?;
            Ok(())
        })
    }

    fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(|conn| {
            let sql =
                format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC");
            let keys = conn
                .prepare_cached(&sql)?
                .query_map([], |row| key_from_row(row).map(|k| k.key))?
                .collect::<Result<_, _>>()?;
            Ok(keys)
        })
    }

    fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<Revoked> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let keys: Vec<KeyRecord> = tx
                .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys"))?
                .query_map([], key_from_row)?
                .collect::<Result<_, _>>()?;
            let Some(target) = keys.iter().find(|k| k.key.id == id) else {
                return Ok(Revoked::NotFound);
            };
            if target.key.revoked_at.is_some() {
                return Ok(Revoked::Done(target.key.clone()));
            }
            let usable_admin = |k: &KeyRecord| k.is_usable(at) && k.has_scope(Scope::Admin);
            if usable_admin(target) && !keys.iter().any(|k| k.key.id != id && usable_admin(k)) {
                return Ok(Revoked::LastAdmin);
            }
            tx.prepare_cached("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2")?
                .execute(params![ts(at), id])?;
            tx.commit()?;
            let mut key = target.key.clone();
            key.revoked_at = Some(at);
            Ok(Revoked::Done(key))
        })
    }

    fn link_repo(&self, repo: &RepoRef, at: DateTime<Utc>) -> StoreResult<(Repo, bool)> {
        self.write(|conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO repos (host, org, name, created_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![repo.host, repo.org, repo.name, ts(at)])?;
            let sql = format!(
                "SELECT {REPO_COLUMNS} FROM repos \
                 WHERE lower(host) = lower(?1) AND lower(org) = lower(?2) AND lower(name) = lower(?3)"
            );
            let stored = conn.prepare_cached(&sql)?.query_row(
                params![repo.host, repo.org, repo.name],
                repo_from_row,
            )?;
            Ok((stored, inserted == 1))
        })
    }

    fn list_repos(&self) -> StoreResult<Vec<Repo>> {
        self.read(list_repos_on)
    }

    fn unlink_repo(&self, id: i64) -> StoreResult<Option<Repo>> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sql = format!("SELECT {REPO_COLUMNS} FROM repos WHERE id = ?1");
            let repo = tx
                .prepare_cached(&sql)?
                .query_row([id], repo_from_row)
                .optional()?;
            if repo.is_some() {
                // The repo's workflows, their runs, and what events recorded of those runs.
                for sql in [
                    "DELETE FROM event_runs WHERE run_id IN (SELECT wr.id FROM repo_workflow_runs wr \
                        JOIN repo_workflows w ON w.id = wr.repo_workflow_id WHERE w.repo_id = ?1)",
                    "DELETE FROM repo_workflow_runs WHERE repo_workflow_id IN \
                        (SELECT id FROM repo_workflows WHERE repo_id = ?1)",
                    "DELETE FROM repo_workflows WHERE repo_id = ?1",
                    "DELETE FROM repos WHERE id = ?1",
                ] {
                    tx.prepare_cached(sql)?.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(repo)
        })
    }

    fn find_duplicate(&self, key_id: &str, webhook_id: &str) -> StoreResult<Option<String>> {
        self.read(|conn| find_duplicate_on(conn, key_id, webhook_id))
    }

    fn insert_event(&self, event: &NewEvent) -> StoreResult<Inserted> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO events (id, key_id, request_type, webhook_id, received_at, \
                        response, status, error, attempts, runs_received) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9) \
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    event.id,
                    event.key_id,
                    event.request_type,
                    event.webhook_id,
                    ts(event.received_at),
                    event.response,
                    event.status.as_str(),
                    event.error,
                    event.runs_received as i64,
                ])?;
            if inserted == 1 {
                if let Some(body) = &event.body {
                    tx.prepare_cached("INSERT INTO event_bodies (event_id, body) VALUES (?1, ?2)")?
                        .execute(params![event.id, body])?;
                }
                tx.commit()?;
                return Ok(Inserted::New);
            }
            let conn = &tx;
            // Only the webhook-id index can conflict (event ids are unique by construction).
            let winner = match &event.webhook_id {
                Some(webhook_id) => find_duplicate_on(conn, &event.key_id, webhook_id)?,
                None => None,
            };
            winner.map(Inserted::Duplicate).ok_or_else(|| {
                StoreError::Other(format!("event {} conflicts with a stored event", event.id))
            })
        })
    }

    fn list_events(&self, query: &EventQuery) -> StoreResult<Vec<Event>> {
        self.read(|conn| {
            let mut filters = Vec::new();
            let mut args: Vec<SqlValue> = Vec::new();
            if let Some(status) = query.status {
                args.push(SqlValue::Text(status.as_str().to_owned()));
                filters.push(format!("status = ?{}", args.len()));
            }
            if let Some(before) = &query.before {
                args.push(SqlValue::Text(before.clone()));
                filters.push(format!("id < ?{}", args.len()));
            }
            args.push(SqlValue::Integer(i64::from(query.limit)));
            let filter = if filters.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", filters.join(" AND "))
            };
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events {filter} ORDER BY id DESC LIMIT ?{}",
                args.len()
            );
            let events = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(args), event_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(events)
        })
    }

    fn event_detail(&self, id: &str) -> StoreResult<Option<EventDetail>> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {EVENT_COLUMNS}, b.body, response \
                 FROM events LEFT JOIN event_bodies b ON b.event_id = id WHERE id = ?1"
            );
            let found = conn
                .prepare_cached(&sql)?
                .query_row([id], |row| {
                    let event = event_from_row(row)?;
                    let body: Option<Vec<u8>> = row.get(13)?;
                    let response: String = row.get(14)?;
                    Ok((event, body, response))
                })
                .optional()?;
            let Some((event, body, response)) = found else {
                return Ok(None);
            };
            let response =
                serde_json::from_str(&response).unwrap_or(serde_json::Value::String(response));
            Ok(Some(EventDetail {
                event,
                body: body.map(|b| String::from_utf8_lossy(&b).into_owned()),
                response,
                runs: event_run_refs(conn, id)?,
            }))
        })
    }

    fn prune_event(&self, id: &str, dry_run: bool, at: DateTime<Utc>) -> StoreResult<Pruned> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(status) = event_status(&tx, id)? else {
                return Ok(Pruned::NotFound);
            };
            let mut report = PruneReport {
                event_id: id.to_owned(),
                dry_run,
                already_pruned: false,
                runs: Vec::new(),
                workflows_deleted: 0,
            };
            match status {
                EventStatus::Waiting | EventStatus::Running => {
                    return Ok(Pruned::NotProcessed(status));
                }
                EventStatus::Pruned => {
                    report.already_pruned = true;
                    return Ok(Pruned::Done(report));
                }
                EventStatus::Success | EventStatus::Failure | EventStatus::Rejected => {}
            }
            report.runs = event_run_refs(&tx, id)?;
            let workflows: Vec<i64> = tx
                .prepare_cached(
                    "SELECT DISTINCT wr.repo_workflow_id FROM event_runs er \
                     JOIN repo_workflow_runs wr ON wr.id = er.run_id WHERE er.event_id = ?1",
                )?
                .query_map([id], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            // The runs, and every event's event_runs rows for them.
            for sql in [
                "DELETE FROM repo_workflow_runs \
                 WHERE id IN (SELECT run_id FROM event_runs WHERE event_id = ?1)",
                "DELETE FROM event_runs \
                 WHERE run_id IN (SELECT run_id FROM event_runs WHERE event_id = ?1)",
            ] {
                tx.prepare_cached(sql)?.execute([id])?;
            }
            for workflow in workflows {
                report.workflows_deleted += tx
                    .prepare_cached(
                        "DELETE FROM repo_workflows WHERE id = ?1 AND NOT EXISTS \
                         (SELECT 1 FROM repo_workflow_runs WHERE repo_workflow_id = ?1)",
                    )?
                    .execute([workflow])? as u64;
            }
            tx.prepare_cached(
                "UPDATE events SET status = 'PRUNED', processed_at = ?1 WHERE id = ?2",
            )?
            .execute(params![ts(at), id])?;
            // A dry run does all of it and rolls back, so its report is exactly what would happen.
            if !dry_run {
                tx.commit()?;
            }
            Ok(Pruned::Done(report))
        })
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<StoredRun>> {
        self.read(|conn| {
            let mut filters = Vec::new();
            let mut args: Vec<SqlValue> = Vec::new();
            let mut filter = |column: &str, value: &str, args: &mut Vec<SqlValue>| {
                args.push(SqlValue::Text(value.to_owned()));
                filters.push(format!("lower({column}) = lower(?{})", args.len()));
            };
            if let Some(repo) = &query.repo {
                filter("r.name", &repo.name, &mut args);
                if let Some(org) = &repo.org {
                    filter("r.org", org, &mut args);
                }
                if let Some(host) = &repo.host {
                    filter("r.host", host, &mut args);
                }
            }
            if let Some(workflow) = &query.workflow {
                args.push(SqlValue::Text(workflow.clone()));
                filters.push(format!("w.name = ?{}", args.len()));
            }
            args.push(SqlValue::Integer(i64::from(query.limit)));
            let filter = if filters.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", filters.join(" AND "))
            };
            let sql = format!(
                "SELECT wr.id, r.org || '/' || r.name, w.name, wr.provider_workflow_run_id, \
                    wr.event_actor, wr.head_branch, wr.status, wr.conducted_at, wr.duration, \
                    wr.html_url, wr.commit_sha, wr.meta, wr.created_at, wr.updated_at \
                 FROM repo_workflow_runs wr \
                 JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
                 JOIN repos r ON r.id = w.repo_id \
                 {filter} ORDER BY wr.conducted_at DESC, wr.id DESC LIMIT ?{}",
                args.len()
            );
            let runs = conn
                .prepare_cached(&sql)?
                .query_map(params_from_iter(args), |row| {
                    let meta: Option<String> = row.get(11)?;
                    Ok(StoredRun {
                        id: row.get(0)?,
                        repo: row.get(1)?,
                        workflow: row.get(2)?,
                        workflow_run_unique_id: row.get(3)?,
                        event_actor: row.get(4)?,
                        head_branch: row.get(5)?,
                        status: row.get(6)?,
                        conducted_at: ts_col(row, 7)?,
                        duration: row.get(8)?,
                        html_url: row.get(9)?,
                        commit_sha: row.get(10)?,
                        meta: meta.and_then(|m| serde_json::from_str(&m).ok()),
                        created_at: ts_col(row, 12)?,
                        updated_at: ts_col(row, 13)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(runs)
        })
    }

    fn requeue_running(&self) -> StoreResult<u64> {
        self.write(|conn| {
            let n = conn.execute(
                "UPDATE events SET status = 'WAITING' WHERE status = 'RUNNING'",
                [],
            )?;
            Ok(n as u64)
        })
    }

    fn claim_next(&self) -> StoreResult<Option<Claimed>> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let claimed = tx
                .prepare_cached(
                    "SELECT id, request_type, received_at, b.body, attempts + 1 \
                     FROM events LEFT JOIN event_bodies b ON b.event_id = id \
                     WHERE status = 'WAITING' ORDER BY id LIMIT 1",
                )?
                .query_row([], |row| {
                    Ok(Claimed {
                        id: row.get(0)?,
                        request_type: row.get(1)?,
                        received_at: ts_col(row, 2)?,
                        body: row.get(3)?,
                        attempts: row.get(4)?,
                    })
                })
                .optional()?;
            if let Some(event) = &claimed {
                tx.prepare_cached(
                    "UPDATE events SET status = 'RUNNING', attempts = ?1 WHERE id = ?2",
                )?
                .execute(params![event.attempts, event.id])?;
            }
            tx.commit()?;
            Ok(claimed)
        })
    }

    fn add_attempt(&self, id: &str) -> StoreResult<u32> {
        self.write(|conn| {
            conn.prepare_cached("UPDATE events SET attempts = attempts + 1 WHERE id = ?1")?
                .execute([id])?;
            Ok(conn
                .prepare_cached("SELECT attempts FROM events WHERE id = ?1")?
                .query_row([id], |row| row.get(0))?)
        })
    }

    fn apply_event(
        &self,
        id: &str,
        runs: &[Run],
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let repos = list_repos_on(&tx)?;
            let targets = match resolve_runs(runs, &repos) {
                Ok(targets) => targets,
                Err(errors) => {
                    let first: Vec<String> = errors.iter().take(3).map(|e| e.to_string()).collect();
                    return Ok(Applied::Unresolved(format!(
                        "a repository was unlinked after the request was accepted; nothing was written ({}{}); link it again and re-send the batch",
                        first.join("; "),
                        if errors.len() > 3 { "; ..." } else { "" }
                    )));
                }
            };
            // Reprocessing after a crash starts from a clean slate for this event.
            tx.prepare_cached("DELETE FROM event_runs WHERE event_id = ?1")?
                .execute([id])?;
            let mut writer = RunWriter {
                tx: &tx,
                event_id: id,
                received_at,
                now: ts(now),
                records: Vec::new(),
                workflows: HashMap::new(),
                counts: Counts::default(),
            };
            for (run, repo_ids) in runs.iter().zip(targets) {
                for repo_id in repo_ids {
                    writer.upsert(repo_id, run)?;
                }
            }
            writer.flush_records()?;
            let counts = writer.counts;
            tx.prepare_cached(
                "UPDATE events SET status = 'SUCCESS', error = NULL, processed_at = ?1, \
                    runs_created = ?2, runs_updated = ?3, runs_unchanged = ?4 WHERE id = ?5",
            )?
            .execute(params![
                ts(now),
                counts.created as i64,
                counts.updated as i64,
                counts.unchanged as i64,
                id
            ])?;
            tx.commit()?;
            Ok(Applied::Done(counts))
        })
    }

    fn fail_event(&self, id: &str, error: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.write(|conn| {
            conn.prepare_cached(
                "UPDATE events SET status = 'FAILURE', error = ?1, processed_at = ?2 WHERE id = ?3",
            )?
            .execute(params![error, ts(at), id])?;
            Ok(())
        })
    }
}

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
struct RunWriter<'a> {
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

impl RunWriter<'_> {
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

    fn upsert(&mut self, repo_id: i64, run: &Run) -> StoreResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use mwctl::protocol::parse_batch;
    use serde_json::{Value, json};

    use crate::ids;
    use crate::store::RepoFilter;

    struct Fixture {
        _dir: tempfile::TempDir,
        path: PathBuf,
        store: SqliteStore,
        key_id: String,
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).expect("valid timestamp")
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test.db");
        let store = SqliteStore::open(&path).expect("opens");
        let (key, secret) = ids::mint_key(
            "test",
            vec![Scope::Admin, Scope::Deployments],
            None,
            at("2025-01-01T00:00:00Z"),
        )
        .expect("key");
        store
            .insert_key(&key, &mwctl::protocol::signing::key_digest_hex(&secret))
            .expect("stored");
        for url in [
            "https://github.com/acme/shop",
            "https://github.com/acme/api",
        ] {
            let repo = RepoRef::parse_url(url).expect("url");
            store
                .link_repo(&repo, at("2025-01-01T00:00:00Z"))
                .expect("linked");
        }
        Fixture {
            _dir: dir,
            path,
            store,
            key_id: key.id,
        }
    }

    fn run(repo: &str, workflow: &str, id: &str, status: &str, duration: Option<i64>) -> Value {
        let mut run = json!({
            "workflow_name": workflow,
            "repo_urls": [format!("https://github.com/acme/{repo}")],
            "event_actor": "alice",
            "head_branch": "main",
            "workflow_run_unique_id": id,
            "status": status,
            "workflow_run_conducted_at": "2025-01-10T10:00:00Z",
        });
        if let Some(duration) = duration {
            run["duration"] = json!(duration);
        }
        run
    }

    impl Fixture {
        /// Stores an accepted event and returns its id.
        fn ingest(&self, runs: Vec<Value>, received_at: &str, webhook_id: Option<&str>) -> String {
            let id = ids::event_id();
            let body = serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json");
            let event = NewEvent {
                id: id.clone(),
                key_id: self.key_id.clone(),
                request_type: "workflow".to_owned(),
                webhook_id: webhook_id.map(str::to_owned),
                received_at: at(received_at),
                body: Some(body),
                response: format!(
                    "{{\"status\":\"accepted\",\"event_id\":\"{id}\",\"accepted\":1,\"message\":\"m\"}}"
                ),
                status: EventStatus::Waiting,
                error: None,
                runs_received: 1,
            };
            assert!(matches!(
                self.store.insert_event(&event).expect("stored"),
                Inserted::New
            ));
            id
        }

        /// Claims the next event and applies it, as the worker does.
        fn process(&self) -> Applied {
            let claimed = self
                .store
                .claim_next()
                .expect("claims")
                .expect("one waiting");
            let body = claimed.body.expect("body");
            let runs = parse_batch(&body, claimed.received_at).expect("valid");
            self.store
                .apply_event(&claimed.id, &runs, claimed.received_at, Utc::now())
                .expect("applies")
        }

        fn runs(&self) -> Vec<StoredRun> {
            self.store
                .list_runs(&RunQuery {
                    limit: 100,
                    ..RunQuery::default()
                })
                .expect("lists")
        }

        fn event(&self, id: &str) -> EventDetail {
            self.store.event_detail(id).expect("reads").expect("exists")
        }
    }

    fn counts(created: u64, updated: u64, unchanged: u64) -> Applied {
        Applied::Done(Counts {
            created,
            updated,
            unchanged,
        })
    }

    #[test]
    fn pending_after_final_stays_final() {
        let f = fixture();
        f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", Some(30))],
            "2025-01-10T10:01:00Z",
            None,
        );
        let late = f.ingest(
            vec![run("shop", "deploy", "1", "PENDING", None)],
            "2025-01-10T10:02:00Z",
            None,
        );
        assert_eq!(f.process(), counts(1, 0, 0));
        assert_eq!(f.process(), counts(0, 0, 1));
        let runs = f.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "SUCCESS");
        assert_eq!(runs[0].duration, Some(30));
        let detail = f.event(&late);
        assert_eq!(detail.event.status, EventStatus::Success);
        assert_eq!(detail.event.runs_unchanged, 1);
        assert!(
            detail.runs.is_empty(),
            "an unchanged run is not the event's to prune"
        );
    }

    #[test]
    fn final_over_pending_infers_the_duration_in_seconds() {
        let f = fixture();
        f.ingest(
            vec![run("shop", "deploy", "1", "PENDING", None)],
            "2025-01-10T10:00:01Z",
            None,
        );
        let finish = f.ingest(
            vec![run("shop", "deploy", "1", "FAILURE", None)],
            "2025-01-10T10:05:30.900Z",
            None,
        );
        assert_eq!(f.process(), counts(1, 0, 0));
        assert_eq!(f.runs()[0].duration, None);
        assert_eq!(f.process(), counts(0, 1, 0));
        let runs = f.runs();
        assert_eq!(runs[0].status, "FAILURE");
        assert_eq!(
            runs[0].duration,
            Some(330),
            "whole seconds since conducted_at"
        );
        let detail = f.event(&finish);
        assert_eq!(detail.runs.len(), 1);
        assert_eq!(detail.runs[0].action, "updated");
        assert_eq!(detail.runs[0].repo, "acme/shop");

        // A final run conducted after it was received (clock skew) gets 0, never negative.
        f.ingest(
            vec![run("shop", "deploy", "2", "PENDING", None)],
            "2025-01-10T10:00:00Z",
            None,
        );
        f.ingest(
            vec![run("shop", "deploy", "2", "SUCCESS", None)],
            "2025-01-10T09:59:00Z",
            None,
        );
        f.process();
        f.process();
        let second = f
            .runs()
            .into_iter()
            .find(|r| r.workflow_run_unique_id == "2");
        assert_eq!(second.expect("stored").duration, Some(0));
    }

    #[test]
    fn identical_runs_are_unchanged_and_changes_are_updates() {
        let f = fixture();
        let mut first = run("shop", "deploy", "1", "SUCCESS", Some(5));
        first["html_url"] = json!("https://ci.example.com/1");
        f.ingest(vec![first], "2025-01-10T10:01:00Z", None);
        f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", Some(5))],
            "2025-01-10T10:02:00Z",
            None,
        );
        f.ingest(
            vec![run("shop", "deploy", "1", "FAILURE", None)],
            "2025-01-10T10:03:00Z",
            None,
        );
        assert_eq!(f.process(), counts(1, 0, 0));
        assert_eq!(
            f.process(),
            counts(0, 0, 1),
            "absent html_url keeps the stored one"
        );
        assert_eq!(f.process(), counts(0, 1, 0));
        let stored = &f.runs()[0];
        assert_eq!(stored.status, "FAILURE");
        assert_eq!(
            stored.duration,
            Some(5),
            "a final run's known duration is kept"
        );
        assert_eq!(stored.html_url.as_deref(), Some("https://ci.example.com/1"));
    }

    #[test]
    fn prune_deletes_exactly_the_events_runs_and_empty_workflows() {
        let f = fixture();
        let keep = f.ingest(
            vec![
                run("shop", "deploy", "1", "SUCCESS", Some(1)),
                run("api", "release", "1", "SUCCESS", Some(1)),
            ],
            "2025-01-10T10:01:00Z",
            None,
        );
        let prune = f.ingest(
            vec![
                run("shop", "deploy", "2", "SUCCESS", Some(2)),
                run("shop", "hotfix", "1", "SUCCESS", Some(2)),
                run("api", "release", "1", "FAILURE", Some(2)),
            ],
            "2025-01-10T10:02:00Z",
            None,
        );
        assert_eq!(f.process(), counts(2, 0, 0));
        assert_eq!(f.process(), counts(2, 1, 0));
        assert_eq!(f.runs().len(), 4);

        let now = at("2025-01-11T00:00:00Z");
        let Pruned::Done(dry) = f.store.prune_event(&prune, true, now).expect("dry run") else {
            panic!("expected a report");
        };
        assert!(dry.dry_run && !dry.already_pruned);
        assert_eq!(dry.runs.len(), 3);
        assert_eq!(
            dry.workflows_deleted, 2,
            "hotfix and api's release are left empty"
        );
        assert_eq!(f.runs().len(), 4, "a dry run deletes nothing");
        assert_eq!(f.event(&prune).event.status, EventStatus::Success);

        let Pruned::Done(report) = f.store.prune_event(&prune, false, now).expect("prunes") else {
            panic!("expected a report");
        };
        assert_eq!(report.runs, dry.runs);
        assert_eq!(report.workflows_deleted, 2);
        let left: Vec<(String, String, String)> = f
            .runs()
            .into_iter()
            .map(|r| (r.repo, r.workflow, r.workflow_run_unique_id))
            .collect();
        assert_eq!(
            left,
            [("acme/shop".to_owned(), "deploy".to_owned(), "1".to_owned())],
            "the run the pruned event updated goes too"
        );
        assert_eq!(f.event(&prune).event.status, EventStatus::Pruned);
        assert_eq!(f.event(&keep).runs.len(), 1);

        let Pruned::Done(again) = f.store.prune_event(&prune, false, now).expect("idempotent")
        else {
            panic!("expected a report");
        };
        assert!(again.already_pruned && again.runs.is_empty());
    }

    #[test]
    fn unprocessed_events_cannot_be_pruned() {
        let f = fixture();
        let id = f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        );
        let now = Utc::now();
        assert!(matches!(
            f.store.prune_event(&id, false, now).expect("answers"),
            Pruned::NotProcessed(EventStatus::Waiting)
        ));
        assert!(matches!(
            f.store
                .prune_event("evt_nope", false, now)
                .expect("answers"),
            Pruned::NotFound
        ));
    }

    #[test]
    fn running_events_are_requeued_on_restart() {
        let f = fixture();
        let id = f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        );
        let claimed = f.store.claim_next().expect("claims").expect("waiting");
        assert_eq!((claimed.id.as_str(), claimed.attempts), (id.as_str(), 1));
        assert!(f.store.claim_next().expect("claims").is_none());
        drop(f.store);

        let store = SqliteStore::open(&f.path).expect("reopens");
        assert_eq!(store.requeue_running().expect("requeues"), 1);
        let again = store.claim_next().expect("claims").expect("waiting again");
        assert_eq!((again.id.as_str(), again.attempts), (id.as_str(), 2));
        let runs = parse_batch(&again.body.expect("body"), again.received_at).expect("valid");
        store
            .apply_event(&again.id, &runs, again.received_at, Utc::now())
            .expect("applies");
        assert_eq!(
            store
                .event_detail(&id)
                .expect("reads")
                .expect("exists")
                .runs
                .len(),
            1
        );
    }

    #[test]
    fn events_are_claimed_oldest_first() {
        let f = fixture();
        let first = f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        );
        let second = f.ingest(
            vec![run("shop", "deploy", "2", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        );
        let claim = || f.store.claim_next().expect("claims").expect("waiting").id;
        assert_eq!(claim(), first);
        assert_eq!(claim(), second);
    }

    #[test]
    fn unlinked_repos_fail_the_event_without_writes() {
        let f = fixture();
        f.ingest(
            vec![
                run("api", "deploy", "1", "SUCCESS", None),
                run("shop", "deploy", "2", "SUCCESS", None),
            ],
            "2025-01-10T10:01:00Z",
            None,
        );
        let shop = f
            .store
            .list_repos()
            .expect("lists")
            .into_iter()
            .find(|r| r.name == "shop")
            .expect("linked");
        f.store.unlink_repo(shop.id).expect("unlinks");
        let Applied::Unresolved(reason) = f.process() else {
            panic!("expected a failure");
        };
        assert!(
            reason.contains("https://github.com/acme/shop is not linked"),
            "{reason}"
        );
        assert!(f.runs().is_empty(), "all or nothing");
    }

    #[test]
    fn webhook_ids_dedupe_accepted_events_only() {
        let f = fixture();
        let first = f.ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            Some("batch-1"),
        );
        let twin = NewEvent {
            id: ids::event_id(),
            key_id: f.key_id.clone(),
            request_type: "workflow".to_owned(),
            webhook_id: Some("batch-1".to_owned()),
            received_at: Utc::now(),
            body: None,
            response: "{}".to_owned(),
            status: EventStatus::Waiting,
            error: None,
            runs_received: 1,
        };
        let Inserted::Duplicate(response) = f.store.insert_event(&twin).expect("answers") else {
            panic!("expected the first event's answer");
        };
        assert!(response.contains(&first), "{response}");
        let rejected = NewEvent {
            id: ids::event_id(),
            status: EventStatus::Rejected,
            ..twin.clone()
        };
        assert!(matches!(
            f.store.insert_event(&rejected).expect("stored"),
            Inserted::New
        ));
        assert!(
            f.store
                .find_duplicate(&f.key_id, "batch-1")
                .expect("reads")
                .is_some_and(|r| r.contains(&first))
        );

        // Once the first is pruned, the batch may be sent again.
        f.process();
        f.store
            .prune_event(&first, false, Utc::now())
            .expect("prunes");
        assert!(
            f.store
                .find_duplicate(&f.key_id, "batch-1")
                .expect("reads")
                .is_none()
        );
        let resent = NewEvent {
            id: ids::event_id(),
            ..twin
        };
        assert!(matches!(
            f.store.insert_event(&resent).expect("stored"),
            Inserted::New
        ));
    }

    #[test]
    fn the_last_admin_key_cannot_be_revoked() {
        let f = fixture();
        let now = super::super::now();
        assert!(matches!(
            f.store.revoke_key(&f.key_id, now).expect("answers"),
            Revoked::LastAdmin
        ));
        let (other, secret) = ids::mint_key("second", vec![Scope::Admin], None, now).expect("key");
        f.store
            .insert_key(&other, &mwctl::protocol::signing::key_digest_hex(&secret))
            .expect("stored");
        let Revoked::Done(revoked) = f.store.revoke_key(&f.key_id, now).expect("revokes") else {
            panic!("expected a revocation");
        };
        assert!(revoked.revoked_at.is_some());
        // Idempotent, and the remaining admin is now the last one.
        assert!(
            matches!(f.store.revoke_key(&f.key_id, now + TimeDelta::seconds(1)).expect("again"), Revoked::Done(k) if k.revoked_at == revoked.revoked_at)
        );
        assert!(matches!(
            f.store.revoke_key(&other.id, now).expect("answers"),
            Revoked::LastAdmin
        ));
        assert!(matches!(
            f.store.revoke_key("key_nope", now).expect("answers"),
            Revoked::NotFound
        ));
    }

    #[test]
    fn repos_link_once_case_insensitively() {
        let f = fixture();
        let now = Utc::now();
        let (repo, created) = f
            .store
            .link_repo(
                &RepoRef::parse_url("git@github.com:ACME/Shop.git").expect("url"),
                now,
            )
            .expect("links");
        assert!(!created);
        assert_eq!(repo.url, "https://github.com/acme/shop");
        assert_eq!(f.store.list_repos().expect("lists").len(), 2);
    }

    #[test]
    fn runs_filter_by_repo_and_workflow() {
        let f = fixture();
        f.ingest(
            vec![
                run("shop", "deploy", "1", "SUCCESS", None),
                run("api", "deploy", "2", "SUCCESS", None),
                run("api", "release", "1", "SUCCESS", None),
            ],
            "2025-01-10T10:01:00Z",
            None,
        );
        f.process();
        let count = |repo: Option<RepoFilter>, workflow: Option<&str>| {
            f.store
                .list_runs(&RunQuery {
                    repo,
                    workflow: workflow.map(str::to_owned),
                    limit: 10,
                })
                .expect("lists")
                .len()
        };
        let api = |host: Option<&str>, org: Option<&str>| {
            Some(RepoFilter {
                host: host.map(str::to_owned),
                org: org.map(str::to_owned),
                name: "API".to_owned(),
            })
        };
        assert_eq!(count(None, None), 3);
        assert_eq!(count(api(None, Some("acme")), None), 2);
        assert_eq!(
            count(api(Some("github.com"), Some("acme")), Some("deploy")),
            1
        );
        assert_eq!(count(api(None, Some("other")), None), 0);
        assert_eq!(count(None, Some("release")), 1);
    }

    /// Throughput of the worker's two steps; `cargo test --release --example server -- --ignored`.
    #[test]
    #[ignore = "a timing, not a test"]
    fn time_parse_and_apply() {
        let f = fixture();
        let events = 120;
        for e in 0..events {
            let runs = (0..500)
                .map(|i| {
                    let mut r = run(
                        "shop",
                        &format!("deploy-{}", i % 7),
                        &format!("run-{e}-{i}"),
                        "SUCCESS",
                        Some(42),
                    );
                    r["meta"] = json!({"env": "prod", "pipeline": i});
                    r["commit_sha"] = json!(format!("{:040x}", i * 7919));
                    r["html_url"] = json!(format!("https://ci.example.com/runs/{e}/{i}"));
                    r
                })
                .collect();
            f.ingest(runs, "2025-01-10T10:01:00Z", None);
        }
        let (mut parse, mut apply) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..events {
            let claimed = f.store.claim_next().expect("claims").expect("waiting");
            let start = std::time::Instant::now();
            let runs = parse_batch(claimed.body.as_deref().expect("body"), claimed.received_at)
                .expect("valid");
            parse += start.elapsed();
            let start = std::time::Instant::now();
            f.store
                .apply_event(&claimed.id, &runs, claimed.received_at, Utc::now())
                .expect("applies");
            apply += start.elapsed();
        }
        let per_run = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(events * 500);
        eprintln!(
            "parse {:.1} us/run, apply {:.1} us/run",
            per_run(parse),
            per_run(apply)
        );
    }

    #[test]
    fn events_list_newest_first_with_a_cursor() {
        let f = fixture();
        let ids: Vec<String> = (0..5)
            .map(|i| {
                f.ingest(
                    vec![run("shop", "deploy", &i.to_string(), "SUCCESS", None)],
                    "2025-01-10T10:01:00Z",
                    None,
                )
            })
            .collect();
        f.process();
        let list = |status, before: Option<&String>| {
            f.store
                .list_events(&EventQuery {
                    status,
                    limit: 2,
                    before: before.cloned(),
                })
                .expect("lists")
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(list(None, None), [ids[4].clone(), ids[3].clone()]);
        assert_eq!(list(None, Some(&ids[3])), [ids[2].clone(), ids[1].clone()]);
        assert_eq!(list(Some(EventStatus::Success), None), [ids[0].clone()]);
    }
}
