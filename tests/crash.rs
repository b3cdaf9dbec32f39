//! Crash safety: the server is killed with SIGKILL while 8 pipelines report deployments (`mwctl
//! deploy start` / `deploy finish`) and a backfill (`mwctl send`) runs; it is restarted on the
//! same data, everyone carries on, and the backfill is sent again. Then, counting on the server
//! against what the clients were told:
//! - every request a client was told was accepted is an event that was processed (SUCCESS),
//!   once: its runs were written exactly once (created + updated + unchanged = received);
//! - the server holds no accepted request beyond those, except at most one per request that
//!   was in flight at the kill (stored, but its answer lost with the connection);
//! - the backfill's batches are stored exactly once each, however often they were sent;
//! - every run a client was told was accepted is stored, once, with the right status, and no
//!   run is stored that no client sent.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, mwctl_isolated};
use mwctl::protocol::admin::{Event, EventStatus};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";
const PIPELINES: usize = 8;
const BACKFILL_RUNS: usize = 6000;
const BATCH: usize = 100;

/// What one `mwctl deploy` invocation was told.
#[derive(Debug)]
struct Told {
    run_id: String,
    finish: bool,
    accepted: bool,
    event_id: Option<String>,
}

/// A pipeline: deploy start, then deploy finish, for run ids p{n}-0, p{n}-1, ... until stopped.
fn pipeline(
    n: usize,
    url: String,
    key: String,
    home: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> Vec<Told> {
    let mut told = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let run_id = format!("p{n}-{i}");
        for finish in [false, true] {
            let mut cmd = mwctl_isolated(&home);
            cmd.env("MW_URL", &url)
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

fn backfill_file(dir: &std::path::Path) -> std::path::PathBuf {
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

fn send(server: &Server, key: &str, file: &std::path::Path) -> (bool, Value) {
    let out = server
        .mwctl()
        .env("MW_API_KEY", key)
        .args(["send", "--batch-size", &BATCH.to_string(), "-o", "json"])
        .arg(file)
        .output()
        .expect("runs");
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn kill_9_under_load_loses_nothing_and_repeats_nothing() {
    let mut server = Server::start();
    server.link(REPO);
    let (ci_id, ci_key) = server.create_key("pipelines", &[]);
    let (backfill_id, backfill_key) = server.create_key("backfill", &[]);
    let file = backfill_file(server.dir.path());

    // 8 pipelines and a backfill, all at once.
    let stop = Arc::new(AtomicBool::new(false));
    let pipelines: Vec<_> = (0..PIPELINES)
        .map(|n| {
            let (url, key, stop) = (server.url.clone(), ci_key.clone(), Arc::clone(&stop));
            let home = server.dir.path().join(format!("pipeline-{n}"));
            std::fs::create_dir_all(&home).expect("home");
            std::thread::spawn(move || pipeline(n, url, key, home, stop))
        })
        .collect();
    let backfill = {
        let (url, admin, key, file) = (
            server.url.clone(),
            server.admin_key.clone(),
            backfill_key.clone(),
            file.clone(),
        );
        let home = server.dir.path().to_owned();
        std::thread::spawn(move || {
            let out = mwctl_isolated(&home)
                .env("MW_URL", &url)
                .env("MW_API_KEY", &key)
                .args(["send", "--batch-size", &BATCH.to_string(), "-o", "json"])
                .arg(&file)
                .output()
                .expect("runs");
            let _ = admin;
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
        })
    };

    // Kill when the backfill is under way and the pipelines have been busy a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = server.all_events();
        let backfilled = events.iter().filter(|e| e.key_id == backfill_id).count();
        let deployed = events.iter().filter(|e| e.key_id == ci_id).count();
        if backfilled >= 5 && deployed >= 40 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no load after 60 s: {backfilled} {deployed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_kill = server.all_events().len();
    server.restart_with(&[]); // SIGKILL, then start again on the same port and data
    println!("killed with {before_kill} events stored; restarted");
    // The pipelines carry on against the restarted server for a while.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let told: Vec<Told> = pipelines
        .into_iter()
        .flat_map(|p| p.join().expect("pipeline"))
        .collect();
    let first_send = backfill.join().expect("backfill");
    // The backfill again, as after an interruption: what was stored is not stored twice.
    let (ok, resumed) = send(&server, &backfill_key, &file);
    assert!(ok, "the backfill completes on a second run: {resumed}");
    server.wait_processed();

    let events = server.all_events();
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    let accepted_on_server: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.status != EventStatus::Rejected)
        .map(|e| e.id.as_str())
        .collect();

    // 1. Every request a client was told was accepted was processed, once.
    let told_accepted: BTreeSet<&str> = told
        .iter()
        .filter(|t| t.accepted)
        .filter_map(|t| t.event_id.as_deref())
        .chain(
            resumed["event_ids"]
                .as_array()
                .expect("event ids")
                .iter()
                .filter_map(Value::as_str),
        )
        .chain(
            first_send["event_ids"]
                .as_array()
                .into_iter()
                .flatten()
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
    // Nothing failed or is left waiting.
    assert!(
        events
            .iter()
            .all(|e| matches!(e.status, EventStatus::Success | EventStatus::Rejected)),
        "{:?}",
        events
            .iter()
            .filter(|e| !matches!(e.status, EventStatus::Success | EventStatus::Rejected))
            .collect::<Vec<_>>()
    );

    // 2. The server holds nothing beyond that but the requests in flight at the kill.
    let extra: Vec<&&str> = accepted_on_server.difference(&told_accepted).collect();
    assert!(
        extra.len() <= PIPELINES,
        "{} accepted events no client was told about: {extra:?}",
        extra.len()
    );
    for id in &extra {
        assert_eq!(
            by_id[**id].key_id, ci_id,
            "only a pipeline's answer can be lost"
        );
    }

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
    let runs = server.runs();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        *count
            .entry(run.workflow_run_unique_id.as_str())
            .or_default() += 1;
    }
    assert!(count.values().all(|&n| n == 1), "a run stored twice");
    let sent_ids: BTreeSet<String> = told
        .iter()
        .map(|t| t.run_id.clone())
        .chain((0..BACKFILL_RUNS).map(|i| format!("h{i}")))
        .collect();
    for run in &runs {
        assert!(
            sent_ids.contains(&run.workflow_run_unique_id),
            "a run no client sent: {}",
            run.workflow_run_unique_id
        );
    }
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
    assert!(
        resumed["duplicates"].as_u64().unwrap_or(0) > 0,
        "the second backfill found what the first stored: {resumed}"
    );
    let created: u64 = events.iter().map(|e| e.runs_created).sum();
    assert_eq!(
        created,
        runs.len() as u64,
        "every stored run was created exactly once"
    );
    println!(
        "{} deploy reports ({} accepted), {} backfill runs in {batches} batches; {} events, {} runs; \
         {} answers lost in the kill; {} events processed again after it; first send: {}; second: {}",
        told.len(),
        told.iter().filter(|t| t.accepted).count(),
        BACKFILL_RUNS,
        events.len(),
        runs.len(),
        extra.len(),
        events.iter().filter(|e| e.attempts > 1).count(),
        summary(&first_send),
        summary(&resumed),
    );
}

fn summary(send: &Value) -> String {
    format!(
        "accepted {} (already stored {}), retries {}{}",
        send["accepted"],
        send["duplicates"],
        send["retries"],
        send["error"]
            .as_str()
            .map(|e| format!(", error: {e}"))
            .unwrap_or_default()
    )
}
