//! The asynchronous processor: claims waiting events oldest first, several at a time, and
//! writes their runs. Waiting `workflow` events are written together ([`ops::apply_events`]:
//! one transaction per batch, bounded in runs so that ingest never waits long for the writer);
//! any other event, and every event of a batch that hit a storage error, is applied alone
//! ([`ops::apply_event`]). Failures are recorded on the event (and notified).
//!
//! Claims are leased to this process ([`AppState::owner`]) and renewed while it works, so that
//! several instances share one queue: an instance that dies stops renewing, and once its leases
//! end the others (or it, restarted) take its events over.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mwctl::protocol::incident::Incident;
use mwctl::protocol::{Run, parse_batch, parse_incident_batch};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::ops::{self, Applied};
use crate::store::{Claimed, Counts, RequestType, StoreError, now};

/// Most attempts at one event (a crash mid-event counts as one) before it fails for good.
pub const MAX_ATTEMPTS: u32 = 5;
/// A wake-up may be missed, and a dead instance's claims end without one: look anyway this
/// often (or every lease, when leases are shorter).
const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// Most events claimed (and written in one transaction) at a time.
const CLAIM_LIMIT: u32 = 32;
/// Pause after an error outside an event's processing (the database went away, say).
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Starts the worker, on a runtime (and so blocking threads) of its own, at a lower CPU
/// priority than ingest ([`crate::store::Store::worker_niceness`]): answering comes first.
/// When `stop` turns true it finishes the batch it is writing (and the one it already took),
/// then returns.
pub fn spawn(
    state: AppState,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let niceness = state.store.worker_niceness();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("worker-db")
        .on_thread_start(move || defer_cpu(niceness))
        .build()?;
    std::thread::Builder::new()
        .name("worker".to_owned())
        .spawn(move || {
            defer_cpu(niceness);
            runtime.block_on(run(state, stop));
        })
}

/// Lowers the calling thread's CPU priority to `niceness` (on Linux, a thread's nice value is
/// its own).
fn defer_cpu(niceness: i32) {
    #[cfg(unix)]
    if let Err(e) = rustix::process::setpriority_process(None, niceness) {
        tracing::warn!(
            "worker: cannot lower its CPU priority ({e}); processing competes with ingest"
        );
    }
}

/// The events this process holds, whose leases it renews.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<HashSet<String>>>);

impl Held {
    fn add(&self, id: &str) {
        self.lock().insert(id.to_owned());
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn ids(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Renews the leases of the held events three times per lease, until the worker ends.
fn renew_leases(state: &AppState, held: &Held) -> JoinHandle<()> {
    let (store, owner, held) = (
        Arc::clone(&state.store),
        Arc::clone(&state.owner),
        held.clone(),
    );
    let lease = state.config.lease;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(lease / 3).await;
            let ids = held.ids();
            if ids.is_empty() {
                continue;
            }
            if let Err(e) = store.renew(&owner, ids, lease).await {
                tracing::warn!("worker: cannot renew its leases: {e}");
            }
        }
    })
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let held = Held::default();
    let renewer = renew_leases(&state, &held);
    let poll = FALLBACK_POLL.min(state.config.lease);
    loop {
        drain(&state, &held, &stop).await;
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            () = state.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    renewer.abort();
}

/// An event claimed (now RUNNING) and parsed, ready to apply.
struct Ready {
    id: String,
    received_at: DateTime<Utc>,
    attempts: u32,
    /// What to write, or why the event cannot be processed.
    runs: Result<Arc<Work>, String>,
}

/// A claimed event's parsed body, by request type.
enum Work {
    Runs(Vec<Run>),
    Incidents(Vec<Incident>),
}

impl Ready {
    /// Written in a batch: a `workflow` event whose runs parsed. Anything else goes alone
    /// through [`finish`].
    fn batchable(&self) -> bool {
        matches!(self.runs.as_deref(), Ok(Work::Runs(_)))
    }
}

/// Processes waiting events until there are none. While one batch is written, the next is
/// claimed and parsed, so the writer is kept busy.
async fn drain(state: &AppState, held: &Held, stop: &watch::Receiver<bool>) {
    // The claim limit, adjusted to the size of the events seen (see [`next_limit`]); one at
    // first, as their size is not known before they are claimed (32 backfill events at once
    // would be 16,000 runs in memory).
    let limit = Arc::new(AtomicU32::new(1));
    let mut next = Some(prepare(state, held, &limit));
    while let Some(prepared) = next.take() {
        let batch = match prepared.await {
            Ok(Ok(batch)) if batch.is_empty() => return,
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                tracing::error!("worker: cannot take the next event: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
                return;
            }
            Err(e) => {
                tracing::error!("worker: {e}");
                return;
            }
        };
        if !*stop.borrow() {
            next = Some(prepare(state, held, &limit));
        }
        let (together, alone): (Vec<Ready>, Vec<Ready>) =
            batch.into_iter().partition(Ready::batchable);
        // Oldest first: the claim's order, workflow events before any other type claimed with
        // them (they touch different tables).
        let mut alone = alone;
        if !together.is_empty() {
            alone.extend(finish_batch(state, held, together).await);
        }
        for ready in alone {
            let id = ready.id.clone();
            let finished = finish(state, ready).await;
            // Finished, or left RUNNING to be taken over once its lease ends.
            held.remove(&id);
            if let Err(e) = finished {
                tracing::error!(event_id = %id, "worker: the event could not be finished: {e}");
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}

/// Claims the oldest waiting events (up to `limit`) and parses their bodies (on a blocking
/// thread), as a task of its own; then sets `limit` for the next claim from their sizes.
fn prepare(
    state: &AppState,
    held: &Held,
    limit: &Arc<AtomicU32>,
) -> JoinHandle<Result<Vec<Ready>, StoreError>> {
    let (store, owner, held, limit) = (
        Arc::clone(&state.store),
        Arc::clone(&state.owner),
        held.clone(),
        Arc::clone(limit),
    );
    let lease = state.config.lease;
    tokio::spawn(async move {
        let claimed = store
            .claim(&owner, lease, limit.load(Ordering::Relaxed))
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        for event in &claimed {
            held.add(&event.id);
        }
        let ready = tokio::task::spawn_blocking(move || {
            claimed
                .into_iter()
                .map(|event| {
                    let runs = parse(&event);
                    Ready {
                        id: event.id,
                        received_at: event.received_at,
                        attempts: event.attempts,
                        runs,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Other(format!("parsing task failed: {e}")))?;
        limit.store(next_limit(&ready, store.batch_runs()), Ordering::Relaxed);
        Ok(ready)
    })
}

/// The claim limit after a claim of these events: as many events of their mean size as make
/// `batch_runs` runs ([`crate::store::Store::batch_runs`]), between 1 and [`CLAIM_LIMIT`]. It
/// shrinks when events are big (a backfill's carry up to 500 runs each), so that a batch holds
/// the writer about as long as the backend wants. Events are claimed with their bodies
/// and parsed whole, so this bounds the worker's memory too.
fn next_limit(ready: &[Ready], batch_runs: usize) -> u32 {
    let runs: usize = ready
        .iter()
        .map(|r| match r.runs.as_deref() {
            Ok(Work::Runs(runs)) => runs.len().max(1),
            Ok(Work::Incidents(incidents)) => incidents.len().max(1),
            Err(_) => 1,
        })
        .sum();
    let mean = runs.div_ceil(ready.len().max(1)).max(1);
    u32::try_from(batch_runs / mean)
        .unwrap_or(CLAIM_LIMIT)
        .clamp(1, CLAIM_LIMIT)
}

/// Writes a batch of `workflow` events in one transaction ([`ops::apply_events`]); returns the
/// events to apply one by one instead: all of them when the batch could not be written (a
/// storage error rolled it back).
async fn finish_batch(state: &AppState, held: &Held, batch: Vec<Ready>) -> Vec<Ready> {
    if batch.len() == 1 {
        return batch;
    }
    let store = state.store.as_ref();
    let owner = state.owner.as_ref();
    let pending: Vec<ops::Pending<'_>> = batch
        .iter()
        .filter_map(|ready| {
            let Ok(Work::Runs(runs)) = ready.runs.as_deref() else {
                return None;
            };
            Some(ops::Pending {
                id: &ready.id,
                runs,
                received_at: ready.received_at,
            })
        })
        .collect();
    let results = match ops::apply_events(store, owner, &pending, now()).await {
        Ok(results) => results,
        Err(e) => {
            tracing::warn!(
                events = batch.len(),
                "worker: a batch failed ({e}); applying its events one by one"
            );
            return batch;
        }
    };
    drop(pending);
    let mut failed = Vec::new();
    for (ready, result) in batch.into_iter().zip(results) {
        let id = ready.id.as_str();
        match result {
            Applied::Done(c) => {
                log_success(id, c);
                held.remove(id);
            }
            Applied::Lost => {
                log_lost(id);
                held.remove(id);
            }
            // Recorded by the path that records any failure.
            Applied::Unresolved(reason) => failed.push(Ready {
                runs: Err(reason),
                ..ready
            }),
        }
    }
    failed
}

fn log_success(id: &str, c: Counts) {
    tracing::info!(
        event_id = %id,
        created = c.created,
        updated = c.updated,
        unchanged = c.unchanged,
        "worker: SUCCESS"
    );
}

fn log_lost(id: &str) {
    tracing::warn!(
        event_id = %id,
        "worker: its lease ran out and another worker took the event over"
    );
}

fn parse(event: &Claimed) -> Result<Arc<Work>, String> {
    if event.attempts > MAX_ATTEMPTS {
        return Err(format!(
            "gave up after {MAX_ATTEMPTS} attempts (the server stopped while processing it each time)"
        ));
    }
    let kind = event
        .request_type
        .clone()
        .map_err(|kind| format!("this server cannot process {kind:?} events"))?;
    let body = event
        .body
        .as_deref()
        .ok_or_else(|| "the event has no stored body".to_owned())?;
    // It was valid on ingest; validating "as of" its arrival keeps it valid now.
    let work = match kind {
        RequestType::Workflow => parse_batch(body, event.received_at).map(Work::Runs),
        RequestType::Incident => parse_incident_batch(body, event.received_at).map(Work::Incidents),
    };
    work.map(Arc::new)
        .map_err(|rejection| format!("the stored body no longer parses: {}", rejection.error))
}

/// Writes the event's runs (retrying transient errors with backoff) or marks it failed.
async fn finish(state: &AppState, ready: Ready) -> Result<(), StoreError> {
    let Ready {
        id,
        received_at,
        mut attempts,
        runs,
        ..
    } = ready;
    let store = state.store.as_ref();
    let owner = state.owner.as_ref();
    let outcome = match runs {
        Err(reason) => Err(reason),
        Ok(work) => loop {
            let applied = match work.as_ref() {
                Work::Runs(runs) => {
                    ops::apply_event(store, &id, owner, runs, received_at, now()).await
                }
                Work::Incidents(incidents) => {
                    ops::apply_incident_event(store, &id, owner, incidents, now()).await
                }
            };
            match applied {
                Ok(Applied::Done(c)) => break Ok(c),
                Ok(Applied::Unresolved(reason)) => break Err(reason),
                Ok(Applied::Lost) => {
                    log_lost(&id);
                    return Ok(());
                }
                Err(e) if e.is_transient() && attempts < MAX_ATTEMPTS => {
                    let pause = backoff(attempts);
                    tracing::warn!(
                        event_id = %id,
                        "worker: attempt {attempts} failed ({e}); retrying in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    attempts = store.add_attempt(&id).await?;
                }
                Err(e) => break Err(format!("failed after {attempts} attempts: {e}")),
            }
        },
    };
    match outcome {
        Ok(c) => {
            log_success(&id, c);
            Ok(())
        }
        Err(reason) => {
            if store.fail_event(&id, owner, &reason, now()).await? {
                tracing::warn!(event_id = %id, "worker: FAILURE: {reason}");
                state.notifier.outbox_written();
            } else {
                tracing::warn!(event_id = %id, "worker: another worker took the event over");
            }
            Ok(())
        }
    }
}

/// 200 ms, 400 ms, 800 ms, 1.6 s... after the 1st, 2nd, 3rd, 4th attempt.
fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(100 << attempts.clamp(1, 6))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use mwctl::protocol::admin::EventStatus;
    use tokio::sync::watch;

    use super::*;
    use crate::app::Config;
    use crate::store::contract::{Backend, fixture, run};
    use crate::store::{EventQuery, SqliteStore, Store};

    struct Sqlite(tempfile::TempDir);

    #[async_trait]
    impl Backend for Sqlite {
        async fn open(&self, _notify: bool) -> Arc<dyn Store> {
            Arc::new(SqliteStore::open(&self.0.path().join("test.db")).expect("opens"))
        }
    }

    #[test]
    fn the_claim_limit_follows_the_size_of_the_events() {
        let ready = |runs: usize| {
            Ready {
            id: String::new(),
            received_at: now(),
            attempts: 1,
            runs: Ok(Arc::new(Work::Runs(vec![
                parse_batch(
                    serde_json::json!({"workflow_runs": [run("shop", "deploy", "1", "SUCCESS", None)]})
                        .to_string()
                        .as_bytes(),
                    now(),
                )
                .expect("valid")[0]
                    .clone();
                runs
            ]))),
        }
        };
        assert_eq!(
            next_limit(&[ready(1), ready(1)], 1_000),
            CLAIM_LIMIT,
            "small events"
        );
        assert_eq!(next_limit(&[ready(500)], 1_000), 2, "a backfill's");
        assert_eq!(next_limit(&[ready(500)], 500), 1, "on SQLite");
        assert_eq!(next_limit(&[ready(5000)], 1_000), 1, "one at least");
    }

    /// Events waiting when the worker starts are written in batches (the first alone, its size
    /// unknown; the rest in one transaction: one processing time), and the one whose repo was
    /// unlinked fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_events_are_processed_together_and_fail_alone() {
        let backend = Sqlite(tempfile::tempdir().expect("tempdir"));
        let f = fixture(&backend).await;
        let mut ids = Vec::new();
        for (n, repo) in ["shop", "shop", "api", "shop", "shop"].iter().enumerate() {
            let runs = vec![run(repo, "deploy", &n.to_string(), "SUCCESS", None)];
            ids.push(f.ingest(runs, "2025-01-10T10:01:00Z", None).await);
        }
        let repos = f.store.list_repos().await.expect("lists");
        let api = repos.iter().find(|r| r.name == "api").expect("linked");
        ops::unlink_repo(f.store.as_ref(), api.id, false, false, now())
            .await
            .expect("unlinks")
            .expect("linked");

        let state = AppState::new(Arc::clone(&f.store), Config::default());
        let (stop, stopped) = watch::channel(false);
        let worker = spawn(state, stopped).expect("starts");
        let mut events = Vec::new();
        for _ in 0..250 {
            events = f
                .store
                .list_events(&EventQuery {
                    limit: 10,
                    ..EventQuery::default()
                })
                .await
                .expect("lists")
                .items;
            if events
                .iter()
                .all(|e| !matches!(e.status, EventStatus::Waiting | EventStatus::Running))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).expect("stops");
        tokio::task::spawn_blocking(move || worker.join().expect("joins"))
            .await
            .expect("joined");

        let failed: Vec<_> = events
            .iter()
            .filter(|e| e.status == EventStatus::Failure)
            .collect();
        assert_eq!(failed.len(), 1, "{events:?}");
        assert_eq!(failed[0].id, ids[2]);
        let reason = failed[0].error.as_deref().unwrap_or_default();
        assert!(reason.contains("acme/api is not linked"), "{reason}");
        let done: Vec<_> = events
            .iter()
            .filter(|e| e.status == EventStatus::Success)
            .collect();
        assert_eq!(done.len(), 4, "{events:?}");
        assert!(done.iter().all(|e| e.runs_created == 1), "{done:?}");
        let at = |id: &String| {
            done.iter()
                .find(|e| &e.id == id)
                .and_then(|e| e.processed_at)
        };
        assert!(at(&ids[1]).is_some(), "{done:?}");
        assert!(
            at(&ids[1]) == at(&ids[3]) && at(&ids[3]) == at(&ids[4]),
            "one transaction: {done:?}"
        );
        assert_eq!(f.runs().await.len(), 4);
    }
}
