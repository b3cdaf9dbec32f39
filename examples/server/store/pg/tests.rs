//! The PostgreSQL store: the contract suite on a real PostgreSQL (a throwaway cluster, see
//! `testing/pg_cluster.rs`), and what only a shared database has (migrations by instances
//! starting together).

use super::*;
use crate::store::contract::{Backend, contract_suite};

/// A fresh database on the test cluster; `None` when PostgreSQL tests are skipped.
struct PgBackend {
    url: Option<String>,
}

impl PgBackend {
    fn new() -> PgBackend {
        PgBackend {
            url: crate::pg_cluster::database(),
        }
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn open(&self, notify: bool) -> Arc<dyn Store> {
        let url = self.url.as_deref().expect("not skipped");
        let store = PgStore::connect(url).await.expect("connects");
        Arc::new(if notify { store.notifying() } else { store })
    }

    fn skip(&self) -> bool {
        self.url.is_none()
    }
}

contract_suite!(PgBackend::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let Some(url) = crate::pg_cluster::database() else {
        return;
    };
    let mut starts = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        starts.push(tokio::spawn(async move { PgStore::connect(&url).await }));
    }
    for start in starts {
        start
            .await
            .expect("task")
            .expect("migrates or finds it done");
    }
    let store = PgStore::connect(&url).await.expect("connects");
    let versions: Vec<i32> = sqlx::query_scalar("SELECT version FROM mwctl_schema")
        .fetch_all(&store.pool)
        .await
        .expect("reads");
    let all: Vec<i32> = (1..=super::MIGRATIONS.len() as i32).collect();
    assert_eq!(versions, all, "each migration ran once");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(url) = crate::pg_cluster::database() else {
        return;
    };
    let store = PgStore::connect(&url).await.expect("creates");
    sqlx::query("INSERT INTO mwctl_schema (version) VALUES (99)")
        .execute(&store.pool)
        .await
        .expect("sets");
    let Err(e) = PgStore::connect(&url).await else {
        panic!("a newer schema must be refused");
    };
    assert!(e.to_string().contains("run a newer server"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_an_event_wakes_every_listening_instance() {
    let Some(url) = crate::pg_cluster::database() else {
        return;
    };
    let f = crate::store::contract::fixture(&PgBackend {
        url: Some(url.clone()),
    })
    .await;
    let other = PgStore::connect(&url).await.expect("connects");
    let wake = Arc::new(Notify::new());
    other.listen(Arc::clone(&wake)).await.expect("listens");
    let woken = tokio::spawn({
        let wake = Arc::clone(&wake);
        async move { wake.notified().await }
    });
    f.ingest(
        vec![crate::store::contract::run(
            "shop", "deploy", "1", "SUCCESS", None,
        )],
        "2025-01-10T10:01:00Z",
        None,
    )
    .await;
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the other instance is woken")
        .expect("task");
}

/// A fresh database holding one processed event, which created run shop/deploy/1: the
/// backend, the fixture and the event's id. `None` when PostgreSQL tests are skipped.
async fn one_processed_run() -> Option<(PgBackend, crate::store::contract::Fixture, String)> {
    use crate::store::contract::{fixture, run};
    let backend = PgBackend::new();
    if backend.skip() {
        return None;
    }
    let f = fixture(&backend).await;
    let id = f
        .ingest(
            vec![run("shop", "deploy", "1", "SUCCESS", Some(1))],
            "2025-01-10T10:01:00Z",
            None,
        )
        .await;
    f.process().await;
    Some((backend, f, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_runs_deletes_their_write_records() {
    use crate::ops;
    let Some((backend, f, id)) = one_processed_run().await else {
        return;
    };
    let pool = PgStore::connect(backend.url.as_deref().expect("not skipped"))
        .await
        .expect("connects")
        .pool;
    let records = || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM event_runs WHERE event_id = $1")
            .bind(&id)
            .fetch_one(&pool)
    };
    assert_eq!(records().await.expect("counts"), 1);
    ops::prune_event(f.store.as_ref(), &id, false, Utc::now())
        .await
        .expect("prunes");
    // No foreign key removes them (see bulk.sql): delete_runs must.
    assert_eq!(
        records().await.expect("counts"),
        0,
        "no record of a deleted run"
    );
}

/// A prune that empties a workflow while another instance's worker is adding a run to it
/// waits for that worker and keeps the workflow (no foreign key does it: see
/// workflow_lock.sql). Deleting it would leave the new run in no workflow: stored, but in no
/// list and no DORA figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_keeps_a_workflow_a_worker_is_adding_a_run_to() {
    use crate::ops::{self, Pruned};
    use crate::store::contract::{fields, write};
    use mwctl::protocol::RunStatus;
    let Some((_backend, f, first)) = one_processed_run().await else {
        return;
    };
    let repo_id = f.store.list_repos().await.expect("lists")[0].id;

    // The worker of another instance, mid-transaction: run 2 written to `deploy`.
    let mut worker = f.store.begin(Writer::Worker).await.expect("begins");
    worker
        .insert_runs(
            vec![write(repo_id, "2", fields(RunStatus::Success))],
            Utc::now(),
        )
        .await
        .expect("inserts");
    // Pruning the first event deletes run 1, the last run `deploy` has that it can see.
    let store = Arc::clone(&f.store);
    let prune =
        tokio::spawn(
            async move { ops::prune_event(store.as_ref(), &first, false, Utc::now()).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!prune.is_finished(), "the prune waits for the worker");
    worker.commit().await.expect("commits");
    let Pruned::Done(report) = prune.await.expect("task").expect("prunes") else {
        panic!("expected a report");
    };
    assert_eq!(report.workflows_deleted, 0, "{report:?}");
    let runs = f.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        (
            runs[0].workflow.as_str(),
            runs[0].workflow_run_unique_id.as_str()
        ),
        ("deploy", "2")
    );
}
