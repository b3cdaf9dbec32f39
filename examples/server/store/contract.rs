//! The contract every [`Store`] backend passes: keys, revocation, repos, events, dedupe, the
//! queue, processing (the rules applied through [`crate::ops`]), pruning and the outbox.
//!
//! Each check is an async function over a [`Backend`] (a fresh, empty database that can be
//! opened again, as a restart does). [`contract_suite!`] turns the whole list into one
//! `#[tokio::test]` per check for a backend; a backend's test module adds one line:
//!
//! ```ignore
//! crate::store::contract::contract_suite!(SqliteBackend::new());
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use mwctl::protocol::admin::{
    ApiKey, EventDetail, EventStatus, PruneOutcome, PruneReport, Repo, Scope, StoredRun,
    UnlinkReport,
};
use mwctl::protocol::signing::key_digest_hex;
use mwctl::protocol::{RepoFilter, RepoRef, RunStatus, parse_batch, parse_incident_batch};
use serde_json::{Value, json};

use super::{
    Action, Claimed, EventQuery, Inserted, NewEvent, RequestType, RunFields, RunQuery, RunWrite,
    Slot, Store, WriteRecord, Writer, now, parse_ts,
};
use crate::ids;
use crate::ops::{self, Applied, Pruned, Revoked};
use crate::store::Counts;

/// The worker the checks claim as (one server process).
pub const OWNER: &str = "srv_test";
/// A lease no check outlives.
pub const LEASE: Duration = Duration::from_secs(60);
/// A lease the checks let run out.
const SHORT_LEASE: Duration = Duration::from_millis(400);

/// A fresh, empty database of one backend.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Opens the database (again, after a drop: a restart); `notify` keeps the notification
    /// outbox.
    async fn open(&self, notify: bool) -> Arc<dyn Store>;

    /// The backend is not available and its tests are to be skipped (PostgreSQL without
    /// `MW_SKIP_POSTGRES=1` fails instead).
    fn skip(&self) -> bool {
        false
    }
}

/// One `#[tokio::test]` per check of the contract, against the backend `$backend` (an
/// expression evaluated in each test, which may `.await`).
macro_rules! contract_suite {
    ($backend:expr) => {
        $crate::store::contract::contract_suite!(@tests $backend;
            keys_are_stored_found_by_hash_touched_and_listed,
            the_first_key_is_stored_once,
            the_last_admin_key_cannot_be_revoked,
            repos_link_once_case_insensitively,
            unlinking_a_repo_keeps_its_runs_and_relinking_brings_it_back,
            unlinking_with_delete_runs_deletes_them_and_releases_their_events,
            events_keep_their_body_and_answer,
            events_list_newest_first_with_a_cursor,
            webhook_ids_dedupe_accepted_events_only,
            events_are_claimed_oldest_first,
            claims_take_up_to_the_limit,
            a_live_claim_is_never_taken_twice,
            concurrent_claims_never_share_an_event,
            an_expired_lease_is_taken_over,
            renewed_leases_are_kept,
            a_restart_takes_over_claims_of_the_stopped_server,
            failed_events_keep_their_error_and_attempts,
            a_transaction_not_committed_writes_nothing,
            inserted_runs_report_what_exists,
            pending_after_final_stays_final,
            final_over_pending_infers_the_duration_in_seconds,
            final_over_pending_keeps_the_pending_start,
            identical_runs_are_unchanged_and_changes_are_updates,
            one_run_for_two_repos_is_written_to_each,
            unlinked_repos_fail_the_event_without_writes,
            a_batch_gives_each_event_its_own_counts_and_records,
            a_failing_event_in_a_batch_does_not_fail_its_neighbours,
            a_batch_writes_nothing_for_events_whose_lease_was_lost,
            a_prune_of_one_event_of_a_batch_undoes_only_that_event,
            events_of_a_batch_that_update_one_run_each_record_what_they_replaced,
            runs_filter_by_repo_and_workflow,
            runs_page_by_cursor_and_report_the_total,
            prune_deletes_what_it_created_and_restores_what_it_updated,
            prune_leaves_runs_changed_since,
            pruning_in_any_order_ends_the_same,
            unprocessed_events_cannot_be_pruned,
            the_notification_outbox_holds_rejected_and_failed_events_until_done,
            incidents_are_created_merged_and_recorded,
            a_reopen_is_stored_and_a_late_resolution_ignored,
            incidents_list_by_repo_status_and_since_with_a_cursor,
            pruning_incident_events_restores_and_deletes,
            incidents_of_an_unlinked_repo_fail_the_event_without_writes,
            deployments_are_found_since_latest_before_and_by_name,
        );
    };
    (@tests $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend;
                if $crate::store::contract::Backend::skip(&backend) {
                    return;
                }
                $crate::store::contract::$name(&backend).await;
            }
        )*
    };
}
pub(crate) use contract_suite;

mod incidents;
pub use incidents::*;

/// A store with an admin key and two linked repos (acme/shop, acme/api).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub key_id: String,
}

pub fn at(s: &str) -> DateTime<Utc> {
    parse_ts(s).expect("valid timestamp")
}

pub async fn fixture(backend: &dyn Backend) -> Fixture {
    fixture_with(backend, false).await
}

async fn fixture_with(backend: &dyn Backend, notify: bool) -> Fixture {
    let store = backend.open(notify).await;
    let key = insert_key(
        store.as_ref(),
        "test",
        vec![Scope::Admin, Scope::Deployments],
    )
    .await;
    for url in [
        "https://github.com/acme/shop",
        "https://github.com/acme/api",
    ] {
        let repo = RepoRef::parse_url(url).expect("url");
        store
            .link_repo(&repo, at("2025-01-01T00:00:00Z"))
            .await
            .expect("linked");
    }
    Fixture {
        store,
        key_id: key.id,
    }
}

async fn insert_key(store: &dyn Store, name: &str, scopes: Vec<Scope>) -> ApiKey {
    let (key, secret) = ids::mint_key(name, scopes, None, at("2025-01-01T00:00:00Z")).expect("key");
    store
        .insert_key(&key, &key_digest_hex(&secret))
        .await
        .expect("stored");
    key
}

/// A run of workflow `workflow` in acme/`repo`, conducted 2025-01-10T10:00:00Z.
pub fn run(repo: &str, workflow: &str, id: &str, status: &str, duration: Option<i64>) -> Value {
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

fn counts(created: u64, updated: u64, unchanged: u64) -> Applied {
    Applied::Done(Counts {
        created,
        updated,
        unchanged,
    })
}

impl Fixture {
    fn event(&self, status: EventStatus, received_at: &str, body: Option<Vec<u8>>) -> NewEvent {
        let id = ids::event_id();
        NewEvent {
            response: if status == EventStatus::Rejected {
                format!(
                    "{{\"status\":\"rejected\",\"event_id\":\"{id}\",\"error\":\"bad\",\"resolution\":\"fix it\"}}"
                )
            } else {
                format!(
                    "{{\"status\":\"accepted\",\"event_id\":\"{id}\",\"accepted\":1,\"message\":\"m\"}}"
                )
            },
            id,
            key_id: self.key_id.clone(),
            request_type: RequestType::Workflow,
            webhook_id: None,
            received_at: at(received_at),
            body,
            status,
            error: (status == EventStatus::Rejected).then(|| "bad".to_owned()),
            received: 1,
        }
    }

    /// Stores an accepted event and returns its id.
    pub async fn ingest(
        &self,
        runs: Vec<Value>,
        received_at: &str,
        webhook_id: Option<&str>,
    ) -> String {
        let body = serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json");
        let mut event = self.event(EventStatus::Waiting, received_at, Some(body));
        event.webhook_id = webhook_id.map(str::to_owned);
        let id = event.id.clone();
        assert!(matches!(
            self.store.insert_event(event).await.expect("stored"),
            Inserted::New
        ));
        id
    }

    /// Stores a rejected event and returns its id.
    async fn reject(&self, received_at: &str) -> String {
        let event = self.event(EventStatus::Rejected, received_at, None);
        let id = event.id.clone();
        self.store.insert_event(event).await.expect("stored");
        id
    }

    /// Claims the next event and applies it, as the worker does.
    pub async fn process(&self) -> Applied {
        let claimed = self.claim_one(OWNER).await.expect("one waiting");
        self.apply(&claimed, OWNER).await
    }

    /// Claims the next event as `owner`, if one can be claimed.
    pub async fn claim_one(&self, owner: &str) -> Option<Claimed> {
        let mut claimed = self.store.claim(owner, LEASE, 1).await.expect("claims");
        assert!(claimed.len() <= 1, "one at most");
        claimed.pop()
    }

    /// Applies a claimed event as `owner`, as the worker does.
    pub async fn apply(&self, claimed: &Claimed, owner: &str) -> Applied {
        let body = claimed.body.as_deref().expect("body");
        if claimed.request_type == Ok(RequestType::Incident) {
            let incidents = parse_incident_batch(body, claimed.received_at).expect("valid");
            return ops::apply_incident_event(
                self.store.as_ref(),
                &claimed.id,
                owner,
                &incidents,
                now(),
            )
            .await
            .expect("applies");
        }
        let runs = parse_batch(body, claimed.received_at).expect("valid");
        ops::apply_event(
            self.store.as_ref(),
            &claimed.id,
            owner,
            &runs,
            claimed.received_at,
            now(),
        )
        .await
        .expect("applies")
    }

    /// Claims up to `limit` events and applies them in one transaction, as the worker does.
    pub async fn process_batch(&self, limit: u32) -> Vec<(String, Applied)> {
        let claimed = self.store.claim(OWNER, LEASE, limit).await.expect("claims");
        let applied = self.apply_batch(&claimed, OWNER).await;
        ids_of(&claimed).into_iter().zip(applied).collect()
    }

    /// Applies claimed events as `owner` in one transaction ([`ops::apply_events`]).
    pub async fn apply_batch(&self, claimed: &[Claimed], owner: &str) -> Vec<Applied> {
        let runs: Vec<_> = claimed
            .iter()
            .map(|c| parse_batch(c.body.as_deref().expect("body"), c.received_at).expect("valid"))
            .collect();
        let pending: Vec<ops::Pending<'_>> = claimed
            .iter()
            .zip(&runs)
            .map(|(c, runs)| ops::Pending {
                id: &c.id,
                runs,
                received_at: c.received_at,
            })
            .collect();
        let applied = ops::apply_events(self.store.as_ref(), owner, &pending, now())
            .await
            .expect("applies");
        assert_eq!(applied.len(), claimed.len(), "one result per event");
        applied
    }

    pub async fn runs(&self) -> Vec<StoredRun> {
        self.store
            .list_runs(&RunQuery {
                limit: 100,
                ..RunQuery::default()
            })
            .await
            .expect("lists")
            .items
    }

    async fn detail(&self, id: &str) -> EventDetail {
        self.store
            .event_detail(id)
            .await
            .expect("reads")
            .expect("exists")
    }

    /// The linked repo acme/`name`.
    async fn repo(&self, name: &str) -> Option<Repo> {
        self.store
            .list_repos()
            .await
            .expect("lists")
            .into_iter()
            .find(|r| r.name == name)
    }

    async fn unlink(&self, id: i64, delete_runs: bool, dry_run: bool) -> Option<UnlinkReport> {
        ops::unlink_repo(self.store.as_ref(), id, delete_runs, dry_run, now())
            .await
            .expect("answers")
    }

    async fn prune(&self, id: &str, dry_run: bool) -> Pruned {
        ops::prune_event(self.store.as_ref(), id, dry_run, now())
            .await
            .expect("answers")
    }
}

pub async fn keys_are_stored_found_by_hash_touched_and_listed(backend: &dyn Backend) {
    let store = backend.open(false).await;
    assert_eq!(store.count_keys().await.expect("counts"), 0);
    let (first, secret) = ids::mint_key(
        "ci",
        vec![Scope::Deployments],
        Some(at("2030-01-01T00:00:00Z")),
        at("2025-01-01T00:00:00Z"),
    )
    .expect("key");
    store
        .insert_key(&first, &key_digest_hex(&secret))
        .await
        .expect("stored");
    let second = insert_key(store.as_ref(), "admin", vec![Scope::Admin]).await;
    assert_eq!(store.count_keys().await.expect("counts"), 2);

    let found = store
        .find_key(&key_digest_hex(&secret))
        .await
        .expect("reads")
        .expect("found by the key's hash");
    assert_eq!(found.key, first, "every field round-trips");
    assert_eq!(found.key_hash, key_digest_hex(&secret));
    assert!(
        store
            .find_key(&key_digest_hex("mwk_other"))
            .await
            .expect("reads")
            .is_none()
    );

    let used = at("2025-02-01T12:00:00.123Z");
    store.touch_key(&first.id, used).await.expect("touched");
    let found = store
        .find_key(&key_digest_hex(&secret))
        .await
        .expect("reads")
        .expect("found");
    assert_eq!(found.key.last_used_at, Some(used));

    let listed: Vec<String> = store
        .list_keys()
        .await
        .expect("lists")
        .into_iter()
        .map(|k| k.id)
        .collect();
    // Same created_at: the newer id first.
    assert_eq!(listed, [second.id, first.id]);
}

pub async fn the_first_key_is_stored_once(backend: &dyn Backend) {
    let store = backend.open(false).await;
    // Instances starting together on an empty database: one key is stored.
    let mut starts = Vec::new();
    for i in 0..6 {
        let store = Arc::clone(&store);
        starts.push(tokio::spawn(async move {
            let (key, secret) =
                ids::mint_key(&format!("admin{i}"), vec![Scope::Admin], None, now()).expect("key");
            store
                .insert_first_key(&key, &key_digest_hex(&secret))
                .await
                .expect("answers")
        }));
    }
    let mut stored = 0;
    for start in starts {
        stored += usize::from(start.await.expect("task"));
    }
    assert_eq!(stored, 1);
    assert_eq!(store.count_keys().await.expect("counts"), 1);
}

pub async fn the_last_admin_key_cannot_be_revoked(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let store = f.store.as_ref();
    let t = now();
    assert!(matches!(
        ops::revoke_key(store, &f.key_id, t).await.expect("answers"),
        Revoked::LastAdmin
    ));
    let other = insert_key(store, "second", vec![Scope::Admin]).await;
    let Revoked::Done(revoked) = ops::revoke_key(store, &f.key_id, t).await.expect("revokes")
    else {
        panic!("expected a revocation");
    };
    assert_eq!(revoked.revoked_at, Some(t));
    let stored = store.list_keys().await.expect("lists");
    let stored = stored.iter().find(|k| k.id == f.key_id).expect("kept");
    assert_eq!(stored.revoked_at, Some(t), "revoked in the store");
    // Idempotent (the first revocation time stays), and the remaining admin is now the last.
    assert!(matches!(
        ops::revoke_key(store, &f.key_id, t + TimeDelta::seconds(1)).await.expect("again"),
        Revoked::Done(k) if k.revoked_at == Some(t)
    ));
    assert!(matches!(
        ops::revoke_key(store, &other.id, t).await.expect("answers"),
        Revoked::LastAdmin
    ));
    assert!(matches!(
        ops::revoke_key(store, "key_nope", t)
            .await
            .expect("answers"),
        Revoked::NotFound
    ));
}

pub async fn repos_link_once_case_insensitively(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let (repo, created) = f
        .store
        .link_repo(
            &RepoRef::parse_url("git@github.com:ACME/Shop.git").expect("url"),
            now(),
        )
        .await
        .expect("links");
    assert!(!created);
    assert_eq!(repo.url, "https://github.com/acme/shop");
    let (new, created) = f
        .store
        .link_repo(
            &RepoRef::parse_url("https://gitlab.com/acme/shop").expect("url"),
            now(),
        )
        .await
        .expect("links");
    assert!(created, "another host is another repo");
    let listed: Vec<String> = f
        .store
        .list_repos()
        .await
        .expect("lists")
        .into_iter()
        .map(|r| r.url)
        .collect();
    assert_eq!(
        listed,
        [
            "https://github.com/acme/shop",
            "https://github.com/acme/api",
            new.url.as_str()
        ],
        "in id order"
    );
}

pub async fn unlinking_a_repo_keeps_its_runs_and_relinking_brings_it_back(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest(
        vec![
            run("shop", "deploy", "1", "SUCCESS", None),
            run("api", "deploy", "2", "SUCCESS", None),
        ],
        "2025-01-10T10:01:00Z",
        None,
    )
    .await;
    f.process().await;
    let shop = f.repo("shop").await.expect("linked");

    // A dry run changes nothing.
    let dry = f.unlink(shop.id, false, true).await.expect("linked");
    assert!(dry.dry_run);
    assert_eq!(f.repo("shop").await.map(|r| r.id), Some(shop.id));

    let report = f.unlink(shop.id, false, false).await.expect("linked");
    assert_eq!(report.repo, shop);
    assert_eq!((report.runs_kept, report.runs_deleted), (1, 0));
    assert_eq!((report.workflows_deleted, report.events_released), (0, 0));
    assert!(f.repo("shop").await.is_none(), "no longer listed");
    assert!(
        f.unlink(shop.id, false, false).await.is_none(),
        "not linked"
    );
    assert_eq!(f.runs().await.len(), 2, "its runs stay");

    // New runs for it are refused while it is unlinked.
    f.ingest(
        vec![run("shop", "deploy", "3", "SUCCESS", None)],
        "2025-01-10T10:02:00Z",
        None,
    )
    .await;
    assert!(matches!(f.process().await, Applied::Unresolved(_)));

    // Linked again: the same repo, its runs, and new runs accepted.
    let url = RepoRef::parse_url("https://github.com/ACME/shop").expect("url");
    let (again, newly) = f.store.link_repo(&url, now()).await.expect("links");
    assert!(newly, "linking an unlinked repo links it");
    assert_eq!(again.id, shop.id);
    assert_eq!(f.repo("shop").await.map(|r| r.id), Some(shop.id));
    f.ingest(
        vec![run("shop", "deploy", "3", "SUCCESS", None)],
        "2025-01-10T10:03:00Z",
        None,
    )
    .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    assert_eq!(f.runs().await.len(), 3);
}

pub async fn unlinking_with_delete_runs_deletes_them_and_releases_their_events(
    backend: &dyn Backend,
) {
    let f = fixture(backend).await;
    let both = f
        .ingest(
            vec![
                run("shop", "deploy", "1", "SUCCESS", None),
                run("api", "deploy", "1", "SUCCESS", None),
            ],
            "2025-01-10T10:01:00Z",
            Some("hook-both"),
        )
        .await;
    let shop_only = f
        .ingest(
            vec![
                run("shop", "deploy", "1", "FAILURE", None),
                run("shop", "release", "2", "SUCCESS", None),
            ],
            "2025-01-10T10:02:00Z",
            Some("hook-shop"),
        )
        .await;
    let api_only = f
        .ingest(
            vec![run("api", "deploy", "3", "SUCCESS", None)],
            "2025-01-10T10:03:00Z",
            Some("hook-api"),
        )
        .await;
    for _ in 0..3 {
        f.process().await;
    }
    let shop = f.repo("shop").await.expect("linked");

    let dry = f.unlink(shop.id, true, true).await.expect("linked");
    assert!(dry.dry_run);
    assert_eq!(
        (
            dry.runs_kept,
            dry.runs_deleted,
            dry.workflows_deleted,
            dry.events_released
        ),
        (0, 2, 2, 2)
    );
    assert_eq!(f.runs().await.len(), 4, "a dry run deletes nothing");
    assert!(f.repo("shop").await.is_some(), "a dry run unlinks nothing");
    assert_eq!(f.detail(&both).await.event.status, EventStatus::Success);

    let report = f.unlink(shop.id, true, false).await.expect("linked");
    assert_eq!(
        (
            report.runs_deleted,
            report.workflows_deleted,
            report.events_released
        ),
        (2, 2, 2)
    );
    let left: Vec<String> = f.runs().await.into_iter().map(|r| r.repo).collect();
    assert_eq!(left, ["acme/api", "acme/api"]);
    assert!(f.repo("shop").await.is_none());
    assert_eq!(f.detail(&both).await.event.status, EventStatus::Pruned);
    assert_eq!(f.detail(&shop_only).await.event.status, EventStatus::Pruned);
    assert_eq!(f.detail(&api_only).await.event.status, EventStatus::Success);
    // Their webhook-ids no longer count as stored; the other one's still does.
    for (hook, stored) in [
        ("hook-both", false),
        ("hook-shop", false),
        ("hook-api", true),
    ] {
        let twin = f
            .store
            .find_duplicate(&f.key_id, hook)
            .await
            .expect("reads");
        assert_eq!(twin.is_some(), stored, "{hook}");
    }
}

pub async fn events_keep_their_body_and_answer(backend: &dyn Backend) {
    let f = fixture(backend).await;
    // A large body (stored compressed by some backends) and a small one come back as sent.
    let runs: Vec<Value> = (0..200)
        .map(|i| run("shop", "deploy", &i.to_string(), "SUCCESS", Some(i)))
        .collect();
    let big = f.ingest(runs.clone(), "2025-01-10T10:01:00Z", None).await;
    let detail = f.detail(&big).await;
    let body: Value = serde_json::from_str(detail.body.as_deref().expect("kept")).expect("json");
    assert_eq!(body, json!({ "workflow_runs": runs }));
    assert_eq!(detail.response["event_id"], big.as_str());
    assert_eq!(detail.event.status, EventStatus::Waiting);
    assert_eq!(detail.event.received_at, at("2025-01-10T10:01:00Z"));
    assert_eq!(detail.event.runs_received, 1);

    let rejected = f.reject("2025-01-10T10:02:00Z").await;
    let detail = f.detail(&rejected).await;
    assert_eq!(detail.event.status, EventStatus::Rejected);
    assert_eq!(detail.event.error.as_deref(), Some("bad"));
    assert_eq!(detail.event.resolution.as_deref(), Some("fix it"));
    assert!(detail.body.is_none());
    // The list carries the answer's resolution too (an accepted answer has none).
    let listed = f
        .store
        .list_events(&EventQuery {
            status: None,
            before: None,
            limit: 10,
        })
        .await
        .expect("lists");
    let resolutions: Vec<_> = listed
        .items
        .iter()
        .map(|e| (e.id.as_str(), e.resolution.as_deref()))
        .collect();
    assert_eq!(
        resolutions,
        [(rejected.as_str(), Some("fix it")), (big.as_str(), None)]
    );
    assert!(
        f.store
            .event_detail("evt_nope")
            .await
            .expect("reads")
            .is_none()
    );
}

pub async fn events_list_newest_first_with_a_cursor(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let runs = vec![run("shop", "deploy", &i.to_string(), "SUCCESS", None)];
        ids.push(f.ingest(runs, "2025-01-10T10:01:00Z", None).await);
    }
    f.process().await;
    // (ids on the page, total, more)
    let list = |status, before: Option<&String>| {
        let query = EventQuery {
            status,
            limit: 2,
            before: before.cloned(),
        };
        let store = Arc::clone(&f.store);
        async move {
            let listed = store.list_events(&query).await.expect("lists");
            let ids: Vec<String> = listed.items.into_iter().map(|e| e.id).collect();
            (ids, listed.total, listed.more)
        }
    };
    assert_eq!(
        list(None, None).await,
        (vec![ids[4].clone(), ids[3].clone()], 5, true)
    );
    assert_eq!(
        list(None, Some(&ids[3])).await,
        (vec![ids[2].clone(), ids[1].clone()], 5, true),
        "the total ignores the cursor"
    );
    assert_eq!(
        list(None, Some(&ids[1])).await,
        (vec![ids[0].clone()], 5, false),
        "the last page says no more"
    );
    assert_eq!(
        list(None, Some(&ids[2])).await,
        (vec![ids[1].clone(), ids[0].clone()], 5, false),
        "a full last page says no more"
    );
    assert_eq!(
        list(Some(EventStatus::Success), None).await,
        (vec![ids[0].clone()], 1, false)
    );
    assert_eq!(
        list(Some(EventStatus::Waiting), Some(&ids[4])).await,
        (vec![ids[3].clone(), ids[2].clone()], 4, true),
        "status and cursor together; the total counts the status only"
    );
}

pub async fn webhook_ids_dedupe_accepted_events_only(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let first = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            Some("batch-1"),
        )
        .await;
    let found = f
        .store
        .find_duplicate(&f.key_id, "batch-1")
        .await
        .expect("reads")
        .expect("the first stands");
    assert!(found.response.contains(&first), "{}", found.response);
    let body = found.body.expect("with its body, decompressed");
    let sent: Value = serde_json::from_slice(&body).expect("the JSON sent");
    assert_eq!(sent["workflow_runs"][0]["workflow_run_unique_id"], "1");
    let mut twin = f.event(EventStatus::Waiting, "2025-01-10T10:02:00Z", None);
    twin.webhook_id = Some("batch-1".to_owned());
    let Inserted::Duplicate(response) = f.store.insert_event(twin.clone()).await.expect("answers")
    else {
        panic!("expected the first event's answer");
    };
    assert!(response.contains(&first), "{response}");
    // Another key may use the same webhook-id.
    let other = insert_key(f.store.as_ref(), "other", vec![Scope::Deployments]).await;
    let theirs = NewEvent {
        id: ids::event_id(),
        key_id: other.id.clone(),
        ..twin.clone()
    };
    assert!(matches!(
        f.store.insert_event(theirs).await.expect("stored"),
        Inserted::New
    ));
    // A rejected request with that id is stored, and does not count.
    let rejected = NewEvent {
        id: ids::event_id(),
        status: EventStatus::Rejected,
        ..twin.clone()
    };
    assert!(matches!(
        f.store.insert_event(rejected).await.expect("stored"),
        Inserted::New
    ));
    assert!(
        f.store
            .find_duplicate(&f.key_id, "batch-1")
            .await
            .expect("reads")
            .is_some_and(|twin| twin.response.contains(&first))
    );
    assert!(
        f.store
            .find_duplicate(&f.key_id, "batch-2")
            .await
            .expect("reads")
            .is_none()
    );

    // Once the first is pruned, the batch may be sent again.
    f.process().await;
    f.prune(&first, false).await;
    assert!(
        f.store
            .find_duplicate(&f.key_id, "batch-1")
            .await
            .expect("reads")
            .is_none()
    );
    let resent = NewEvent {
        id: ids::event_id(),
        ..twin
    };
    assert!(matches!(
        f.store.insert_event(resent).await.expect("stored"),
        Inserted::New
    ));
}

pub async fn events_are_claimed_oldest_first(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let first = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    f.reject("2025-01-10T10:01:00Z").await;
    let second = f
        .ingest(
            vec![run("shop", "deploy", "2", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let claimed = f.claim_one(OWNER).await.expect("waiting");
    assert_eq!((claimed.id.as_str(), claimed.attempts), (first.as_str(), 1));
    assert_eq!(claimed.request_type, Ok(RequestType::Workflow));
    assert_eq!(claimed.received_at, at("2025-01-10T10:01:00Z"));
    assert!(
        claimed
            .body
            .is_some_and(|b| b.starts_with(b"{\"workflow_runs\""))
    );
    assert_eq!(f.detail(&first).await.event.status, EventStatus::Running);
    let claimed = f.claim_one(OWNER).await.expect("waiting");
    assert_eq!(claimed.id, second, "rejected events are not queued");
    assert!(f.claim_one(OWNER).await.is_none());
}

/// Stores `n` accepted events (one run each, ids `0`..`n`); their ids, oldest first.
async fn ingest_many(f: &Fixture, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            f.ingest(
                vec![run("shop", "deploy", &i.to_string(), "SUCCESS", None)],
                "2025-01-10T10:01:00Z",
                None,
            )
            .await,
        );
    }
    ids
}

fn ids_of(claimed: &[Claimed]) -> Vec<String> {
    claimed.iter().map(|c| c.id.clone()).collect()
}

pub async fn claims_take_up_to_the_limit(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let ids = ingest_many(&f, 5).await;
    let claimed = f.store.claim(OWNER, LEASE, 3).await.expect("claims");
    assert_eq!(ids_of(&claimed), ids[..3], "the oldest, in order");
    assert!(claimed.iter().all(|c| c.attempts == 1 && c.body.is_some()));
    let claimed = f.store.claim(OWNER, LEASE, 3).await.expect("claims");
    assert_eq!(ids_of(&claimed), ids[3..]);
    assert!(
        f.store
            .claim(OWNER, LEASE, 3)
            .await
            .expect("claims")
            .is_empty()
    );
}

pub async fn a_live_claim_is_never_taken_twice(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = &ingest_many(&f, 1).await[0];
    let claimed = f.claim_one("srv_a").await.expect("waiting");
    assert_eq!(&claimed.id, id);
    assert!(
        f.claim_one("srv_b").await.is_none(),
        "another worker waits for the lease to end"
    );
    assert!(
        f.claim_one("srv_a").await.is_none(),
        "nor does the owner claim it again"
    );
    // Only the owner writes it, or fails it.
    assert_eq!(f.apply(&claimed, "srv_b").await, Applied::Lost);
    assert!(
        !f.store
            .fail_event(id, "srv_b", "not mine", now())
            .await
            .expect("answers")
    );
    assert_eq!(f.detail(id).await.event.status, EventStatus::Running);
    assert_eq!(f.apply(&claimed, "srv_a").await, counts(1, 0, 0));
    assert_eq!(f.detail(id).await.event.status, EventStatus::Success);
    assert!(
        f.claim_one("srv_b").await.is_none(),
        "processed events stay processed"
    );
}

pub async fn concurrent_claims_never_share_an_event(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let ids = ingest_many(&f, 40).await;
    let mut claimers = Vec::new();
    for worker in 0..8 {
        let store = Arc::clone(&f.store);
        claimers.push(tokio::spawn(async move {
            let owner = format!("srv_{worker}");
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim(&owner, LEASE, 2).await.expect("claims");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(ids_of(&claimed));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("claimer"));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "an event was claimed twice: {all:?}"
    );
    assert_eq!(unique.len(), ids.len(), "every event was claimed once");
}

pub async fn an_expired_lease_is_taken_over(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = &ingest_many(&f, 1).await[0];
    let dead = f
        .store
        .claim("srv_dead", SHORT_LEASE, 1)
        .await
        .expect("claims");
    assert_eq!(ids_of(&dead), [id.as_str()]);
    assert!(f.claim_one("srv_b").await.is_none(), "the lease is live");
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let taken = f
        .claim_one("srv_b")
        .await
        .expect("the lease ended: taken over");
    assert_eq!((&taken.id, taken.attempts), (id, 2));
    assert!(taken.body.is_some());
    // The late first owner writes nothing; the new one does.
    assert_eq!(f.apply(&dead[0], "srv_dead").await, Applied::Lost);
    assert_eq!(
        f.store
            .renew("srv_dead", vec![id.clone()], LEASE)
            .await
            .expect("renews"),
        0,
        "a lease taken over cannot be renewed"
    );
    assert_eq!(f.apply(&taken, "srv_b").await, counts(1, 0, 0));
    let detail = f.detail(id).await;
    assert_eq!(
        (detail.event.status, detail.event.attempts),
        (EventStatus::Success, 2)
    );
    assert_eq!(detail.runs.len(), 1);
}

pub async fn renewed_leases_are_kept(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let ids = ingest_many(&f, 2).await;
    let claimed = f
        .store
        .claim("srv_a", SHORT_LEASE, 2)
        .await
        .expect("claims");
    assert_eq!(ids_of(&claimed), ids);
    for _ in 0..3 {
        tokio::time::sleep(SHORT_LEASE / 2).await;
        assert_eq!(
            f.store
                .renew("srv_a", ids.clone(), SHORT_LEASE)
                .await
                .expect("renews"),
            2
        );
    }
    assert!(f.claim_one("srv_b").await.is_none(), "renewed: still held");
    assert_eq!(f.apply(&claimed[0], "srv_a").await, counts(1, 0, 0));
    assert_eq!(
        f.store
            .renew("srv_a", ids.clone(), SHORT_LEASE)
            .await
            .expect("renews"),
        1,
        "a processed event is no longer held"
    );
}

pub async fn a_restart_takes_over_claims_of_the_stopped_server(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = &ingest_many(&f, 1).await[0];
    let claimed = f
        .store
        .claim("srv_old", SHORT_LEASE, 1)
        .await
        .expect("claims");
    assert_eq!(ids_of(&claimed), [id.as_str()]);
    drop(f.store);
    // A SQLite store ends the old leases at open; a shared database once they run out.
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let f = Fixture {
        store: backend.open(false).await,
        key_id: f.key_id,
    };
    let taken = f.claim_one("srv_new").await.expect("taken over");
    assert_eq!((&taken.id, taken.attempts), (id, 2));
    assert_eq!(f.apply(&taken, "srv_new").await, counts(1, 0, 0));
    let detail = f.detail(id).await;
    assert_eq!(detail.event.status, EventStatus::Success);
    assert_eq!(detail.runs.len(), 1);
}

pub async fn failed_events_keep_their_error_and_attempts(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    f.claim_one(OWNER).await.expect("waiting");
    assert_eq!(f.store.add_attempt(&id).await.expect("counts"), 2);
    let failed_at = at("2025-01-10T10:05:00Z");
    assert!(
        f.store
            .fail_event(&id, OWNER, "broken", failed_at)
            .await
            .expect("fails")
    );
    let event = f.detail(&id).await.event;
    assert_eq!(event.status, EventStatus::Failure);
    assert_eq!(event.error.as_deref(), Some("broken"));
    assert_eq!(event.attempts, 2);
    assert_eq!(event.processed_at, Some(failed_at));
    assert!(
        f.store
            .claim_notices(OWNER, LEASE, 10)
            .await
            .expect("reads")
            .is_empty(),
        "a store that does not notify keeps no outbox"
    );
}

pub fn fields(status: RunStatus) -> RunFields {
    RunFields {
        event_actor: "alice".to_owned(),
        head_branch: "main".to_owned(),
        status,
        conducted_at: at("2025-01-10T10:00:00.250Z"),
        duration: Some(3),
        html_url: Some("https://ci.example.com/1".to_owned()),
        commit_sha: Some("abcdef1".to_owned()),
        meta: Some(r#"{"env":"prod"}"#.to_owned()),
    }
}

pub fn write(repo_id: i64, unique_id: &str, fields: RunFields) -> RunWrite {
    RunWrite {
        repo_id,
        workflow: "deploy".to_owned(),
        unique_id: unique_id.to_owned(),
        fields,
    }
}

pub async fn a_transaction_not_committed_writes_nothing(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let repo_id = f.store.list_repos().await.expect("lists")[0].id;
    let id = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    f.claim_one(OWNER).await.expect("waiting");
    let mut tx = f.store.begin(Writer::Worker).await.expect("begins");
    let slots = tx
        .insert_runs(vec![write(repo_id, "1", fields(RunStatus::Success))], now())
        .await
        .expect("inserts");
    let Slot::Created(run_id) = slots[0] else {
        panic!("expected a new run: {slots:?}");
    };
    tx.finish_events(
        vec![super::Finished {
            id: id.clone(),
            written: vec![WriteRecord {
                run_id,
                action: Action::Created,
                before: None,
            }],
            counts: Counts::default(),
        }],
        now(),
    )
    .await
    .expect("finishes");
    drop(tx);
    assert!(f.runs().await.is_empty(), "rolled back");
    assert_eq!(f.detail(&id).await.event.status, EventStatus::Running);

    // The store is usable after a rollback, and a committed transaction is kept.
    let mut tx = f.store.begin(Writer::Request).await.expect("begins");
    tx.insert_runs(vec![write(repo_id, "1", fields(RunStatus::Success))], now())
        .await
        .expect("inserts");
    tx.commit().await.expect("commits");
    assert_eq!(f.runs().await.len(), 1);
}

pub async fn inserted_runs_report_what_exists(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let repo_id = f.store.list_repos().await.expect("lists")[0].id;
    let written_at = at("2025-01-11T00:00:00Z");
    let mut tx = f.store.begin(Writer::Worker).await.expect("begins");
    let pending = fields(RunStatus::Pending);
    let slots = tx
        .insert_runs(
            vec![
                write(repo_id, "1", pending.clone()),
                write(repo_id, "2", fields(RunStatus::Success)),
                // A later entry sees an earlier one.
                write(repo_id, "1", fields(RunStatus::Failure)),
            ],
            written_at,
        )
        .await
        .expect("inserts");
    let (Slot::Created(first), Slot::Created(second)) = (&slots[0], &slots[1]) else {
        panic!("expected two new runs: {slots:?}");
    };
    assert_ne!(first, second);
    assert_eq!(
        slots[2],
        Slot::Exists {
            run_id: *first,
            stored: pending.clone()
        },
        "every field round-trips"
    );
    let mut after = fields(RunStatus::Success);
    after.duration = None;
    after.meta = None;
    tx.update_runs(
        vec![super::RunUpdate {
            run_id: *first,
            after: after.clone(),
        }],
        at("2025-01-12T00:00:00Z"),
    )
    .await
    .expect("updates");
    let slots = tx
        .insert_runs(vec![write(repo_id, "1", fields(RunStatus::Pending))], now())
        .await
        .expect("reads");
    assert_eq!(
        slots,
        [Slot::Exists {
            run_id: *first,
            stored: after
        }]
    );
    tx.commit().await.expect("commits");
    let runs = f.runs().await;
    let stored = runs.iter().find(|r| r.id == *first).expect("stored");
    assert_eq!(stored.created_at, written_at);
    assert_eq!(stored.updated_at, at("2025-01-12T00:00:00Z"));
    assert_eq!(
        (stored.repo.as_str(), stored.workflow.as_str()),
        ("acme/shop", "deploy")
    );
    assert_eq!(stored.status, "SUCCESS");
    assert_eq!(stored.duration, None);
}

pub async fn pending_after_final_stays_final(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest(
        vec![run("shop", "deploy", "1", "SUCCESS", Some(30))],
        "2025-01-10T10:01:00Z",
        None,
    )
    .await;
    let late = f
        .ingest(
            vec![run("shop", "deploy", "1", "PENDING", None)],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    assert_eq!(f.process().await, counts(0, 0, 1));
    let runs = f.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "SUCCESS");
    assert_eq!(runs[0].duration, Some(30));
    let detail = f.detail(&late).await;
    assert_eq!(detail.event.status, EventStatus::Success);
    assert_eq!(detail.event.runs_unchanged, 1);
    assert!(
        detail.runs.is_empty(),
        "an unchanged run is not the event's to prune"
    );
}

pub async fn final_over_pending_infers_the_duration_in_seconds(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest(
        vec![run("shop", "deploy", "1", "PENDING", None)],
        "2025-01-10T10:00:01Z",
        None,
    )
    .await;
    let finish = f
        .ingest(
            vec![run("shop", "deploy", "1", "FAILURE", None)],
            "2025-01-10T10:05:30.900Z",
            None,
        )
        .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    assert_eq!(f.runs().await[0].duration, None);
    assert_eq!(f.process().await, counts(0, 1, 0));
    let runs = f.runs().await;
    assert_eq!(runs[0].status, "FAILURE");
    assert_eq!(
        runs[0].duration,
        Some(330),
        "whole seconds since conducted_at"
    );
    let detail = f.detail(&finish).await;
    assert_eq!(detail.runs.len(), 1);
    assert_eq!(detail.runs[0].action, "updated");
    assert_eq!(detail.runs[0].repo, "acme/shop");
    assert_eq!(detail.event.runs_updated, 1);

    // A final run conducted after it was received (clock skew) gets 0, never negative.
    f.ingest(
        vec![run("shop", "deploy", "2", "PENDING", None)],
        "2025-01-10T10:00:00Z",
        None,
    )
    .await;
    f.ingest(
        vec![run("shop", "deploy", "2", "SUCCESS", None)],
        "2025-01-10T09:59:00Z",
        None,
    )
    .await;
    f.process().await;
    f.process().await;
    let second = f
        .runs()
        .await
        .into_iter()
        .find(|r| r.workflow_run_unique_id == "2");
    assert_eq!(second.expect("stored").duration, Some(0));
}

pub async fn final_over_pending_keeps_the_pending_start(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let with = |status: &str, conducted_at: &str, duration: Option<i64>| {
        let mut r = run("shop", "deploy", "1", status, duration);
        r["workflow_run_conducted_at"] = json!(conducted_at);
        vec![r]
    };
    f.ingest(
        with("PENDING", "2025-01-10T09:00:00Z", None),
        "2025-01-10T09:00:01Z",
        None,
    )
    .await;
    // The finish knows only its own end.
    f.ingest(
        with("SUCCESS", "2025-01-10T10:00:00Z", None),
        "2025-01-10T10:00:02Z",
        None,
    )
    .await;
    // A PENDING arriving late changes nothing.
    f.ingest(
        with("PENDING", "2025-01-10T09:30:00Z", None),
        "2025-01-10T10:00:03Z",
        None,
    )
    .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    assert_eq!(f.process().await, counts(0, 1, 0));
    assert_eq!(f.process().await, counts(0, 0, 1));
    let runs = f.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "SUCCESS");
    assert_eq!(
        runs[0].conducted_at,
        at("2025-01-10T09:00:00Z"),
        "the start"
    );
    assert_eq!(runs[0].duration, Some(3602), "from the start to receipt");
}

pub async fn identical_runs_are_unchanged_and_changes_are_updates(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let mut first = run("shop", "deploy", "1", "SUCCESS", Some(5));
    first["html_url"] = json!("https://ci.example.com/1");
    f.ingest(vec![first], "2025-01-10T10:01:00Z", None).await;
    f.ingest(
        vec![run("shop", "deploy", "1", "SUCCESS", Some(5))],
        "2025-01-10T10:02:00Z",
        None,
    )
    .await;
    f.ingest(
        vec![run("shop", "deploy", "1", "FAILURE", None)],
        "2025-01-10T10:03:00Z",
        None,
    )
    .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    assert_eq!(
        f.process().await,
        counts(0, 0, 1),
        "absent html_url keeps the stored one"
    );
    assert_eq!(f.process().await, counts(0, 1, 0));
    let stored = &f.runs().await[0];
    assert_eq!(stored.status, "FAILURE");
    assert_eq!(
        stored.duration,
        Some(5),
        "a final run's known duration is kept"
    );
    assert_eq!(stored.html_url.as_deref(), Some("https://ci.example.com/1"));
}

pub async fn one_run_for_two_repos_is_written_to_each(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let mut both = run("shop", "deploy", "1", "SUCCESS", None);
    // Two spellings of shop count once; api is another repo.
    both["repo_urls"] = json!([
        "https://github.com/acme/shop",
        "git@github.com:acme/shop.git",
        "https://github.com/acme/api"
    ]);
    let id = f.ingest(vec![both], "2025-01-10T10:01:00Z", None).await;
    assert_eq!(f.process().await, counts(2, 0, 0));
    let mut repos: Vec<String> = f.runs().await.into_iter().map(|r| r.repo).collect();
    repos.sort();
    assert_eq!(repos, ["acme/api", "acme/shop"]);
    assert_eq!(f.detail(&id).await.runs.len(), 2);
}

pub async fn unlinked_repos_fail_the_event_without_writes(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = f
        .ingest(
            vec![
                run("api", "deploy", "1", "SUCCESS", None),
                run("shop", "deploy", "2", "SUCCESS", None),
            ],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let shop = f
        .store
        .list_repos()
        .await
        .expect("lists")
        .into_iter()
        .find(|r| r.name == "shop")
        .expect("linked");
    f.unlink(shop.id, false, false).await.expect("linked");
    let Applied::Unresolved(reason) = f.process().await else {
        panic!("expected a failure");
    };
    assert!(
        reason.contains("https://github.com/acme/shop is not linked"),
        "{reason}"
    );
    assert!(f.runs().await.is_empty(), "all or nothing");
    assert_eq!(
        f.detail(&id).await.event.status,
        EventStatus::Running,
        "the worker records the failure"
    );
}

pub async fn a_batch_gives_each_event_its_own_counts_and_records(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let create = f
        .ingest(
            vec![
                run("shop", "deploy", "1", "PENDING", None),
                run("shop", "deploy", "2", "SUCCESS", Some(5)),
            ],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    // Sees what the first wrote in the same transaction: an update and a creation.
    let update = f
        .ingest(
            vec![
                run("shop", "deploy", "1", "SUCCESS", Some(7)),
                run("api", "release", "1", "SUCCESS", None),
            ],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    let same = f
        .ingest(
            vec![run("shop", "deploy", "2", "SUCCESS", Some(5))],
            "2025-01-10T10:03:00Z",
            None,
        )
        .await;
    let applied = f.process_batch(32).await;
    assert_eq!(
        applied,
        [
            (create.clone(), counts(2, 0, 0)),
            (update.clone(), counts(1, 1, 0)),
            (same.clone(), counts(0, 0, 1)),
        ]
    );
    for (id, (created, updated, unchanged), records) in [
        (&create, (2, 0, 0), vec!["created", "created"]),
        (&update, (1, 1, 0), vec!["updated", "created"]),
        (&same, (0, 0, 1), vec![]),
    ] {
        let detail = f.detail(id).await;
        assert_eq!(detail.event.status, EventStatus::Success, "{id}");
        assert_eq!(
            (
                detail.event.runs_created,
                detail.event.runs_updated,
                detail.event.runs_unchanged
            ),
            (created, updated, unchanged),
            "{id}"
        );
        let mut actions: Vec<&str> = detail.runs.iter().map(|r| r.action.as_str()).collect();
        actions.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(actions, records, "{id}: its own write records");
    }
    let shop_1 = f
        .runs()
        .await
        .into_iter()
        .find(|r| r.workflow == "deploy" && r.workflow_run_unique_id == "1")
        .expect("stored");
    assert_eq!(
        (shop_1.status.as_str(), shop_1.duration),
        ("SUCCESS", Some(7))
    );
    assert!(f.process_batch(32).await.is_empty(), "nothing left waiting");
}

pub async fn a_failing_event_in_a_batch_does_not_fail_its_neighbours(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let before = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let failing = f
        .ingest(
            vec![
                run("shop", "deploy", "2", "SUCCESS", None),
                run("api", "release", "1", "SUCCESS", None),
            ],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    let after = f
        .ingest(
            vec![run("shop", "deploy", "3", "SUCCESS", None)],
            "2025-01-10T10:03:00Z",
            None,
        )
        .await;
    let api = f.repo("api").await.expect("linked");
    f.unlink(api.id, false, false).await.expect("linked");
    let applied = f.process_batch(32).await;
    assert_eq!(applied.len(), 3);
    assert_eq!(applied[0], (before.clone(), counts(1, 0, 0)));
    assert_eq!(applied[2], (after.clone(), counts(1, 0, 0)));
    let (id, Applied::Unresolved(reason)) = &applied[1] else {
        panic!("expected the middle event to fail: {applied:?}");
    };
    assert_eq!(id, &failing);
    assert!(
        reason.contains("https://github.com/acme/api is not linked"),
        "{reason}"
    );
    let mut stored: Vec<String> = f
        .runs()
        .await
        .into_iter()
        .map(|r| r.workflow_run_unique_id)
        .collect();
    stored.sort();
    assert_eq!(stored, ["1", "3"], "none of the failing event's runs");
    assert_eq!(f.detail(&before).await.event.status, EventStatus::Success);
    assert_eq!(f.detail(&after).await.event.status, EventStatus::Success);
    let detail = f.detail(&failing).await;
    assert_eq!(
        detail.event.status,
        EventStatus::Running,
        "the worker records its failure"
    );
    assert!(detail.runs.is_empty(), "it recorded no writes");
}

pub async fn a_batch_writes_nothing_for_events_whose_lease_was_lost(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let ids = ingest_many(&f, 3).await;
    let dead = f
        .store
        .claim("srv_dead", SHORT_LEASE, 3)
        .await
        .expect("claims");
    assert_eq!(ids_of(&dead), ids);
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let taken = f.claim_one("srv_b").await.expect("the lease ended");
    assert_eq!(taken.id, ids[0], "the oldest is taken over");
    assert_eq!(
        f.apply_batch(&dead, "srv_dead").await,
        [Applied::Lost, counts(1, 0, 0), counts(1, 0, 0)],
        "the late owner still holds the two nobody took"
    );
    assert_eq!(f.detail(&ids[0]).await.event.status, EventStatus::Running);
    assert!(f.detail(&ids[0]).await.runs.is_empty());
    assert_eq!(f.apply(&taken, "srv_b").await, counts(1, 0, 0));
    assert_eq!(f.runs().await.len(), 3);
}

pub async fn a_prune_of_one_event_of_a_batch_undoes_only_that_event(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let first = f
        .ingest(
            vec![branch_run("1", "SUCCESS", "main")],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let second = f
        .ingest(
            vec![
                branch_run("1", "FAILURE", "fix"),
                branch_run("2", "SUCCESS", "fix"),
            ],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    let third = f
        .ingest(
            vec![branch_run("3", "SUCCESS", "main")],
            "2025-01-10T10:03:00Z",
            None,
        )
        .await;
    let applied = f.process_batch(32).await;
    assert_eq!(
        applied,
        [
            (first.clone(), counts(1, 0, 0)),
            (second.clone(), counts(1, 1, 0)),
            (third.clone(), counts(1, 0, 0)),
        ]
    );
    let Pruned::Done(report) = f.prune(&second, false).await else {
        panic!("expected a report");
    };
    assert_eq!(
        outcomes(&report),
        [
            ("deploy".to_owned(), "1".to_owned(), PruneOutcome::Restored),
            ("deploy".to_owned(), "2".to_owned(), PruneOutcome::Deleted),
        ]
    );
    let states: Vec<(String, String, String)> = run_states(&f)
        .await
        .into_iter()
        .map(|(_, _, id, branch, status)| (id, branch, status))
        .collect();
    assert_eq!(
        states,
        [
            ("1".to_owned(), "main".to_owned(), "SUCCESS".to_owned()),
            ("3".to_owned(), "main".to_owned(), "SUCCESS".to_owned()),
        ],
        "run 1 back to the first event's version, the third event's run kept"
    );
    assert_eq!(f.detail(&first).await.event.status, EventStatus::Success);
    assert_eq!(f.detail(&third).await.event.status, EventStatus::Success);
    assert_eq!(f.detail(&first).await.runs.len(), 1);
    assert_eq!(f.detail(&third).await.runs.len(), 1);
}

/// Three events of one batch write one run in turn: each merges onto the version the one
/// before it wrote (not onto what was stored before the batch), so pruning the last restores
/// the second's version, and pruning the second then restores the first's.
pub async fn events_of_a_batch_that_update_one_run_each_record_what_they_replaced(
    backend: &dyn Backend,
) {
    let f = fixture(backend).await;
    let mut ids = Vec::new();
    for (n, (status, branch)) in [
        ("SUCCESS", "main"),
        ("FAILURE", "fix"),
        ("SUCCESS", "hotfix"),
    ]
    .into_iter()
    .enumerate()
    {
        let received = format!("2025-01-10T10:0{}:00Z", n + 1);
        ids.push(
            f.ingest(vec![branch_run("1", status, branch)], &received, None)
                .await,
        );
    }
    let applied = f.process_batch(32).await;
    assert_eq!(
        applied,
        [
            (ids[0].clone(), counts(1, 0, 0)),
            (ids[1].clone(), counts(0, 1, 0)),
            (ids[2].clone(), counts(0, 1, 0)),
        ]
    );
    async fn state(f: &Fixture) -> (String, String) {
        let runs = f.runs().await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        (runs[0].head_branch.clone(), runs[0].status.clone())
    }
    let pair = |branch: &str, status: &str| (branch.to_owned(), status.to_owned());
    assert_eq!(state(&f).await, pair("hotfix", "SUCCESS"));
    for (pruned, back_to) in [(2, pair("fix", "FAILURE")), (1, pair("main", "SUCCESS"))] {
        let Pruned::Done(report) = f.prune(&ids[pruned], false).await else {
            panic!("expected a report");
        };
        assert_eq!(
            outcomes(&report),
            [("deploy".to_owned(), "1".to_owned(), PruneOutcome::Restored)],
            "event {pruned}"
        );
        assert_eq!(state(&f).await, back_to, "after pruning event {pruned}");
    }
}

pub async fn runs_filter_by_repo_and_workflow(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest(
        vec![
            run("shop", "deploy", "1", "SUCCESS", None),
            run("api", "deploy", "2", "SUCCESS", None),
            run("api", "release", "1", "SUCCESS", None),
        ],
        "2025-01-10T10:01:00Z",
        None,
    )
    .await;
    f.process().await;
    // (runs on the page, total, more)
    let count = |repo: Option<&str>, workflow: Option<&str>, limit: u32| {
        let query = RunQuery {
            repo: repo.map(|r| RepoFilter::parse(r).expect("filter")),
            workflow: workflow.map(str::to_owned),
            limit,
            after: None,
        };
        let store = Arc::clone(&f.store);
        async move {
            let listed = store.list_runs(&query).await.expect("lists");
            (listed.items.len(), listed.total, listed.more)
        }
    };
    let all = |n: usize| (n, n as u64, false);
    assert_eq!(count(None, None, 10).await, all(3));
    assert_eq!(count(None, None, 2).await, (2, 3, true), "limited");
    assert_eq!(count(None, None, 3).await, all(3), "exactly full");
    assert_eq!(count(Some("acme/API"), None, 10).await, all(2));
    assert_eq!(count(Some("API"), None, 10).await, all(2), "a bare name");
    assert_eq!(
        count(Some("github.com/acme/api"), Some("deploy"), 10).await,
        all(1)
    );
    assert_eq!(
        count(Some("https://WWW.github.com/acme/api"), None, 10).await,
        all(2)
    );
    assert_eq!(
        count(Some("git@github.com:acme/api.git"), None, 10).await,
        all(2)
    );
    assert_eq!(count(Some("gitlab.com/acme/api"), None, 10).await, all(0));
    assert_eq!(count(Some("other/api"), None, 10).await, all(0));
    assert_eq!(count(None, Some("release"), 10).await, all(1));
    assert_eq!(
        count(None, Some("RELEASE"), 10).await,
        all(1),
        "workflows ignore case like repos"
    );
    assert_eq!(count(Some("acme/shop"), Some("Deploy"), 10).await, all(1));
    assert_eq!(
        count(Some("acme/api"), None, 1).await,
        (1, 2, true),
        "the total counts the filtered runs"
    );
}

pub async fn runs_page_by_cursor_and_report_the_total(backend: &dyn Backend) {
    let f = fixture(backend).await;
    // Three share a `conducted_at` (the id breaks the tie), two are earlier, one later.
    let mut runs: Vec<Value> = (0..6)
        .map(|i| run("shop", "deploy", &i.to_string(), "SUCCESS", None))
        .collect();
    runs[3]["workflow_run_conducted_at"] = json!("2025-01-09T10:00:00Z");
    runs[4]["workflow_run_conducted_at"] = json!("2025-01-08T10:00:00.250Z");
    runs[5]["workflow_run_conducted_at"] = json!("2025-01-11T10:00:00Z");
    f.ingest(runs, "2025-01-12T10:01:00Z", None).await;
    f.process().await;
    let everything = f.runs().await;
    assert_eq!(everything.len(), 6);
    let order: Vec<i64> = everything.iter().map(|r| r.id).collect();
    let mut keyed: Vec<_> = everything.iter().map(|r| (r.conducted_at, r.id)).collect();
    keyed.sort_unstable_by(|a, b| b.cmp(a));
    let sorted: Vec<i64> = keyed.into_iter().map(|(_, id)| id).collect();
    assert_eq!(order, sorted, "newest conducted_at first, then highest id");

    let page = |after| {
        let query = RunQuery {
            limit: 2,
            after,
            ..RunQuery::default()
        };
        let store = Arc::clone(&f.store);
        async move { store.list_runs(&query).await.expect("lists") }
    };
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let listed = page(after).await;
        pages += 1;
        let stored = if pages == 1 { 6 } else { 7 };
        assert_eq!(listed.total, stored, "the total ignores the cursor");
        seen.extend(listed.items.iter().map(|r| r.id));
        if !listed.more {
            break;
        }
        let last = listed.items.last().expect("a full page");
        after = Some((last.conducted_at, last.id));
        if pages == 1 {
            // A run stored while paging sorts before the cursor: it shifts no later page.
            f.ingest(
                vec![run("shop", "deploy", "late", "SUCCESS", None)],
                "2025-01-12T10:02:00Z",
                None,
            )
            .await;
            f.process().await;
        }
    }
    assert_eq!(seen, order, "every run once, in list order");
    assert_eq!(pages, 3);
}

/// `(repo, workflow, unique id, head branch, status)` of every stored run, sorted.
async fn run_states(f: &Fixture) -> Vec<(String, String, String, String, String)> {
    let mut runs: Vec<_> = f
        .runs()
        .await
        .into_iter()
        .map(|r| {
            (
                r.repo,
                r.workflow,
                r.workflow_run_unique_id,
                r.head_branch,
                r.status,
            )
        })
        .collect();
    runs.sort();
    runs
}

fn outcomes(report: &PruneReport) -> Vec<(String, String, PruneOutcome)> {
    report
        .runs
        .iter()
        .map(|r| (r.run.workflow.clone(), r.run.unique_id.clone(), r.outcome))
        .collect()
}

/// A run of acme/shop's deploy workflow with the given id, status and head branch.
fn branch_run(id: &str, status: &str, branch: &str) -> Value {
    let mut run = run("shop", "deploy", id, status, Some(1));
    run["head_branch"] = json!(branch);
    run
}

pub async fn prune_deletes_what_it_created_and_restores_what_it_updated(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let keep = f
        .ingest(
            vec![
                run("shop", "deploy", "1", "SUCCESS", Some(1)),
                run("api", "release", "1", "SUCCESS", Some(1)),
            ],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let prune = f
        .ingest(
            vec![
                run("shop", "deploy", "2", "SUCCESS", Some(2)),
                run("shop", "hotfix", "1", "SUCCESS", Some(2)),
                run("api", "release", "1", "FAILURE", Some(2)),
            ],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    assert_eq!(f.process().await, counts(2, 0, 0));
    let before = run_states(&f).await;
    assert_eq!(f.process().await, counts(2, 1, 0));
    assert_eq!(f.runs().await.len(), 4);

    let Pruned::Done(dry) = f.prune(&prune, true).await else {
        panic!("expected a report");
    };
    assert!(dry.dry_run && !dry.already_pruned);
    assert_eq!(
        outcomes(&dry),
        [
            ("release".to_owned(), "1".to_owned(), PruneOutcome::Restored),
            ("deploy".to_owned(), "2".to_owned(), PruneOutcome::Deleted),
            ("hotfix".to_owned(), "1".to_owned(), PruneOutcome::Deleted),
        ],
        "in run id order"
    );
    assert_eq!(
        dry.runs[0].run.status, "SUCCESS",
        "the status it goes back to"
    );
    assert_eq!(dry.workflows_deleted, 1, "hotfix is left empty");
    assert_eq!(f.runs().await.len(), 4, "a dry run changes nothing");
    assert_eq!(f.detail(&prune).await.event.status, EventStatus::Success);

    let Pruned::Done(report) = f.prune(&prune, false).await else {
        panic!("expected a report");
    };
    assert_eq!(report.runs, dry.runs);
    assert_eq!(report.workflows_deleted, 1);
    assert_eq!(
        run_states(&f).await,
        before,
        "back to exactly the state before the event"
    );
    assert_eq!(f.detail(&prune).await.event.status, EventStatus::Pruned);
    assert_eq!(
        f.detail(&keep).await.runs.len(),
        2,
        "the other event's records stay"
    );

    let Pruned::Done(again) = f.prune(&prune, false).await else {
        panic!("expected a report");
    };
    assert!(again.already_pruned && again.runs.is_empty());
}

pub async fn prune_leaves_runs_changed_since(backend: &dyn Backend) {
    let f = fixture(backend).await;
    // C creates run 1, A updates it, B updates it again; C also creates run 2, untouched since.
    let c = f
        .ingest(
            vec![
                branch_run("1", "SUCCESS", "c"),
                branch_run("2", "SUCCESS", "c"),
            ],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    let a = f
        .ingest(
            vec![branch_run("1", "SUCCESS", "a")],
            "2025-01-10T10:02:00Z",
            None,
        )
        .await;
    let b = f
        .ingest(
            vec![branch_run("1", "SUCCESS", "b")],
            "2025-01-10T10:03:00Z",
            None,
        )
        .await;
    for _ in 0..3 {
        f.process().await;
    }
    let branch_of = |states: Vec<(String, String, String, String, String)>, id: &str| {
        states.into_iter().find(|s| s.2 == id).map(|s| s.3)
    };

    // C wrote both; A and B changed run 1 since: only run 2 goes.
    let Pruned::Done(report) = f.prune(&c, false).await else {
        panic!("expected a report");
    };
    assert_eq!(
        outcomes(&report),
        [
            (
                "deploy".to_owned(),
                "1".to_owned(),
                PruneOutcome::ChangedSince
            ),
            ("deploy".to_owned(), "2".to_owned(), PruneOutcome::Deleted),
        ]
    );
    assert_eq!(report.workflows_deleted, 0);
    assert_eq!(branch_of(run_states(&f).await, "1").as_deref(), Some("b"));
    assert_eq!(branch_of(run_states(&f).await, "2"), None);

    // A: B changed it since.
    let Pruned::Done(report) = f.prune(&a, false).await else {
        panic!("expected a report");
    };
    assert_eq!(report.count(PruneOutcome::ChangedSince), 1);
    assert_eq!(branch_of(run_states(&f).await, "1").as_deref(), Some("b"));

    // B: nothing that stands wrote run 1 before it (C and A are pruned): the run goes.
    let Pruned::Done(report) = f.prune(&b, false).await else {
        panic!("expected a report");
    };
    assert_eq!(report.count(PruneOutcome::Deleted), 1);
    assert_eq!(report.workflows_deleted, 1);
    assert!(f.runs().await.is_empty());
}

pub async fn pruning_in_any_order_ends_the_same(backend: &dyn Backend) {
    // Per run: C creates it, A and B update it. Run x: prune A then B; run y: B then A. Both
    // end as C left them.
    let f = fixture(backend).await;
    let mut events = Vec::new();
    for id in ["x", "y"] {
        let mut ids = Vec::new();
        for (i, (status, branch)) in [("PENDING", "c"), ("FAILURE", "a"), ("SUCCESS", "b")]
            .into_iter()
            .enumerate()
        {
            let received = format!("2025-01-10T10:0{i}:00Z");
            ids.push(
                f.ingest(vec![branch_run(id, status, branch)], &received, None)
                    .await,
            );
            assert_ne!(f.process().await, counts(0, 0, 1), "every event writes");
        }
        events.push(ids);
    }
    let states = run_states(&f).await;
    assert_eq!(
        states.iter().map(|s| s.3.as_str()).collect::<Vec<_>>(),
        ["b", "b"]
    );

    let outcome = |report: Pruned| match report {
        Pruned::Done(report) => report.runs[0].outcome,
        other => panic!("expected a report, got {other:?}"),
    };
    let (x, y) = (&events[0], &events[1]);
    // x: A (B stands: changed since), then B (back over A's pruned write to C's version).
    assert_eq!(
        outcome(f.prune(&x[1], false).await),
        PruneOutcome::ChangedSince
    );
    assert_eq!(outcome(f.prune(&x[2], false).await), PruneOutcome::Restored);
    // y: B (back to A's version), then A (back to C's).
    assert_eq!(outcome(f.prune(&y[2], false).await), PruneOutcome::Restored);
    assert_eq!(outcome(f.prune(&y[1], false).await), PruneOutcome::Restored);

    let states = run_states(&f).await;
    assert_eq!(
        states
            .iter()
            .map(|s| (s.2.as_str(), s.3.as_str(), s.4.as_str()))
            .collect::<Vec<_>>(),
        [("x", "c", "PENDING"), ("y", "c", "PENDING")],
        "C's version of both, whatever the order"
    );
}

pub async fn unprocessed_events_cannot_be_pruned(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let id = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", None)],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    assert!(matches!(
        f.prune(&id, false).await,
        Pruned::NotProcessed(EventStatus::Waiting)
    ));
    f.claim_one(OWNER).await.expect("waiting");
    assert!(matches!(
        f.prune(&id, false).await,
        Pruned::NotProcessed(EventStatus::Running)
    ));
    assert!(matches!(f.prune("evt_nope", false).await, Pruned::NotFound));
    // A rejected event wrote nothing: pruning it only marks it.
    let rejected = f.reject("2025-01-10T10:02:00Z").await;
    let Pruned::Done(report) = f.prune(&rejected, false).await else {
        panic!("expected a report");
    };
    assert!(report.runs.is_empty());
    assert_eq!(f.detail(&rejected).await.event.status, EventStatus::Pruned);
}

pub async fn the_notification_outbox_holds_rejected_and_failed_events_until_done(
    backend: &dyn Backend,
) {
    let f = fixture(backend).await;
    // Not notifying: nothing kept.
    f.reject("2025-01-01T00:00:00Z").await;
    let claim = |store: Arc<dyn Store>, owner: &'static str, lease: Duration, limit: u32| async move {
        store
            .claim_notices(owner, lease, limit)
            .await
            .expect("claims")
    };
    assert!(
        claim(Arc::clone(&f.store), "srv_a", LEASE, 10)
            .await
            .is_empty()
    );
    drop(f.store);

    let f = Fixture {
        store: backend.open(true).await,
        key_id: f.key_id,
    };
    let first = f.reject("2025-01-02T00:00:00Z").await;
    f.ingest(
        vec![run("shop", "deploy", "a", "SUCCESS", None)],
        "2025-01-02T00:00:01Z",
        None,
    )
    .await;
    let failed = f
        .ingest(
            vec![run("shop", "deploy", "b", "SUCCESS", None)],
            "2025-01-02T00:00:02Z",
            None,
        )
        .await;
    f.claim_one(OWNER).await.expect("waiting");
    let taken = f.claim_one(OWNER).await.expect("waiting");
    assert_eq!(taken.id, failed);
    assert!(
        f.store
            .fail_event(&failed, OWNER, "broken", now())
            .await
            .expect("fails")
    );

    assert_eq!(
        claim(Arc::clone(&f.store), "srv_a", SHORT_LEASE, 1)
            .await
            .len(),
        1,
        "up to the limit"
    );
    let pending = claim(Arc::clone(&f.store), "srv_b", SHORT_LEASE, 10).await;
    let ids: Vec<_> = pending.iter().map(|n| n.event_id.as_str()).collect();
    assert_eq!(ids, [failed.as_str()], "the first is claimed by srv_a");
    assert!(
        claim(Arc::clone(&f.store), "srv_c", SHORT_LEASE, 10)
            .await
            .is_empty(),
        "every notification is claimed"
    );
    // The claims of a sender that died run out: all are claimed again, oldest first.
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let pending = claim(Arc::clone(&f.store), "srv_c", SHORT_LEASE, 10).await;
    let ids: Vec<_> = pending.iter().map(|n| n.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [first.as_str(), failed.as_str()],
        "oldest first, accepted ones not"
    );
    assert_eq!(pending[0].status, EventStatus::Rejected);
    assert_eq!(pending[0].key_id, f.key_id);
    assert_eq!(
        (pending[1].status, pending[1].error.as_str()),
        (EventStatus::Failure, "broken")
    );
    assert!(pending[1].response.contains(&failed));

    // Kept across a restart until done.
    drop(f.store);
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(200)).await;
    let f = Fixture {
        store: backend.open(true).await,
        key_id: f.key_id,
    };
    f.store.notice_done(&first).await.expect("done");
    let pending = claim(Arc::clone(&f.store), "srv_d", LEASE, 10).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_id, failed);

    // A backlog beyond the cap keeps the newest.
    let mut newest = Vec::new();
    for i in 0..3 {
        newest.push(f.reject(&format!("2025-01-03T00:00:0{i}Z")).await);
    }
    assert_eq!(f.store.trim_notices(2).await.expect("trims"), 2);
    let kept: Vec<_> = claim(Arc::clone(&f.store), "srv_d", LEASE, 10)
        .await
        .into_iter()
        .map(|n| n.event_id)
        .collect();
    assert_eq!(kept, newest[1..]);
}
