//! The storage interface: persistence only. Routes, the worker and [`crate::ops`] see only these
//! traits; what to write is decided by [`crate::rules`] (pure functions), never here, so every
//! backend behaves the same. One implementation per backend ([`sqlite`] today); each must pass
//! the contract suite in [`contract`].
//!
//! [`Store`] has the single-step operations. Work whose writes depend on what it read (processing
//! an event, pruning one, revoking a key) runs in a [`Tx`] from [`Store::begin`]: read, let the
//! rules decide, write, commit. A backend takes the locks such a decision needs: SQLite's one
//! writer holds them all; a shared-database backend locks the rows it reads (`FOR UPDATE`) and
//! claims events with `FOR UPDATE SKIP LOCKED`.

pub mod pg;
pub mod sqlite;

#[cfg(test)]
pub mod contract;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use mwctl::protocol::admin::{
    ApiKey, Event, EventDetail, EventStatus, IncidentRef, Repo, RunRef, Scope, StoredRun,
};
use mwctl::protocol::incident::{DeploymentRef, IncidentStatus, IncidentType};
use mwctl::protocol::{RepoFilter, RepoRef, RunStatus};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use pg::PgStore;
pub use sqlite::SqliteStore;

/// A storage failure. `Transient` ones (database busy or locked, I/O) are worth retrying.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database temporarily unavailable: {0}")]
    Transient(String),
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A key as the server checks it: the listed fields plus the stored SHA-256.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub key: ApiKey,
    /// Hex SHA-256 of the key: also the Standard Webhooks signing secret.
    pub key_hash: String,
}

impl KeyRecord {
    pub fn is_revoked(&self) -> bool {
        self.key.revoked_at.is_some()
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.key.expires_at.is_some_and(|at| at <= now)
    }

    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        crate::rules::keys::usable(&self.key, now)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.key.scopes.contains(&scope)
    }
}

/// A standing event with the webhook-id of a new request (see [`Store::find_duplicate`]).
#[derive(Clone, Debug)]
pub struct Twin {
    /// Its stored answer (JSON).
    pub response: String,
    /// Its body as stored (decompressed).
    pub body: Option<Vec<u8>>,
}

/// What a request sent, by the endpoint it came to: stored with its event (as text), so the
/// worker knows how to process it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestType {
    /// Runs, from `POST /public/webhook/workflow` (and its alias).
    Workflow,
    /// Incidents, from `POST /public/webhook/incidents` (and its alias).
    Incident,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Workflow => "workflow",
            RequestType::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<RequestType> {
        match s {
            "workflow" => Some(RequestType::Workflow),
            "incident" => Some(RequestType::Incident),
            _ => None,
        }
    }
}

/// A request to store as an event (accepted or rejected).
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: String,
    pub key_id: String,
    pub request_type: RequestType,
    pub webhook_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub body: Option<Vec<u8>>,
    /// The answer sent to the client, as JSON.
    pub response: String,
    /// `Waiting` for accepted requests, `Rejected` otherwise.
    pub status: EventStatus,
    pub error: Option<String>,
    /// Items in the request: runs or incidents, by `request_type`.
    pub received: u64,
}

/// A rejected or failed event waiting for its notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingNotice {
    pub event_id: String,
    pub key_id: String,
    /// `Rejected` or `Failure`.
    pub status: EventStatus,
    pub error: String,
    /// The answer sent to the client, as JSON.
    pub response: String,
}

/// What `insert_event` did.
#[derive(Debug)]
pub enum Inserted {
    New,
    /// An accepted event from the same key already has this webhook-id (a concurrent twin won
    /// the race): its stored response.
    Duplicate(String),
}

#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub limit: u32,
    /// Exclusive cursor: only events older than this id.
    pub before: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    /// Any of its readings matches (see [`RepoFilter`]); ASCII case ignored.
    pub repo: Option<RepoFilter>,
    /// ASCII case ignored, like the repo.
    pub workflow: Option<String>,
    pub limit: u32,
    /// Exclusive cursor: only runs after this `(conducted_at, id)` in the list's order
    /// (newest first), so inserts while paging never shift a page.
    pub after: Option<(DateTime<Utc>, i64)>,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    /// Everything that matches the filters, ignoring the cursor and the limit.
    pub total: u64,
    /// More items follow the last one.
    pub more: bool,
}

/// An event a worker claimed (now `RUNNING`, leased to its owner).
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: String,
    /// `Err`: a type this server does not know (stored by a newer one), as stored.
    pub request_type: Result<RequestType, String>,
    pub received_at: DateTime<Utc>,
    pub body: Option<Vec<u8>>,
    /// Including this one.
    pub attempts: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// A run's stored fields: what the rules compare and merge (identity and bookkeeping apart).
/// Serialisable: a backend may keep what an update replaced as JSON (see [`WriteRecord`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFields {
    pub event_actor: String,
    pub head_branch: String,
    pub status: RunStatus,
    /// At the stored precision (milliseconds).
    pub conducted_at: DateTime<Utc>,
    /// Whole seconds.
    pub duration: Option<i64>,
    pub html_url: Option<String>,
    pub commit_sha: Option<String>,
    /// A JSON object, as text.
    pub meta: Option<String>,
}

/// A run an event writes: where (the workflow of that name in a linked repo, created when
/// missing with [`crate::rules::WORKFLOW_PROVIDER`] and [`crate::rules::WORKFLOW_TYPE`]),
/// which (its unique id in the workflow), and its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunWrite {
    pub repo_id: i64,
    pub workflow: String,
    pub unique_id: String,
    pub fields: RunFields,
}

/// What [`Tx::insert_runs`] found for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The run was new and is now stored with the given fields.
    Created(i64),
    /// The run exists (nothing was written): its id and stored fields, for the rules to merge.
    Exists { run_id: i64, stored: RunFields },
}

/// An update the rules decided on (what it replaces is in the event's [`WriteRecord`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunUpdate {
    pub run_id: i64,
    pub after: RunFields,
}

/// A processed event, for [`Tx::finish_events`]: its counts and the writes it made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finished {
    pub id: String,
    pub written: Vec<WriteRecord>,
    pub counts: Counts,
}

/// What an event wrote to one run, as [`Tx::finish_events`] records it so that pruning the
/// event can undo exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    pub run_id: i64,
    pub action: Action,
    /// For [`Action::Updated`]: the fields the update replaced. `None` for a creation (and
    /// for updates recorded before the store kept them).
    pub before: Option<RunFields>,
}

/// One recorded write to a run (or, with `F` = [`IncidentFields`], to an incident), as
/// [`Tx::run_history`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastWrite<F = RunFields> {
    pub event_id: String,
    /// The writing event is `PRUNED`: its write no longer counts.
    pub pruned: bool,
    pub action: Action,
    pub before: Option<F>,
}

/// A run with its stored fields and every write recorded to it, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunHistory {
    pub run_id: i64,
    pub current: RunFields,
    pub writes: Vec<PastWrite>,
}

/// An incident's stored fields: what the rules compare and merge (identity and bookkeeping
/// apart). Serialisable: backends keep them as JSON, with copies of the filtered columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFields {
    /// The linked repositories it affects (resolved like a run's), in id order.
    pub repo_ids: Vec<i64>,
    pub status: IncidentStatus,
    pub incident_type: IncidentType,
    pub title: String,
    pub creation_date: DateTime<Utc>,
    pub acknowledged_date: Option<DateTime<Utc>>,
    pub resolved_date: Option<DateTime<Utc>>,
    pub reopened_date: Option<DateTime<Utc>>,
    pub assignees: Vec<String>,
    pub url: Option<String>,
    pub provider_service_name: Option<String>,
    pub deployment: Option<DeploymentRef>,
}

/// An incident an event writes: its identity and fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentWrite {
    pub provider: String,
    pub incident_key: String,
    pub fields: IncidentFields,
}

/// What [`Tx::insert_incidents`] found for one incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncidentSlot {
    /// New, now stored with the given fields.
    Created(i64),
    /// Exists (nothing was written): its id and stored fields, locked, for the rules to merge.
    Exists {
        incident_id: i64,
        stored: Box<IncidentFields>,
    },
}

/// An incident update the rules decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub incident_id: i64,
    pub after: IncidentFields,
}

/// What an event wrote to one incident (see [`WriteRecord`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRecord {
    pub incident_id: i64,
    pub action: Action,
    /// For [`Action::Updated`]: the fields the update replaced.
    pub before: Option<IncidentFields>,
}

/// An incident with its stored fields and every write recorded to it, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentHistory {
    pub incident_id: i64,
    pub current: IncidentFields,
    pub writes: Vec<PastWrite<IncidentFields>>,
}

/// A stored incident as the store lists it (the route adds its attribution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRow {
    pub id: i64,
    pub provider: String,
    pub incident_key: String,
    /// `org/name` of its repositories, `, `-separated, in id order.
    pub repo: String,
    pub fields: IncidentFields,
    /// The events that recorded writing it, oldest first (what `POST /api/events/{id}/prune`
    /// takes to undo one).
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    /// Only incidents affecting one of these repos.
    pub repo_ids: Option<Vec<i64>>,
    pub status: Option<IncidentStatus>,
    /// Only incidents created at or after this.
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Exclusive cursor: only incidents after this `(creation_date, id)` in the list's order
    /// (newest first).
    pub after: Option<(DateTime<Utc>, i64)>,
}

/// Which SUCCESS runs [`Store::deployments`] returns (as the DORA rules need them).
#[derive(Clone, Debug)]
pub enum DeploymentQuery {
    /// Those started at or after `since`, in these repos (all when `None`), of this workflow
    /// (ASCII case ignored; all when `None`).
    Since {
        repo_ids: Option<Vec<i64>>,
        workflow: Option<String>,
        since: DateTime<Utc>,
    },
    /// Per repo, the latest started before `before` (of this workflow, when given).
    LatestBefore {
        repo_ids: Vec<i64>,
        workflow: Option<String>,
        before: DateTime<Utc>,
    },
    /// The named ones, in any of these repos.
    Named {
        repo_ids: Vec<i64>,
        refs: Vec<DeploymentRef>,
    },
}

/// What an event did to a run, recorded so the event can be pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "created" => Some(Action::Created),
            "updated" => Some(Action::Updated),
            _ => None,
        }
    }
}

/// Which writer a transaction is for. SQLite has one writer: the worker's transactions let
/// waiting ingest requests go first, so that clients never wait for processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Answering a request (admin API).
    Request,
    /// Background processing.
    Worker,
}

/// Single-step persistence. Every method is one short transaction of its own.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // API keys.
    async fn count_keys(&self) -> StoreResult<u64>;
    async fn insert_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()>;
    /// Stores the key only if no key exists yet, atomically (also against other instances
    /// starting at once on a shared database); whether it did. The first admin key.
    async fn insert_first_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<bool>;
    async fn find_key(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>>;
    async fn touch_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Newest first.
    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>>;

    // Linked repositories.
    /// The repo and whether it was newly linked (identity: host, org, name, case-insensitive).
    /// A repo unlinked before is linked again, with the same id and the runs it kept (and
    /// counts as newly linked).
    async fn link_repo(&self, repo: &RepoRef, at: DateTime<Utc>) -> StoreResult<(Repo, bool)>;
    /// The linked repos (not the unlinked ones), in id order.
    async fn list_repos(&self) -> StoreResult<Vec<Repo>>;

    // Ingest.
    /// The event from this key with this webhook-id that still stands (waiting, running or
    /// processed; not rejected, failed or pruned), if any: its stored response and body.
    async fn find_duplicate(&self, key_id: &str, webhook_id: &str) -> StoreResult<Option<Twin>>;
    /// Stores a request (its body too), and marks a rejected one for notification when the
    /// store notifies. A standing event with the same key and webhook-id wins a race.
    async fn insert_event(&self, event: NewEvent) -> StoreResult<Inserted>;

    // Inspection.
    /// Newest first, one page (see [`Listed`]).
    async fn list_events(&self, query: &EventQuery) -> StoreResult<Listed<Event>>;
    async fn event_detail(&self, id: &str) -> StoreResult<Option<EventDetail>>;
    /// Latest `conducted_at` first (then highest id), one page (see [`Listed`]).
    async fn list_runs(&self, query: &RunQuery) -> StoreResult<Listed<StoredRun>>;
    /// Latest `creation_date` first (then highest id), one page (see [`Listed`]).
    async fn list_incidents(&self, query: &IncidentQuery) -> StoreResult<Listed<IncidentRow>>;
    /// SUCCESS runs as [`crate::rules::dora`] needs them, in `(started_at, run_id)` order.
    async fn deployments(
        &self,
        query: &DeploymentQuery,
    ) -> StoreResult<Vec<crate::rules::dora::Deployment>>;

    // The worker's queue. Workers claim events under a lease: an owner (one id per server
    // process) and an expiry, renewed while they work. An event whose owner died (its lease
    // ran out) is claimed again by any worker, its attempts counted. A single-process store
    // (SQLite) ends at open the leases of the process before it, so a restart retakes them.
    /// Takes up to `limit` events, oldest first: `WAITING` ones and `RUNNING` ones whose lease
    /// ran out; they become `RUNNING`, leased to `owner` for `lease`, attempts + 1; with their
    /// bodies. Never gives one event to two live claims (no double claim).
    async fn claim(&self, owner: &str, lease: Duration, limit: u32) -> StoreResult<Vec<Claimed>>;
    /// Extends `owner`'s lease on these events to `lease` from now; how many it still held.
    async fn renew(&self, owner: &str, ids: Vec<String>, lease: Duration) -> StoreResult<u64>;
    /// Counts one more attempt at a claimed event; returns the new count.
    async fn add_attempt(&self, id: &str) -> StoreResult<u32>;
    /// Marks the event `FAILURE` with its error (and for notification when the store
    /// notifies), if `owner` still holds it; whether it did.
    async fn fail_event(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Wakes `wake` whenever another process stores an event (PostgreSQL: `LISTEN`); a
    /// single-process store has nothing to do (ingest wakes the worker in process).
    async fn listen(&self, _wake: Arc<tokio::sync::Notify>) -> StoreResult<()> {
        Ok(())
    }

    // The notification outbox (kept only by a store opened to notify). Claimed like the queue,
    // so that each notification is sent by one process.
    /// Takes up to `limit` rejected and failed events not notified yet, oldest first, whose
    /// notification no live claim holds; leased to `owner` for `lease`.
    async fn claim_notices(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<PendingNotice>>;
    /// The event's notification was delivered or given up on.
    async fn notice_done(&self, event_id: &str) -> StoreResult<()>;
    /// Gives up on all but the newest `keep` pending notifications; how many.
    async fn trim_notices(&self, keep: u32) -> StoreResult<u64>;

    /// A write transaction (see [`Tx`]).
    async fn begin(&self, writer: Writer) -> StoreResult<Box<dyn Tx>>;

    /// About how many runs the worker writes in one transaction (it claims as many events as
    /// make this many). Larger batches cost fewer round trips and commits per run; a backend
    /// whose writer ingest must wait for wants them short.
    fn batch_runs(&self) -> usize {
        1_000
    }

    /// The worker's CPU priority (a nice value, 0 to 19): it defers to ingest, which must
    /// answer at once, and catches up when requests stop. The default suits a database that
    /// does most of the processing at its own priority (PostgreSQL): deferring the worker
    /// more starved it under load (a 15 s load ended 1 s behind at 19, 0.03 s at 10).
    fn worker_niceness(&self) -> i32 {
        10
    }
}

/// A write transaction: reads that decide writes, and the writes, all or nothing. Dropping it
/// without [`Tx::commit`] rolls back (how a dry run leaves no trace). Calls are batched (one per
/// step of an operation, not one per row), so a backend over the network makes few round
/// trips; they take what they write by value, so a backend that works on another thread need
/// not copy it.
#[async_trait]
pub trait Tx: Send {
    // Holding a claim.
    /// For each event (in the order given): whether `owner` still holds its claim (`RUNNING`,
    /// leased to it). Locks the held events until the end of the transaction, so a worker
    /// that lost its lease (another took the event over) writes nothing.
    async fn hold(&mut self, ids: &[&str], owner: &str) -> StoreResult<Vec<bool>>;

    // Revoking a key.
    /// Every key, locked until the end of the transaction.
    async fn keys(&mut self) -> StoreResult<Vec<KeyRecord>>;
    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;

    // Processing an event; unlinking a repo.
    /// The linked repos (as [`Store::list_repos`]), kept linked until the end of the
    /// transaction.
    async fn repos(&mut self) -> StoreResult<Vec<Repo>>;
    /// In order: inserts each run that is new (creating its workflow when missing; `at` is the
    /// time written as created and updated); for one
    /// that exists, writes nothing and returns its stored fields, locked until the end of the
    /// transaction. A later entry sees the earlier ones.
    async fn insert_runs(
        &mut self,
        runs: Vec<RunWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Slot>>;
    /// Writes each run's new fields; at most one update per run.
    async fn update_runs(&mut self, updates: Vec<RunUpdate>, at: DateTime<Utc>) -> StoreResult<()>;
    /// Marks claimed events `SUCCESS` with their counts, and records the runs each wrote, with
    /// what each update replaced (replacing what an earlier, interrupted attempt recorded).
    /// Records are kept in the order they are written (the events' order, then each one's):
    /// [`Tx::run_history`] returns a run's writes in that order.
    async fn finish_events(&mut self, events: Vec<Finished>, at: DateTime<Utc>) -> StoreResult<()>;

    // Processing an incident event.
    /// As [`Tx::insert_runs`], for incidents (identity: provider and incident key).
    async fn insert_incidents(
        &mut self,
        incidents: Vec<IncidentWrite>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<IncidentSlot>>;
    async fn update_incidents(
        &mut self,
        updates: Vec<IncidentUpdate>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// As [`Tx::finish_events`], for an incident event: its incident counts and records.
    async fn finish_incident_event(
        &mut self,
        id: &str,
        written: Vec<IncidentRecord>,
        counts: Counts,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    // Pruning an event.
    /// The incidents the event recorded writing, in incident id order.
    async fn event_incidents(&mut self, id: &str) -> StoreResult<Vec<IncidentRef>>;
    /// As [`Tx::run_history`], for incidents.
    async fn incident_history(
        &mut self,
        incident_ids: Vec<i64>,
    ) -> StoreResult<Vec<IncidentHistory>>;
    /// Deletes the incidents and every event's record of them.
    async fn delete_incidents(&mut self, incident_ids: Vec<i64>) -> StoreResult<()>;
    /// The event's status, locked until the end of the transaction.
    async fn event_status(&mut self, id: &str) -> StoreResult<Option<EventStatus>>;
    /// The runs the event recorded writing, in run id order.
    async fn event_runs(&mut self, id: &str) -> StoreResult<Vec<RunRef>>;
    /// For each of these runs that exists (in the order given): its stored fields and every
    /// recorded write to it, oldest first, each with whether its event is now `PRUNED`. The
    /// runs are locked until the end of the transaction.
    async fn run_history(&mut self, run_ids: Vec<i64>) -> StoreResult<Vec<RunHistory>>;
    /// Deletes the runs, every event's record of them, and the workflows they leave without
    /// runs; returns how many workflows were deleted.
    async fn delete_runs(&mut self, run_ids: Vec<i64>) -> StoreResult<u64>;
    async fn mark_pruned(&mut self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;

    // Unlinking a repo.
    /// The ids of every run stored for the repo (linked or not), in id order, locked until the
    /// end of the transaction.
    async fn repo_runs(&mut self, repo_id: i64) -> StoreResult<Vec<i64>>;
    /// Marks `PRUNED` every `SUCCESS` event that recorded a write to one of these runs (so that
    /// its webhook-id no longer counts as stored); returns how many. Call it before
    /// [`Tx::delete_runs`], which deletes the records.
    async fn release_events(&mut self, run_ids: Vec<i64>, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Marks the repo unlinked: no longer in [`Tx::repos`] or [`Store::list_repos`]; its
    /// workflows and runs stay.
    async fn unlink_repo(&mut self, repo_id: i64, at: DateTime<Utc>) -> StoreResult<()>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Ends the transaction without writing. Dropping it does too, but a backend may release
    /// its locks only later (sqlx sends PostgreSQL's ROLLBACK when the connection goes back to
    /// the pool, from a task of its own): ending it here frees the rows it locked before the
    /// caller goes on, so a claim right after does not skip them.
    async fn rollback(self: Box<Self>) -> StoreResult<()>;
}

/// An incident's repos as stored in its `repo_ids` column: `,1,2,` (see incidents.sql).
pub fn repo_ids_text(ids: &[i64]) -> String {
    let mut text = String::from(",");
    for id in ids {
        text.push_str(&id.to_string());
        text.push(',');
    }
    text
}

/// The `LIKE` pattern that finds one repo in a `repo_ids` column.
pub fn repo_id_pattern(id: i64) -> String {
    format!("%,{id},%")
}

/// `org/name` of each repo id (unlinked ones too), `, `-joined in id order: how incident lists
/// name their repositories.
pub fn repo_label(names: &std::collections::HashMap<i64, String>, ids: &[i64]) -> String {
    ids.iter()
        .map(|id| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("repo {id}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one timestamp format stored: RFC 3339 UTC with milliseconds, so text order is time order.
/// Event ids aggregated by the database as `a,b,c` (event ids hold no comma), in order.
pub fn event_list(joined: Option<String>) -> Vec<String> {
    joined
        .map(|ids| ids.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The `resolution` of a stored answer (rejections carry one), if any.
pub fn answer_resolution(response: &str) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_str(response).ok()?;
    answer.get("resolution")?.as_str().map(str::to_owned)
}

pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored timestamp.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// The current time at the stored precision (milliseconds), so an answer shows exactly what a
/// later read returns.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn keys_are_usable_until_revoked_or_expired() {
        let at = now();
        let (key, _) = crate::ids::mint_key("k", vec![Scope::Deployments], None, at).expect("key");
        let mut record = KeyRecord {
            key,
            key_hash: String::new(),
        };
        assert!(record.is_usable(at));
        record.key.expires_at = Some(at + TimeDelta::seconds(1));
        assert!(record.is_usable(at));
        assert!(record.is_expired(at + TimeDelta::seconds(1)));
        record.key.expires_at = None;
        record.key.revoked_at = Some(at);
        assert!(!record.is_usable(at) && record.is_revoked());
    }

    #[test]
    fn stored_timestamps_sort_as_text() {
        let a = parse_ts("2025-01-01T00:00:00Z").expect("valid");
        let b = a + TimeDelta::milliseconds(5);
        assert!(ts(a) < ts(b), "{} {}", ts(a), ts(b));
        assert_eq!(parse_ts(&ts(b)), Some(b));
    }
}
