//! The SQLite store: the contract suite, and what only SQLite has (schema versions, timing).

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::store::contract::{Backend, OWNER, contract_suite, fixture, run};

/// A database file in a temporary directory.
struct SqliteBackend {
    dir: tempfile::TempDir,
}

impl SqliteBackend {
    fn new() -> SqliteBackend {
        SqliteBackend {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("test.db")
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn open(&self, notify: bool) -> Arc<dyn Store> {
        let store = SqliteStore::open(&self.path()).expect("opens");
        Arc::new(if notify { store.notifying() } else { store })
    }
}

contract_suite!(SqliteBackend::new());

#[test]
fn a_newer_schema_is_refused() {
    let backend = SqliteBackend::new();
    drop(SqliteStore::open(&backend.path()).expect("creates"));
    let conn = Connection::open(backend.path()).expect("opens");
    conn.pragma_update(None, "user_version", 99).expect("sets");
    drop(conn);
    let Err(e) = SqliteStore::open(&backend.path()) else {
        panic!("a newer schema must be refused");
    };
    assert!(e.to_string().contains("run a newer server"), "{e}");
}

/// Throughput of the worker's two steps (parse, then apply in one transaction);
/// `EVENTS=200 cargo test --release -p mwctl-server -- --ignored time_parse_and_apply`.
#[tokio::test]
#[ignore = "a timing, not a test"]
async fn time_parse_and_apply() {
    let backend = SqliteBackend::new();
    let f = fixture(&backend).await;
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
        f.ingest(runs, "2025-01-10T10:01:00Z", None).await;
    }
    let (mut parse, mut apply) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..events {
        let claimed = f.claim_one(OWNER).await.expect("waiting");
        let start = Instant::now();
        let runs = mwctl::protocol::parse_batch(
            claimed.body.as_deref().expect("body"),
            claimed.received_at,
        )
        .expect("valid");
        parse += start.elapsed();
        let start = Instant::now();
        crate::ops::apply_event(
            f.store.as_ref(),
            &claimed.id,
            OWNER,
            &runs,
            claimed.received_at,
            crate::store::now(),
        )
        .await
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
