//! Several `mwctl-server` instances on one PostgreSQL database (a throwaway cluster, see
//! `examples/server/testing/pg_cluster.rs`; these tests fail without PostgreSQL unless
//! `MW_SKIP_POSTGRES=1`):
//! - three instances behind a round-robin "load balancer" take 8 concurrent pipelines
//!   (`mwctl deploy start` / `finish`), a backfill (`mwctl send`) and rejected requests; one is
//!   SIGKILLed mid-load. Every request answered "accepted" is processed exactly once, every
//!   rejected one is notified (`--notify-url`), and the dead instance's claims are taken over
//!   when their leases end;
//! - a key revoked through one instance is refused by the others on the next request;
//! - an event stored through one instance wakes the worker of another at once.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::{Server, mwctl_isolated, pg};
use mwctl::protocol::admin::{Event, EventStatus};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "https://github.com/acme/shop";
const INSTANCES: usize = 3;
const PIPELINES: usize = 8;
const BACKFILL_RUNS: usize = 6000;
const BATCH: usize = 100;
/// Short leases: the dead instance's events are taken over within seconds.
const LEASE: &str = "2s";

/// The instances' URLs a client may use: a load balancer's list of healthy backends.
#[derive(Clone)]
struct Balancer {
    urls: Arc<RwLock<Vec<String>>>,
    next: Arc<AtomicUsize>,
}

impl Balancer {
    fn new(servers: &[Server]) -> Balancer {
        Balancer {
            urls: Arc::new(RwLock::new(servers.iter().map(|s| s.url.clone()).collect())),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Round robin over the healthy instances.
    fn pick(&self) -> String {
        let urls = self.urls.read().expect("lock");
        urls[self.next.fetch_add(1, Ordering::Relaxed) % urls.len()].clone()
    }

    /// The health check failed: no more requests to it.
    fn remove(&self, url: &str) {
        self.urls.write().expect("lock").retain(|u| u != url);
    }
}

/// What one `mwctl deploy` invocation was told.
#[derive(Debug)]
struct Told {
    run_id: String,
    finish: bool,
    accepted: bool,
    event_id: Option<String>,
}

/// A pipeline: deploy start, then deploy finish, for run ids p{n}-0, p{n}-1, ... until stopped,
/// each request through the balancer.
fn pipeline(
    n: usize,
    lb: Balancer,
    key: String,
    home: PathBuf,
    stop: Arc<AtomicBool>,
) -> Vec<Told> {
    let mut told = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let run_id = format!("p{n}-{i}");
        for finish in [false, true] {
            let mut cmd = mwctl_isolated(&home);
            cmd.env("MW_URL", lb.pick())
                .env("MW_API_KEY", &key)
                .env("MW_STATE_FILE", home.join(format!("state-{n}.json")))
                .args(["deploy", if finish { "finish" } else { "start" }])
                .args([
                    "--repo",
                    REPO,
                    "--branch",
                    "main",
                    "--workflow",
                    "production",
                ])
                .args([
                    "--run-id",
                    &run_id,
                    "--actor",
                    "ci",
                    "--timeout",
                    "4s",
                    "-o",
                    "json",
                ]);
            if finish {
                cmd.args(["--status", "success"]);
            }
            let out = cmd.output().expect("mwctl runs");
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            told.push(Told {
                run_id: run_id.clone(),
                finish,
                accepted: report["outcome"] == "accepted",
                event_id: report["event_id"].as_str().map(str::to_owned),
            });
        }
        i += 1;
    }
    told
}

/// Requests the server rejects (a run without its status), through the balancer, until
/// stopped: the event ids answered `rejected`.
fn rejecter(lb: Balancer, key: String, stop: Arc<AtomicBool>) -> Vec<String> {
    // This thread may build its client before any other installs the provider.
    mwctl::client::install_crypto_provider();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut rejected = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({ "workflow_runs": [{
            "workflow_name": "deploy",
            "repo_urls": [REPO],
            "event_actor": "ci",
            "head_branch": "main",
            "workflow_run_unique_id": format!("bad-{i}"),
            "workflow_run_conducted_at": "2025-01-10T10:00:00Z",
        }]});
        let answer = http
            .post(format!("{}/public/webhook/workflow", lb.pick()))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .and_then(|r| r.json::<Value>());
        if let Ok(answer) = answer
            && answer["status"] == "rejected"
        {
            rejected.push(answer["event_id"].as_str().expect("event id").to_owned());
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    rejected
}

fn backfill_file(dir: &Path) -> PathBuf {
    let runs: Vec<Value> = (0..BACKFILL_RUNS)
        .map(|i| {
            json!({
                "workflow_name": "history",
                "repo_urls": [REPO],
                "event_actor": "alice",
                "head_branch": "main",
                "workflow_run_unique_id": format!("h{i}"),
                "status": if i % 7 == 0 { "FAILURE" } else { "SUCCESS" },
                "workflow_run_conducted_at": "2025-01-09T10:00:00Z",
                "duration": i % 600,
            })
        })
        .collect();
    let path = dir.join("history.json");
    std::fs::write(&path, serde_json::to_vec(&runs).expect("json")).expect("written");
    path
}

fn send(home: &Path, url: &str, key: &str, file: &Path) -> Value {
    let out = mwctl_isolated(home)
        .env("MW_URL", url)
        .env("MW_API_KEY", key)
        .args(["send", "--batch-size", &BATCH.to_string(), "-o", "json"])
        .arg(file)
        .output()
        .expect("runs");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The texts a wiremock receiver got.
fn texts(rt: &tokio::runtime::Runtime, receiver: &MockServer) -> Vec<String> {
    rt.block_on(receiver.received_requests())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
            body["text"].as_str().expect("a text field").to_owned()
        })
        .collect()
}

#[test]
fn three_instances_one_killed_under_load_lose_nothing_and_repeat_nothing() {
    let Some(database) = pg::database() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&receiver),
    );
    let hook = format!("{}/hook", receiver.uri());
    let args = ["--lease", LEASE, "--notify-url", &hook];
    let first = Server::start_pg(&database, None, &args);
    let admin = first.admin_key.clone();
    let mut servers = vec![first];
    for _ in 1..INSTANCES {
        servers.push(Server::start_pg(&database, Some(&admin), &args));
    }
    let lb = Balancer::new(&servers);
    servers[1].link(REPO);
    let (ci_id, ci_key) = servers[2].create_key("pipelines", &[]);
    let (backfill_id, backfill_key) = servers[1].create_key("backfill", &[]);
    let file = backfill_file(servers[0].dir.path());

    // 8 pipelines, rejected requests and a backfill, all at once; the backfill goes to the
    // instance that is killed.
    let stop = Arc::new(AtomicBool::new(false));
    let pipelines: Vec<_> = (0..PIPELINES)
        .map(|n| {
            let (lb, key, stop) = (lb.clone(), ci_key.clone(), Arc::clone(&stop));
            let home = servers[0].dir.path().join(format!("pipeline-{n}"));
            std::fs::create_dir_all(&home).expect("home");
            std::thread::spawn(move || pipeline(n, lb, key, home, stop))
        })
        .collect();
    let rejects = {
        let (lb, key, stop) = (lb.clone(), ci_key.clone(), Arc::clone(&stop));
        std::thread::spawn(move || rejecter(lb, key, stop))
    };
    let victim = servers[0].url.clone();
    let backfill = {
        let (url, key, file) = (victim.clone(), backfill_key.clone(), file.clone());
        let home = servers[0].dir.path().join("backfill");
        std::fs::create_dir_all(&home).expect("home");
        std::thread::spawn(move || send(&home, &url, &key, &file))
    };

    // Kill when the backfill is under way and the pipelines have been busy a while.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = servers[1].all_events();
        let backfilled = events.iter().filter(|e| e.key_id == backfill_id).count();
        let deployed = events.iter().filter(|e| e.key_id == ci_id).count();
        if backfilled >= 5 && deployed >= 40 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no load after 90 s: {backfilled} {deployed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let running_at_kill = servers[1].get("/api/events?status=RUNNING&limit=1")["total"]
        .as_u64()
        .unwrap_or(0);
    servers[0].kill9();
    lb.remove(&victim);
    println!("killed one instance ({running_at_kill} events RUNNING at the kill)");
    // The clients carry on against the two survivors for a while.
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let told: Vec<Told> = pipelines
        .into_iter()
        .flat_map(|p| p.join().expect("pipeline"))
        .collect();
    let rejected = rejects.join().expect("rejecter");
    let first_send = backfill.join().expect("backfill");
    // The backfill again, through a survivor, as after an interruption.
    let home = servers[1].dir.path().to_owned();
    let resumed = send(&home, &servers[1].url, &backfill_key, &file);
    assert!(
        resumed["error"].is_null(),
        "the backfill completes through a survivor: {resumed}"
    );
    let survivor = &servers[1];
    survivor.wait_processed();

    let events = survivor.all_events();
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    let accepted_on_server: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.status != EventStatus::Rejected)
        .map(|e| e.id.as_str())
        .collect();

    // 1. Every request a client was told was accepted was processed, exactly once.
    let told_accepted: BTreeSet<&str> = told
        .iter()
        .filter(|t| t.accepted)
        .filter_map(|t| t.event_id.as_deref())
        .chain(
            [&first_send, &resumed]
                .into_iter()
                .flat_map(|s| s["event_ids"].as_array().into_iter().flatten())
                .filter_map(Value::as_str),
        )
        .collect();
    assert!(
        told.iter().filter(|t| t.accepted).count() > 50,
        "too little load"
    );
    for id in &told_accepted {
        let event = by_id
            .get(id)
            .unwrap_or_else(|| panic!("accepted {id} is not on the server"));
        assert_eq!(event.status, EventStatus::Success, "{event:?}");
        assert_eq!(
            event.runs_created + event.runs_updated + event.runs_unchanged,
            event.runs_received,
            "{id} was not applied exactly once: {event:?}"
        );
    }
    let not_done: Vec<&Event> = events
        .iter()
        .filter(|e| !matches!(e.status, EventStatus::Success | EventStatus::Rejected))
        .collect();
    assert!(not_done.is_empty(), "{not_done:?}");

    // 2. Nothing beyond that but requests in flight at the kill (answers lost with it).
    let extra: Vec<&&str> = accepted_on_server.difference(&told_accepted).collect();
    assert!(
        extra.len() <= PIPELINES + 1,
        "{} accepted events no client was told about: {extra:?}",
        extra.len()
    );

    // 3. Each backfill batch stored exactly once, however often it was sent.
    let batches = BACKFILL_RUNS.div_ceil(BATCH);
    let backfill_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.key_id == backfill_id && e.status == EventStatus::Success)
        .collect();
    assert_eq!(backfill_events.len(), batches, "backfill batches stored");
    assert_eq!(
        backfill_events.iter().map(|e| e.runs_created).sum::<u64>(),
        BACKFILL_RUNS as u64
    );

    // 4. The runs: all there, once each, with the status the clients last had accepted.
    let runs = survivor.runs();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *count
            .entry(run.workflow_run_unique_id.as_str())
            .or_default() += 1;
    }
    assert!(count.values().all(|&n| n == 1), "a run stored twice");
    let status: HashMap<&str, &str> = runs
        .iter()
        .map(|r| (r.workflow_run_unique_id.as_str(), r.status.as_str()))
        .collect();
    for i in 0..BACKFILL_RUNS {
        assert!(
            status.contains_key(format!("h{i}").as_str()),
            "backfill run h{i} is missing"
        );
    }
    for t in told.iter().filter(|t| t.accepted) {
        let stored = status
            .get(t.run_id.as_str())
            .unwrap_or_else(|| panic!("accepted run {} is missing", t.run_id));
        if t.finish {
            assert_eq!(*stored, "SUCCESS", "{}: a final status was lost", t.run_id);
        }
    }
    let created: u64 = events.iter().map(|e| e.runs_created).sum();
    assert_eq!(
        created,
        runs.len() as u64,
        "every stored run was created exactly once"
    );
    let taken_over = events.iter().filter(|e| e.attempts > 1).count();

    // 5. Every rejected request was notified (the dead instance's too, by a survivor).
    assert!(!rejected.is_empty(), "no request was rejected");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (missing, sent) = loop {
        let sent = texts(&rt, &receiver);
        let missing: Vec<&String> = rejected
            .iter()
            .filter(|id| !sent.iter().any(|t| t.contains(id.as_str())))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (missing.len(), sent);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(missing, 0, "rejected requests never notified");
    let twice = rejected
        .iter()
        .filter(|id| sent.iter().filter(|t| t.contains(id.as_str())).count() > 1)
        .count();
    println!(
        "{} deploy reports ({} accepted), {} backfill runs in {batches} batches, {} rejected; \
         {} events, {} runs; {} answers lost in the kill; {} events taken over (attempts > 1); \
         {} notifications for {} rejected requests ({twice} sent twice)",
        told.len(),
        told.iter().filter(|t| t.accepted).count(),
        BACKFILL_RUNS,
        rejected.len(),
        events.len(),
        runs.len(),
        extra.len(),
        taken_over,
        sent.len(),
        rejected.len(),
    );
}

#[test]
fn a_key_revoked_through_one_instance_is_refused_by_all() {
    let Some(database) = pg::database() else {
        return;
    };
    let a = Server::start_pg(&database, None, &[]);
    let b = Server::start_pg(&database, Some(&a.admin_key), &[]);
    a.link(REPO);
    let (id, key) = a.create_key("ci", &[]);
    let body =
        serde_json::to_vec(&json!({ "workflow_runs": [common::run_json(REPO, "1", "SUCCESS")] }))
            .expect("json");
    let (status, answer) = b.ingest(Some(&key), body.clone());
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    a.mwctl().args(["keys", "revoke", &id]).assert().code(0);
    // Ingest answers 200 with the protocol's envelope; the refusal is in it.
    let (status, answer) = b.ingest(Some(&key), body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["status"].as_str(), answer["exception_type"].as_str()),
        (Some("rejected"), Some("Unauthorized")),
        "the other instance refuses the revoked key: {answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("revoked")),
        "{answer}"
    );
}

#[test]
fn an_event_stored_through_one_instance_wakes_the_worker_of_another() {
    let Some(database) = pg::database() else {
        return;
    };
    // The fallback poll is 5 s: anything much faster is the NOTIFY.
    let ingest_only = Server::start_pg(&database, None, &["--no-worker", "--lease", "30s"]);
    let worker = Server::start_pg(&database, Some(&ingest_only.admin_key), &["--lease", "30s"]);
    ingest_only.link(REPO);
    // Let the worker go idle first.
    std::thread::sleep(Duration::from_millis(500));
    let body =
        serde_json::to_vec(&json!({ "workflow_runs": [common::run_json(REPO, "1", "SUCCESS")] }))
            .expect("json");
    let started = Instant::now();
    let (_, answer) = ingest_only.ingest(Some(&ingest_only.admin_key), body);
    let id = answer["event_id"].as_str().expect("event id").to_owned();
    loop {
        let event = worker.get(&format!("/api/events/{id}"));
        if event["status"] == "SUCCESS" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the other instance's worker was not woken: {event}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mwctl-server admin-key --database-url` (the offline recovery) mints into the shared
/// database, from a data dir of its own and with the instances running: the key is written
/// there (mode 0600, never printed) and every instance accepts it at once.
#[test]
fn admin_key_recovers_into_the_shared_database() {
    let Some(database) = pg::database() else {
        return;
    };
    let a = Server::start_pg(&database, None, &[]);
    let mut b = Server::start_pg(&database, Some(&a.admin_key), &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(common::server_bin())
        .args(["admin-key", "--database-url", &database, "--data-dir"])
        .arg(dir.path())
        .env_remove("MW_DATABASE_URL")
        .output()
        .expect("runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let key_file = dir.path().join("admin.key");
    let key = std::fs::read_to_string(&key_file).expect("written");
    assert!(key.starts_with("mwk_") && key != a.admin_key, "{key}");
    assert!(!said.contains(&key), "the key is never printed: {said}");
    assert!(
        !dir.path().join("mwctl.db").exists(),
        "no SQLite database beside it"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    b.admin_key = key;
    b.mwctl()
        .args(["keys", "list"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("admin (recovered)"));
    a.mwctl()
        .env("MW_API_KEY", &b.admin_key)
        .args(["keys", "list"])
        .assert()
        .code(0);
}
