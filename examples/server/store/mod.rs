//! The storage interface. Routes and the worker see only this trait, so a PostgreSQL store
//! (several instances sharing one queue) can implement it later. Methods are synchronous and
//! called through `spawn_blocking`; each is one short transaction.

pub mod sqlite;

use chrono::{DateTime, SecondsFormat, Utc};
use mwctl::protocol::admin::{
    ApiKey, Event, EventDetail, EventStatus, PruneReport, Repo, Scope, StoredRun,
};
use mwctl::protocol::{RepoFilter, Run};
use thiserror::Error;

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
        !self.is_revoked() && !self.is_expired(now)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.key.scopes.contains(&scope)
    }
}

/// What `revoke_key` did.
#[derive(Debug)]
pub enum Revoked {
    Done(ApiKey),
    NotFound,
    /// Refused: it is the last usable key with the admin scope.
    LastAdmin,
}

/// A request to store as an event (accepted or rejected).
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: String,
    pub key_id: String,
    pub request_type: String,
    pub webhook_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub body: Option<Vec<u8>>,
    /// The answer sent to the client, as JSON.
    pub response: String,
    /// `Waiting` for accepted requests, `Rejected` otherwise.
    pub status: EventStatus,
    pub error: Option<String>,
    pub runs_received: u64,
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

/// What `prune_event` did.
#[derive(Debug)]
pub enum Pruned {
    Done(PruneReport),
    NotFound,
    /// Still waiting or running: pruning now would race the worker.
    NotProcessed(EventStatus),
}

/// An event the worker took (now `RUNNING`).
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: String,
    pub request_type: String,
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

/// What `apply_event` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Runs written and the event marked `SUCCESS`, in one transaction.
    Done(Counts),
    /// Nothing written: a run's repository is no longer linked (the reason, for the event).
    Unresolved(String),
}

pub trait Store: Send + Sync + 'static {
    // API keys.
    fn count_keys(&self) -> StoreResult<u64>;
    fn insert_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()>;
    fn find_key(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>>;
    fn touch_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    fn list_keys(&self) -> StoreResult<Vec<ApiKey>>;
    fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<Revoked>;

    // Linked repositories.
    /// The repo and whether it was newly linked.
    fn link_repo(
        &self,
        repo: &mwctl::protocol::RepoRef,
        at: DateTime<Utc>,
    ) -> StoreResult<(Repo, bool)>;
    fn list_repos(&self) -> StoreResult<Vec<Repo>>;
    /// Unlinks and deletes the repo's workflows and runs.
    fn unlink_repo(&self, id: i64) -> StoreResult<Option<Repo>>;

    // Ingest.
    /// The stored response of the accepted event with this key and webhook-id, if any.
    fn find_duplicate(&self, key_id: &str, webhook_id: &str) -> StoreResult<Option<String>>;
    fn insert_event(&self, event: &NewEvent) -> StoreResult<Inserted>;

    // Inspection.
    fn list_events(&self, query: &EventQuery) -> StoreResult<Listed<Event>>;
    fn event_detail(&self, id: &str) -> StoreResult<Option<EventDetail>>;
    fn prune_event(&self, id: &str, dry_run: bool, at: DateTime<Utc>) -> StoreResult<Pruned>;
    fn list_runs(&self, query: &RunQuery) -> StoreResult<Listed<StoredRun>>;

    // The worker's queue.
    /// Puts events left `RUNNING` by a stopped server back to `WAITING`.
    fn requeue_running(&self) -> StoreResult<u64>;
    /// Takes the oldest `WAITING` event: `RUNNING`, attempts + 1.
    fn claim_next(&self) -> StoreResult<Option<Claimed>>;
    /// Counts one more attempt at a claimed event; returns the new count.
    fn add_attempt(&self, id: &str) -> StoreResult<u32>;
    /// Writes the event's runs and marks it `SUCCESS`, all or nothing.
    fn apply_event(
        &self,
        id: &str,
        runs: &[Run],
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied>;
    fn fail_event(&self, id: &str, error: &str, at: DateTime<Utc>) -> StoreResult<()>;

    // The notification outbox (kept only when the store was opened to notify).
    /// Rejected and failed events not notified yet, oldest first.
    fn pending_notices(&self, limit: u32) -> StoreResult<Vec<PendingNotice>>;
    /// The event's notification was delivered or given up on.
    fn notice_done(&self, event_id: &str) -> StoreResult<()>;
    /// Gives up on all but the newest `keep` pending notifications; how many.
    fn trim_notices(&self, keep: u32) -> StoreResult<u64>;
}

/// The one timestamp format stored: RFC 3339 UTC with milliseconds, so text order is time order.
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
