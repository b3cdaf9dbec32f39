//! The PostgreSQL store (sqlx): one database shared by several server instances. Rows that a
//! decision reads are locked (`FOR UPDATE`, `FOR SHARE`); workers claim events and
//! notifications with `FOR UPDATE SKIP LOCKED` under a lease on the database's clock; storing
//! events sends `NOTIFY mwctl_events` (at most one every [`WAKE_EVERY`] per instance), which
//! wakes the workers of every instance ([`Store::listen`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mwctl::protocol::RepoRef;
use mwctl::protocol::admin::{ApiKey, Event, EventDetail, EventStatus, Repo, RunRef, StoredRun};
use sqlx::postgres::{PgArguments, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use tokio::sync::{Notify, mpsc};

use super::sqlite::bodies;
use super::sqlite::{scopes_from_text, scopes_to_text};
use super::{
    Claimed, DeploymentQuery, EventQuery, IncidentQuery, IncidentRow, Inserted, KeyRecord, Listed,
    NewEvent, PendingNotice, RequestType, RunQuery, Store, StoreError, StoreResult, Twin, Tx,
    Writer, answer_resolution, parse_ts, ts,
};
use crate::rules::dora::Deployment;

mod incidents;
mod tx;

/// Schema versions, applied in order at start-up under an advisory lock.
const MIGRATIONS: &[&str] = &[
    include_str!("pg/schema.sql"),
    include_str!("pg/undo.sql"),
    include_str!("pg/incidents.sql"),
    include_str!("pg/bulk.sql"),
    include_str!("pg/workflow_lock.sql"),
];
/// The advisory lock that serialises migrations of instances starting together.
const MIGRATION_LOCK: i64 = 0x6d77_6374_6c00_0001;
/// The advisory lock that lets one of the instances starting on an empty database mint the
/// first admin key.
const FIRST_KEY_LOCK: i64 = 0x6d77_6374_6c00_0002;
/// The channel `NOTIFY`ed when an event is stored.
const EVENTS_CHANNEL: &str = "mwctl_events";
/// The shortest time between two wake-ups one instance sends the others' workers (see
/// [`send_wake_ups`]).
const WAKE_EVERY: Duration = Duration::from_millis(10);
/// Connections per instance.
const POOL_SIZE: u32 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before listening again after the listening connection failed.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Statuses whose webhook-id blocks a repeat (see the events_webhook_id index).
const DEDUPE_STATUSES: &str = "('WAITING', 'RUNNING', 'SUCCESS')";

const KEY_COLUMNS: &str =
    "id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at, key_hash";
const REPO_COLUMNS: &str = "id, host, org, name, created_at";
const EVENT_COLUMNS: &str = "id, key_id, request_type, webhook_id, received_at, status, error, \
     attempts, processed_at, runs_received, runs_created, runs_updated, runs_unchanged, \
     incidents_received, incidents_created, incidents_updated, incidents_unchanged, response";

pub struct PgStore {
    pool: PgPool,
    /// Whether rejected and failed events go to the notification outbox.
    notify: bool,
    /// Asks [`send_wake_ups`] to wake every instance's workers.
    wake_others: mpsc::Sender<()>,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        let transient = match &e {
            // Serialization failure, deadlock, lock not available, shutting down, connection
            // errors: the same work can succeed when tried again.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                matches!(&*code, "40001" | "40P01" | "55P03" | "57P01" | "57P03")
                    || code.starts_with("08")
            }),
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            _ => false,
        };
        if transient {
            StoreError::Transient(e.to_string())
        } else {
            StoreError::Other(e.to_string())
        }
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema
    /// up to date; instances starting together migrate one at a time.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| StoreError::Other(format!("cannot connect to PostgreSQL: {e}")))?;
        migrate(&pool).await?;
        let (wake_others, asked) = mpsc::channel(1);
        tokio::spawn(send_wake_ups(pool.clone(), asked));
        Ok(PgStore {
            pool,
            notify: false,
            wake_others,
        })
    }

    /// Keeps rejected and failed events in the notification outbox from now on.
    pub fn notifying(mut self) -> PgStore {
        self.notify = true;
        self
    }

    /// The outbox mark of an event stored now with `status`.
    fn notify_mark(&self, status: EventStatus) -> Option<i32> {
        let notified = matches!(status, EventStatus::Rejected | EventStatus::Failure);
        (self.notify && notified).then_some(1)
    }

    /// A read-only transaction that sees one snapshot (a list's page and its total).
    async fn snapshot(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Sends `NOTIFY mwctl_events` when asked, at most once every [`WAKE_EVERY`], outside the
/// answer's path. A notifying commit takes a lock that every other notifying commit of the
/// database waits for: sent with each stored event, it was the tail of ingest's latency under
/// load (p99 14 ms; 9 ms without). A woken worker drains the queue, so one wake-up covers the
/// events stored before it; the instance's own worker is woken in process at once. `asked`
/// holds one request at most (asking again while one waits adds nothing); the task ends with
/// the store.
async fn send_wake_ups(pool: PgPool, mut asked: mpsc::Receiver<()>) {
    while asked.recv().await.is_some() {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(EVENTS_CHANNEL)
            .execute(&pool)
            .await
        {
            // The other instances still look every few seconds.
            tracing::warn!("cannot wake the other instances' workers: {e}");
        }
        tokio::time::sleep(WAKE_EVERY).await;
    }
}

/// Applies the migrations not applied yet, each in a transaction, under an advisory lock held
/// until the end of the transaction, so that instances starting at once never race.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS mwctl_schema (version INTEGER NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM mwctl_schema")
        .fetch_one(&mut *tx)
        .await?;
    let version = version.unwrap_or(0);
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(StoreError::Other(format!(
            "the database has schema version {version}, newer than this server's {known}; run a newer server"
        )));
    }
    for next in version + 1..=known {
        let sql: &'static str = MIGRATIONS[next as usize - 1];
        // Several statements: the simple query protocol.
        sqlx::Executor::execute(&mut *tx, sql).await?;
        sqlx::query("INSERT INTO mwctl_schema (version) VALUES ($1)")
            .bind(next)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A lease's length in milliseconds, as the queries take it.
fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

fn bad(column: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unexpected stored {column}: {value:?}"))
}

fn ts_of(row: &PgRow, column: &str) -> StoreResult<DateTime<Utc>> {
    let s: String = row.try_get(column)?;
    parse_ts(&s).ok_or_else(|| bad(column, &s))
}

fn opt_ts_of(row: &PgRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let s: Option<String> = row.try_get(column)?;
    s.map(|s| parse_ts(&s).ok_or_else(|| bad(column, &s)))
        .transpose()
}

fn count_of(row: &PgRow, column: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(column)?;
    u64::try_from(n).map_err(|_| bad(column, &n.to_string()))
}

fn attempts_of(row: &PgRow, column: &str) -> StoreResult<u32> {
    let n: i32 = row.try_get(column)?;
    u32::try_from(n).map_err(|_| bad(column, &n.to_string()))
}

fn status_of(row: &PgRow, column: &str) -> StoreResult<EventStatus> {
    let s: String = row.try_get(column)?;
    s.parse().map_err(|_| bad(column, &s))
}

fn key_from_row(row: &PgRow) -> StoreResult<KeyRecord> {
    let scopes: String = row.try_get("scopes")?;
    Ok(KeyRecord {
        key: ApiKey {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            scopes: scopes_from_text(&scopes),
            created_at: ts_of(row, "created_at")?,
            expires_at: opt_ts_of(row, "expires_at")?,
            last_used_at: opt_ts_of(row, "last_used_at")?,
            revoked_at: opt_ts_of(row, "revoked_at")?,
        },
        key_hash: row.try_get("key_hash")?,
    })
}

fn repo_from_row(row: &PgRow) -> StoreResult<Repo> {
    let host: String = row.try_get("host")?;
    let org: String = row.try_get("org")?;
    let name: String = row.try_get("name")?;
    Ok(Repo {
        id: row.try_get("id")?,
        url: format!("https://{host}/{org}/{name}"),
        host,
        org,
        name,
        created_at: ts_of(row, "created_at")?,
    })
}

fn event_from_row(row: &PgRow) -> StoreResult<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        key_id: row.try_get("key_id")?,
        request_type: row.try_get("request_type")?,
        webhook_id: row.try_get("webhook_id")?,
        received_at: ts_of(row, "received_at")?,
        status: status_of(row, "status")?,
        error: row.try_get("error")?,
        attempts: attempts_of(row, "attempts")?,
        processed_at: opt_ts_of(row, "processed_at")?,
        runs_received: count_of(row, "runs_received")?,
        runs_created: count_of(row, "runs_created")?,
        runs_updated: count_of(row, "runs_updated")?,
        runs_unchanged: count_of(row, "runs_unchanged")?,
        incidents_received: count_of(row, "incidents_received")?,
        incidents_created: count_of(row, "incidents_created")?,
        incidents_updated: count_of(row, "incidents_updated")?,
        incidents_unchanged: count_of(row, "incidents_unchanged")?,
        resolution: answer_resolution(&row.try_get::<String, _>("response")?),
    })
}

fn notice_from_row(row: &PgRow) -> StoreResult<PendingNotice> {
    Ok(PendingNotice {
        event_id: row.try_get("id")?,
        key_id: row.try_get("key_id")?,
        status: status_of(row, "status").unwrap_or(EventStatus::Failure),
        error: row.try_get("error")?,
        response: row.try_get("response")?,
    })
}

/// The event's item count, in the column of its type (the other one is 0).
fn received(event: &NewEvent, kind: RequestType) -> i64 {
    if event.request_type == kind {
        i64::try_from(event.received).unwrap_or(i64::MAX)
    } else {
        0
    }
}

/// A value bound to a query built at run time (the lists' filters).
enum Arg {
    Text(String),
    Int(i64),
}

/// The list of bound values and the `$n` placeholder of each.
#[derive(Default)]
struct Args(Vec<Arg>);

impl Args {
    /// Adds a value; its placeholder.
    fn push(&mut self, arg: Arg) -> String {
        self.0.push(arg);
        format!("${}", self.0.len())
    }

    fn bind<'q>(&'q self, sql: &'q str) -> Query<'q, Postgres, PgArguments> {
        self.0.iter().fold(sqlx::query(sql), |q, arg| match arg {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(n) => q.bind(*n),
        })
    }
}

/// `WHERE a AND b`, or nothing.
fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    }
}

/// A page from up to `limit + 1` rows: the extra one only says that more follow.
fn listed<T>(mut items: Vec<T>, total: u64, limit: u32) -> Listed<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Listed { items, total, more }
}

/// The runs an event wrote, for its detail and its prune report.
async fn event_run_refs(conn: &mut sqlx::PgConnection, event_id: &str) -> StoreResult<Vec<RunRef>> {
    let rows = sqlx::query(
        "SELECT er.run_id, er.action, r.org || '/' || r.name AS repo, w.name AS workflow, \
                wr.provider_workflow_run_id, wr.status \
         FROM event_runs er \
         JOIN repo_workflow_runs wr ON wr.id = er.run_id \
         JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
         JOIN repos r ON r.id = w.repo_id \
         WHERE er.event_id = $1 ORDER BY er.run_id",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RunRef {
                run_id: row.try_get("run_id")?,
                action: row.try_get("action")?,
                repo: row.try_get("repo")?,
                workflow: row.try_get("workflow")?,
                unique_id: row.try_get("provider_workflow_run_id")?,
                status: row.try_get("status")?,
            })
        })
        .collect()
}

async fn find_duplicate_on(
    conn: &mut sqlx::PgConnection,
    key_id: &str,
    webhook_id: &str,
) -> StoreResult<Option<String>> {
    let sql = format!(
        "SELECT response FROM events \
         WHERE key_id = $1 AND webhook_id = $2 AND status IN {DEDUPE_STATUSES} LIMIT 1"
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(key_id)
        .bind(webhook_id)
        .fetch_optional(conn)
        .await?)
}

#[async_trait]
impl Store for PgStore {
    async fn count_keys(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.unsigned_abs())
    }

    async fn insert_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key_hash)
        .bind(scopes_to_text(&key.scopes))
        .bind(ts(key.created_at))
        .bind(key.expires_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_first_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Instances starting together check and insert one at a time.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_KEY_LOCK)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM api_keys)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key_hash)
        .bind(scopes_to_text(&key.scopes))
        .bind(ts(key.created_at))
        .bind(key.expires_at.map(ts))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn find_key(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1");
        sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    async fn touch_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| key_from_row(row).map(|k| k.key))
            .collect()
    }

    async fn link_repo(&self, repo: &RepoRef, at: DateTime<Utc>) -> StoreResult<(Repo, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO repos (host, org, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&repo.host)
        .bind(&repo.org)
        .bind(&repo.name)
        .bind(ts(at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        // Linked before and unlinked since: linked again, with its runs.
        let relinked = sqlx::query(
            "UPDATE repos SET unlinked_at = NULL WHERE unlinked_at IS NOT NULL \
             AND lower(host) = lower($1) AND lower(org) = lower($2) AND lower(name) = lower($3)",
        )
        .bind(&repo.host)
        .bind(&repo.org)
        .bind(&repo.name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT {REPO_COLUMNS} FROM repos \
             WHERE lower(host) = lower($1) AND lower(org) = lower($2) AND lower(name) = lower($3)"
        );
        let row = sqlx::query(&sql)
            .bind(&repo.host)
            .bind(&repo.org)
            .bind(&repo.name)
            .fetch_one(&self.pool)
            .await?;
        Ok((repo_from_row(&row)?, inserted == 1 || relinked == 1))
    }

    async fn list_repos(&self) -> StoreResult<Vec<Repo>> {
        let sql = format!("SELECT {REPO_COLUMNS} FROM repos WHERE unlinked_at IS NULL ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(repo_from_row)
            .collect()
    }

    async fn find_duplicate(&self, key_id: &str, webhook_id: &str) -> StoreResult<Option<Twin>> {
        let sql = format!(
            "SELECT e.response, b.body FROM events e \
             LEFT JOIN event_bodies b ON b.event_id = e.id \
             WHERE e.key_id = $1 AND e.webhook_id = $2 AND e.status IN {DEDUPE_STATUSES} \
             LIMIT 1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(key_id)
            .bind(webhook_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let body: Option<Vec<u8>> = row.try_get("body")?;
        Ok(Some(Twin {
            response: row.try_get("response")?,
            body: body.map(bodies::unpack).transpose()?,
        }))
    }

    async fn insert_event(&self, event: NewEvent) -> StoreResult<Inserted> {
        let body = event.body.as_deref().map(bodies::pack);
        // One statement (its own transaction): the event and its body. Ingest's answer waits
        // for it, so each round trip saved shows in its latency.
        let row = sqlx::query(
            "WITH event AS ( \
                INSERT INTO events (id, key_id, request_type, webhook_id, received_at, \
                    response, status, error, attempts, runs_received, notify, incidents_received) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11) \
                ON CONFLICT DO NOTHING RETURNING id \
             ), body AS ( \
                INSERT INTO event_bodies (event_id, body) \
                SELECT id, $12 FROM event WHERE $12::bytea IS NOT NULL \
             ) \
             SELECT count(*) AS inserted FROM event",
        )
        .bind(&event.id)
        .bind(&event.key_id)
        .bind(event.request_type.as_str())
        .bind(&event.webhook_id)
        .bind(ts(event.received_at))
        .bind(&event.response)
        .bind(event.status.as_str())
        .bind(&event.error)
        .bind(received(&event, RequestType::Workflow))
        .bind(self.notify_mark(event.status))
        .bind(received(&event, RequestType::Incident))
        .bind(body.as_deref())
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<i64, _>("inserted")? == 1 {
            if event.status == EventStatus::Waiting {
                // Full: a wake-up is already due, and covers this event too.
                let _ = self.wake_others.try_send(());
            }
            return Ok(Inserted::New);
        }
        // Only the webhook-id index can conflict (event ids are unique by construction).
        let mut conn = self.pool.acquire().await?;
        let winner = match &event.webhook_id {
            Some(webhook_id) => find_duplicate_on(&mut conn, &event.key_id, webhook_id).await?,
            None => None,
        };
        winner.map(Inserted::Duplicate).ok_or_else(|| {
            StoreError::Other(format!("event {} conflicts with a stored event", event.id))
        })
    }

    async fn list_events(&self, query: &EventQuery) -> StoreResult<Listed<Event>> {
        let mut tx = self.snapshot().await?;
        let mut filters = Vec::new();
        let mut args = Args::default();
        if let Some(status) = query.status {
            let p = args.push(Arg::Text(status.as_str().to_owned()));
            filters.push(format!("status = {p}"));
        }
        let sql = format!("SELECT count(*) FROM events {}", where_clause(&filters));
        let total: i64 = args.bind(&sql).fetch_one(&mut *tx).await?.try_get(0)?;
        if let Some(before) = &query.before {
            let p = args.push(Arg::Text(before.clone()));
            filters.push(format!("id < {p}"));
        }
        // One more than asked: whether another page follows.
        let p = args.push(Arg::Int(i64::from(query.limit) + 1));
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events {} ORDER BY id DESC LIMIT {p}",
            where_clause(&filters)
        );
        let events = args
            .bind(&sql)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<_>>()?;
        tx.commit().await?;
        Ok(listed(events, total.unsigned_abs(), query.limit))
    }

    async fn event_detail(&self, id: &str) -> StoreResult<Option<EventDetail>> {
        let mut tx = self.snapshot().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, b.body \
             FROM events LEFT JOIN event_bodies b ON b.event_id = id WHERE id = $1"
        );
        let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let event = event_from_row(&row)?;
        let body: Option<Vec<u8>> = row.try_get("body")?;
        let response: String = row.try_get("response")?;
        let body = body.map(bodies::unpack).transpose()?;
        let response =
            serde_json::from_str(&response).unwrap_or(serde_json::Value::String(response));
        let runs = event_run_refs(&mut tx, id).await?;
        let incidents = incidents::event_incident_refs(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(EventDetail {
            event,
            body: body.map(|b| String::from_utf8_lossy(&b).into_owned()),
            response,
            runs,
            incidents,
        }))
    }

    async fn list_runs(&self, query: &RunQuery) -> StoreResult<Listed<StoredRun>> {
        let mut tx = self.snapshot().await?;
        let mut filters = Vec::new();
        let mut args = Args::default();
        if let Some(repo) = &query.repo {
            let mut readings = Vec::new();
            for pattern in &repo.patterns {
                let mut reading = Vec::new();
                let p = args.push(Arg::Text(pattern.name.to_ascii_lowercase()));
                reading.push(format!("lower(r.name) = {p}"));
                if let Some(org) = &pattern.org {
                    let p = args.push(Arg::Text(org.to_ascii_lowercase()));
                    reading.push(format!("lower(r.org) = {p}"));
                }
                if let Some(host) = &pattern.host {
                    // Hosts linked before `www.` was dropped still match.
                    let p = args.push(Arg::Text(host.clone()));
                    reading.push(format!(
                        "(lower(r.host) = {p} OR lower(r.host) = 'www.' || {p})"
                    ));
                }
                readings.push(format!("({})", reading.join(" AND ")));
            }
            filters.push(format!("({})", readings.join(" OR ")));
        }
        if let Some(workflow) = &query.workflow {
            let p = args.push(Arg::Text(workflow.to_ascii_lowercase()));
            filters.push(format!("lower(w.name) = {p}"));
        }
        let from = "FROM repo_workflow_runs wr \
             JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
             JOIN repos r ON r.id = w.repo_id";
        let sql = format!("SELECT count(*) {from} {}", where_clause(&filters));
        let total: i64 = args.bind(&sql).fetch_one(&mut *tx).await?.try_get(0)?;
        if let Some((conducted_at, id)) = query.after {
            let a = args.push(Arg::Text(ts(conducted_at)));
            let b = args.push(Arg::Int(id));
            filters.push(format!("(wr.conducted_at, wr.id) < ({a}, {b})"));
        }
        let p = args.push(Arg::Int(i64::from(query.limit) + 1));
        let sql = format!(
            "SELECT wr.id, r.org || '/' || r.name AS repo, w.name AS workflow, \
                wr.provider_workflow_run_id, wr.event_actor, wr.head_branch, wr.status, \
                wr.conducted_at, wr.duration, wr.html_url, wr.commit_sha, wr.meta, \
                wr.created_at, wr.updated_at \
             {from} {} ORDER BY wr.conducted_at DESC, wr.id DESC LIMIT {p}",
            where_clause(&filters)
        );
        let runs = args
            .bind(&sql)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                let meta: Option<String> = row.try_get("meta")?;
                Ok(StoredRun {
                    id: row.try_get("id")?,
                    repo: row.try_get("repo")?,
                    workflow: row.try_get("workflow")?,
                    workflow_run_unique_id: row.try_get("provider_workflow_run_id")?,
                    event_actor: row.try_get("event_actor")?,
                    head_branch: row.try_get("head_branch")?,
                    status: row.try_get("status")?,
                    conducted_at: ts_of(row, "conducted_at")?,
                    duration: row.try_get("duration")?,
                    html_url: row.try_get("html_url")?,
                    commit_sha: row.try_get("commit_sha")?,
                    meta: meta.and_then(|m| serde_json::from_str(&m).ok()),
                    created_at: ts_of(row, "created_at")?,
                    updated_at: ts_of(row, "updated_at")?,
                })
            })
            .collect::<StoreResult<_>>()?;
        tx.commit().await?;
        Ok(listed(runs, total.unsigned_abs(), query.limit))
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> StoreResult<Listed<IncidentRow>> {
        let mut tx = self.snapshot().await?;
        let listed = incidents::list(&mut tx, query).await?;
        tx.commit().await?;
        Ok(listed)
    }

    async fn deployments(&self, query: &DeploymentQuery) -> StoreResult<Vec<Deployment>> {
        let mut tx = self.snapshot().await?;
        let found = incidents::deployments(&mut tx, query).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn claim(&self, owner: &str, lease: Duration, limit: u32) -> StoreResult<Vec<Claimed>> {
        // Two index ranges (claims whose lease ran out, then waiting events), each skipping
        // rows another transaction holds; one statement, so a row is claimed once.
        let rows = sqlx::query(
            "WITH expired AS ( \
                SELECT id FROM events WHERE status = 'RUNNING' AND lease_until < clock_timestamp() \
                ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED \
             ), waiting AS ( \
                SELECT id FROM events WHERE status = 'WAITING' \
                ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED \
             ), first AS ( \
                SELECT id FROM expired UNION ALL SELECT id FROM waiting ORDER BY id LIMIT $1 \
             ) \
             UPDATE events e SET status = 'RUNNING', attempts = e.attempts + 1, \
                lease_owner = $2, \
                lease_until = clock_timestamp() + $3 * interval '1 millisecond' \
             FROM first WHERE e.id = first.id \
             RETURNING e.id, e.request_type, e.received_at, e.attempts",
        )
        .bind(i64::from(limit))
        .bind(owner)
        .bind(lease_ms(lease))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let request_type: String = row.try_get("request_type")?;
                Ok(Claimed {
                    id: row.try_get("id")?,
                    request_type: RequestType::parse(&request_type).ok_or(request_type),
                    received_at: ts_of(row, "received_at")?,
                    body: None,
                    attempts: attempts_of(row, "attempts")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        if claimed.is_empty() {
            return Ok(claimed);
        }
        let ids: Vec<String> = claimed.iter().map(|c| c.id.clone()).collect();
        let bodies =
            sqlx::query("SELECT event_id, body FROM event_bodies WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
        for row in bodies {
            let id: String = row.try_get("event_id")?;
            let body: Vec<u8> = row.try_get("body")?;
            if let Some(event) = claimed.iter_mut().find(|c| c.id == id) {
                event.body = Some(bodies::unpack(body)?);
            }
        }
        Ok(claimed)
    }

    async fn renew(&self, owner: &str, ids: Vec<String>, lease: Duration) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE events SET lease_until = clock_timestamp() + $1 * interval '1 millisecond' \
             WHERE id = ANY($2) AND lease_owner = $3 AND status = 'RUNNING'",
        )
        .bind(lease_ms(lease))
        .bind(&ids)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn add_attempt(&self, id: &str) -> StoreResult<u32> {
        let attempts: i32 = sqlx::query_scalar(
            "UPDATE events SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        u32::try_from(attempts).map_err(|_| bad("attempts", &attempts.to_string()))
    }

    async fn fail_event(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let failed = sqlx::query(
            "UPDATE events SET status = 'FAILURE', error = $1, processed_at = $2, notify = $3, \
                lease_until = NULL \
             WHERE id = $4 AND status = 'RUNNING' AND lease_owner = $5",
        )
        .bind(error)
        .bind(ts(at))
        .bind(self.notify_mark(EventStatus::Failure))
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(failed == 1)
    }

    async fn listen(&self, wake: Arc<Notify>) -> StoreResult<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        // recv() reconnects on its next call; notifications sent meanwhile are
                        // lost, so look at the queue anyway.
                        tracing::warn!("listening for stored events: {e}; retrying");
                        wake.notify_one();
                        tokio::time::sleep(LISTEN_RETRY).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn claim_notices(
        &self,
        _owner: &str,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<PendingNotice>> {
        let rows = sqlx::query(
            "WITH picked AS ( \
                SELECT id FROM events WHERE notify IS NOT NULL \
                    AND (notify_until IS NULL OR notify_until < clock_timestamp()) \
                ORDER BY received_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE events e \
             SET notify_until = clock_timestamp() + $2 * interval '1 millisecond' \
             FROM picked WHERE e.id = picked.id \
             RETURNING e.id, e.key_id, e.status, coalesce(e.error, '') AS error, e.response, \
                e.received_at",
        )
        .bind(i64::from(limit))
        .bind(lease_ms(lease))
        .fetch_all(&self.pool)
        .await?;
        let mut pending = rows
            .iter()
            .map(|row| {
                let received_at: String = row.try_get("received_at")?;
                Ok((received_at, notice_from_row(row)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        pending.sort_by(|a, b| (&a.0, &a.1.event_id).cmp(&(&b.0, &b.1.event_id)));
        Ok(pending.into_iter().map(|(_, notice)| notice).collect())
    }

    async fn notice_done(&self, event_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE events SET notify = NULL, notify_until = NULL WHERE id = $1")
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn trim_notices(&self, keep: u32) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE events SET notify = NULL WHERE notify IS NOT NULL AND id NOT IN \
             (SELECT id FROM events WHERE notify IS NOT NULL \
              ORDER BY received_at DESC, id DESC LIMIT $1)",
        )
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn begin(&self, _writer: Writer) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(tx::PgTx::begin(&self.pool).await?))
    }
}

#[cfg(test)]
mod tests;
