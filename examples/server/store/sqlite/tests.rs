//! The SQLite store: upsert rules, pruning, the queue, keys and repos.

use super::*;
use chrono::TimeDelta;
use mwctl::protocol::{RepoFilter, parse_batch};
use serde_json::{Value, json};

use crate::ids;
use crate::store::Counts;

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
            .items
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

    let Pruned::Done(again) = f.store.prune_event(&prune, false, now).expect("idempotent") else {
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
    let count = |repo: Option<&str>, workflow: Option<&str>| {
        let listed = f
            .store
            .list_runs(&RunQuery {
                repo: repo.map(|r| RepoFilter::parse(r).expect("filter")),
                workflow: workflow.map(str::to_owned),
                limit: 10,
                after: None,
            })
            .expect("lists");
        assert_eq!(listed.total, listed.items.len() as u64);
        listed.items.len()
    };
    assert_eq!(count(None, None), 3);
    assert_eq!(count(Some("acme/API"), None), 2);
    assert_eq!(count(Some("API"), None), 2);
    assert_eq!(count(Some("github.com/acme/api"), Some("deploy")), 1);
    assert_eq!(count(Some("https://WWW.github.com/acme/api"), None), 2);
    assert_eq!(count(Some("gitlab.com/acme/api"), None), 0);
    assert_eq!(count(Some("other/api"), None), 0);
    assert_eq!(count(None, Some("release")), 1);
    assert_eq!(
        count(None, Some("RELEASE")),
        1,
        "workflows ignore case like repos"
    );
    assert_eq!(count(Some("acme/shop"), Some("Deploy")), 1);
}

#[test]
fn runs_page_by_cursor_and_report_the_total() {
    let f = fixture();
    f.ingest(
        (0..5)
            .map(|i| run("shop", "deploy", &i.to_string(), "SUCCESS", None))
            .collect(),
        "2025-01-10T10:01:00Z",
        None,
    );
    f.process();
    let page = |after| {
        f.store
            .list_runs(&RunQuery {
                limit: 2,
                after,
                ..RunQuery::default()
            })
            .expect("lists")
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let listed = page(after);
        assert_eq!(listed.total, 5);
        seen.extend(listed.items.iter().map(|r| r.id));
        if !listed.more {
            break;
        }
        let last = listed.items.last().expect("a full page");
        after = Some((last.conducted_at, last.id));
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "every run once: {seen:?}");
}

/// Throughput of the worker's two steps; `cargo test --release --example server -- --ignored`.
#[test]
#[ignore = "a timing, not a test"]
fn time_parse_and_apply() {
    let f = fixture();
    let events: u32 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
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
            .items
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(None, None), [ids[4].clone(), ids[3].clone()]);
    assert_eq!(list(None, Some(&ids[3])), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(list(Some(EventStatus::Success), None), [ids[0].clone()]);
}

#[test]
fn the_notification_outbox_holds_rejected_and_failed_events_until_done() {
    let mut f = fixture();
    let rejected = |f: &Fixture, received_at: &str| {
        let id = ids::event_id();
        let event = NewEvent {
            id: id.clone(),
            key_id: f.key_id.clone(),
            request_type: "workflow".to_owned(),
            webhook_id: None,
            received_at: at(received_at),
            body: None,
            response: "{\"status\":\"rejected\"}".to_owned(),
            status: EventStatus::Rejected,
            error: Some("bad".to_owned()),
            runs_received: 0,
        };
        f.store.insert_event(&event).expect("stored");
        id
    };
    // Not notifying: nothing kept.
    rejected(&f, "2025-01-01T00:00:00Z");
    assert!(f.store.pending_notices(10).expect("reads").is_empty());

    f.store = SqliteStore::open(&f.path).expect("opens").notifying();
    let first = rejected(&f, "2025-01-02T00:00:00Z");
    f.ingest(
        vec![run("shop", "deploy", "a", "SUCCESS", None)],
        "2025-01-02T00:00:01Z",
        None,
    );
    let failed = f.ingest(
        vec![run("shop", "deploy", "b", "SUCCESS", None)],
        "2025-01-02T00:00:02Z",
        None,
    );
    f.store
        .fail_event(&failed, "broken", Utc::now())
        .expect("fails");

    let pending = f.store.pending_notices(10).expect("reads");
    let ids: Vec<_> = pending.iter().map(|n| n.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [first.as_str(), failed.as_str()],
        "oldest first, accepted ones not"
    );
    assert_eq!(pending[0].status, EventStatus::Rejected);
    assert_eq!(
        (pending[1].status, pending[1].error.as_str()),
        (EventStatus::Failure, "broken")
    );

    // Kept across a restart until done.
    f.store = SqliteStore::open(&f.path).expect("reopens").notifying();
    f.store.notice_done(&first).expect("done");
    let pending = f.store.pending_notices(10).expect("reads");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_id, failed);

    // A backlog beyond the cap keeps the newest.
    let newest: Vec<_> = (0..3)
        .map(|i| rejected(&f, &format!("2025-01-03T00:00:0{i}Z")))
        .collect();
    assert_eq!(f.store.trim_notices(2).expect("trims"), 2);
    let kept: Vec<_> = f
        .store
        .pending_notices(10)
        .expect("reads")
        .into_iter()
        .map(|n| n.event_id)
        .collect();
    assert_eq!(kept, newest[1..]);
}
