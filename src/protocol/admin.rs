//! Wire types of the admin API (`/api/...`), serialised by the server and read by mwctl.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a key may do. Ingest needs `deployments`; `/api/*` needs `admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Deployments,
    Incidents,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Deployments, Scope::Incidents, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Deployments => "deployments",
            Scope::Incidents => "incidents",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown scope {s:?}; use deployments, incidents or admin"))
    }
}

/// `POST /api/keys`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key as listed: never the key itself, only its display prefix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the key (`mwk_abcd1234`), to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to `POST /api/keys`: the only time the key is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub meta: ApiKey,
    pub key: String,
}

/// Processing state of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventStatus {
    Waiting,
    Running,
    Success,
    Failure,
    Rejected,
    Pruned,
}

impl EventStatus {
    pub const ALL: [EventStatus; 6] = [
        EventStatus::Waiting,
        EventStatus::Running,
        EventStatus::Success,
        EventStatus::Failure,
        EventStatus::Rejected,
        EventStatus::Pruned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Waiting => "WAITING",
            EventStatus::Running => "RUNNING",
            EventStatus::Success => "SUCCESS",
            EventStatus::Failure => "FAILURE",
            EventStatus::Rejected => "REJECTED",
            EventStatus::Pruned => "PRUNED",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<EventStatus, String> {
        EventStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown event status {s:?}; use waiting, running, success, failure, rejected or pruned"
                )
            })
    }
}

/// A stored request (the data dump), as listed by `GET /api/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub key_id: String,
    /// What was sent: `workflow` for run ingest, `incident` for incidents.
    pub request_type: String,
    pub webhook_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub status: EventStatus,
    pub error: Option<String>,
    /// What to do about it, from the answer sent (a `REJECTED` event's resolution); listed so a
    /// refusal reads whole without opening the event. Absent when the answer has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    pub attempts: u32,
    pub processed_at: Option<DateTime<Utc>>,
    /// Runs in the request.
    pub runs_received: u64,
    /// Runs the worker inserted.
    pub runs_created: u64,
    /// Stored runs the worker changed.
    pub runs_updated: u64,
    /// Runs left as they were (a PENDING run arriving after a final one).
    pub runs_unchanged: u64,
    /// Incidents in the request (an incident event; absent when 0, as the three below).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents_received: u64,
    /// Incidents the worker inserted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents_created: u64,
    /// Stored incidents the worker changed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents_updated: u64,
    /// Incidents left as they were (a late report, see docs/protocol.md).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incidents_unchanged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `GET /api/events/{id}`: the event with what was sent, what was answered and what it wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: Event,
    /// The request body as text (decompressed; lossy UTF-8), absent when it was not kept.
    pub body: Option<String>,
    /// The answer sent to the client.
    pub response: Value,
    pub runs: Vec<RunRef>,
    /// The incidents it wrote (an incident event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentRef>,
}

/// A run that an event wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    pub run_id: i64,
    /// `created` or `updated`.
    pub action: String,
    pub repo: String,
    pub workflow: String,
    pub unique_id: String,
    pub status: String,
}

/// `POST /api/events/{id}/prune[?dry_run=true]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    pub event_id: String,
    pub dry_run: bool,
    /// The event was pruned before; nothing was changed now.
    pub already_pruned: bool,
    /// Every run the event wrote, with what pruning did to it (or, on a dry run, would do).
    pub runs: Vec<PrunedRun>,
    /// Workflows left without runs, deleted with them.
    pub workflows_deleted: u64,
    /// Every incident the event wrote, with what pruning did to it (as for runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<PrunedIncident>,
}

/// An incident an event wrote, and what pruning the event did to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrunedIncident {
    pub outcome: PruneOutcome,
    /// `status` is the incident's status after the prune (for a deleted one, its last status).
    #[serde(flatten)]
    pub incident: IncidentRef,
}

impl PruneReport {
    /// How many runs had this outcome.
    pub fn count(&self, outcome: PruneOutcome) -> usize {
        self.runs.iter().filter(|r| r.outcome == outcome).count()
    }

    /// How many incidents had this outcome.
    pub fn count_incidents(&self, outcome: PruneOutcome) -> usize {
        self.incidents
            .iter()
            .filter(|i| i.outcome == outcome)
            .count()
    }
}

/// A run an event wrote, and what pruning the event did to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrunedRun {
    pub outcome: PruneOutcome,
    /// `status` is the run's status after the prune (for a deleted run, its last status).
    #[serde(flatten)]
    pub run: RunRef,
}

/// What pruning an event does to a run it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneOutcome {
    /// The event created it and no event that stands wrote it since: deleted.
    Deleted,
    /// The event updated it and no event that stands wrote it since: back to its state
    /// before the event.
    Restored,
    /// An event that stands wrote it since: left as it is.
    ChangedSince,
}

impl PruneOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PruneOutcome::Deleted => "deleted",
            PruneOutcome::Restored => "restored",
            PruneOutcome::ChangedSince => "changed_since",
        }
    }
}

/// `POST /api/repos`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkRepo {
    pub url: String,
}

/// A linked repository.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    pub id: i64,
    pub host: String,
    pub org: String,
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// `DELETE /api/repos/{id}[?delete_runs=true][&dry_run=true]`: the repo unlinked, and what
/// became of its runs. The repo's fields come first (flattened), as the call answered before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnlinkReport {
    #[serde(flatten)]
    pub repo: Repo,
    pub dry_run: bool,
    /// Runs kept (without `delete_runs`): back in use when the repo is linked again.
    pub runs_kept: u64,
    /// Runs deleted (with `delete_runs`; on a dry run, that would be).
    pub runs_deleted: u64,
    /// Workflows left without runs, deleted with them.
    pub workflows_deleted: u64,
    /// Events whose runs were deleted, marked `PRUNED`: sending their files again stores them
    /// again.
    pub events_released: u64,
}

/// A stored run, as `GET /api/runs` lists it (Middleware's `repo_workflow_runs` joined with
/// its workflow and repo).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    pub id: i64,
    /// `org/name`.
    pub repo: String,
    pub workflow: String,
    pub workflow_run_unique_id: String,
    pub event_actor: String,
    pub head_branch: String,
    pub status: String,
    pub conducted_at: DateTime<Utc>,
    /// Seconds.
    pub duration: Option<i64>,
    pub html_url: Option<String>,
    pub commit_sha: Option<String>,
    pub meta: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/runs`: one page of runs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<StoredRun>,
    /// Every run that matches the filters, on this page or not.
    pub total: u64,
    /// Give it as `cursor=` for the next page; `None` on the last page. Opaque.
    pub next: Option<String>,
}

/// `GET /api/events`: one page of events, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Every event that matches the filters, on this page or not.
    pub total: u64,
    /// Give it as `cursor=` (or `before=`) for the next page; `None` on the last page. Opaque.
    pub next: Option<String>,
}

/// Every non-2xx admin API answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    pub resolution: String,
}

/// A stored incident, as `GET /api/incidents` lists it: identity `(provider, incident_key)`,
/// the merged state of every report of it, and the deployment it is attributed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredIncident {
    pub id: i64,
    /// `org/name` of the affected repository.
    pub repo: String,
    pub provider: String,
    pub incident_key: String,
    /// `TRIGGERED`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// `INCIDENT` or `ALERT` (only incidents count in the DORA figures).
    pub incident_type: String,
    pub title: String,
    pub creation_date: DateTime<Utc>,
    pub acknowledged_date: Option<DateTime<Utc>>,
    pub resolved_date: Option<DateTime<Utc>>,
    pub reopened_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub assignees: Vec<String>,
    pub url: Option<String>,
    pub provider_service_name: Option<String>,
    /// The deployment the reporter named, as sent (it may not be stored).
    pub deployment: Option<crate::protocol::incident::DeploymentRef>,
    /// The stored deployment the incident counts against, if any (see [`Attribution`]).
    pub attributed_to: Option<Attribution>,
    /// The events that wrote it, oldest first: pruning one undoes its write.
    #[serde(default)]
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The stored deployment an incident counts against in the change failure rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub run_id: i64,
    pub workflow: String,
    pub workflow_run_unique_id: String,
    /// How it was found.
    pub by: AttributionRule,
}

/// How an incident's deployment was found (as Middleware attributes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionRule {
    /// The incident named it (`deployment`).
    Named,
    /// The latest SUCCESS deployment of the repository started before the incident's creation.
    LatestBefore,
}

/// `GET /api/incidents`: one page of incidents, newest `creation_date` first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentPage {
    pub incidents: Vec<StoredIncident>,
    /// Every incident that matches the filters, on this page or not.
    pub total: u64,
    /// Give it as `cursor=` for the next page; `None` on the last page. Opaque.
    pub next: Option<String>,
}

/// An incident that an event wrote (in `EventDetail::incidents` and `PruneReport::incidents`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentRef {
    pub incident_id: i64,
    /// `created` or `updated` (an event that changed nothing recorded no write).
    pub action: String,
    pub repo: String,
    pub provider: String,
    pub incident_key: String,
    pub status: String,
}
