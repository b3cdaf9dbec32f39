//! The asynchronous processor: claims waiting events oldest first and writes their runs
//! ([`ops::apply_event`]: one transaction per event, so ingest never waits long for the writer).
//! Dispatches on the event's type; failures are recorded on the event (and notified).
//!
//! Claims are leased to this process ([`AppState::owner`]) and renewed while it works, so that
//! several instances share one queue: an instance that dies stops renewing, and once its leases
//! end the others (or it, restarted) take its events over.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mwctl::protocol::incident::Incident;
use mwctl::protocol::{Run, parse_batch, parse_incident_batch};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::ops::{self, Applied};
use crate::store::{Claimed, RequestType, StoreError, now};

/// Most attempts at one event (a crash mid-event counts as one) before it fails for good.
pub const MAX_ATTEMPTS: u32 = 5;
/// A wake-up may be missed, and a dead instance's claims end without one: look anyway this
/// often (or every lease, when leases are shorter).
const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// Events claimed at a time.
const CLAIM_LIMIT: u32 = 1;
/// Pause after an error outside an event's processing (the database went away, say).
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How much the worker's threads defer to the rest of the server for CPU (a nice value).
/// Answering comes first: during a backfill the worker would otherwise take a whole core and
/// slow ingest down; it catches up as soon as requests stop.
const WORKER_NICENESS: i32 = 5;

/// Starts the worker, on a runtime (and so blocking threads) of its own, at a lower CPU
/// priority than ingest. When `stop` turns true it finishes the event it is writing (and the
/// one it already took), then returns.
pub fn spawn(
    state: AppState,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("worker-db")
        .on_thread_start(defer_cpu)
        .build()?;
    std::thread::Builder::new()
        .name("worker".to_owned())
        .spawn(move || {
            defer_cpu();
            runtime.block_on(run(state, stop));
        })
}

/// Lowers the calling thread's CPU priority (on Linux, a thread's nice value is its own).
fn defer_cpu() {
    #[cfg(unix)]
    if let Err(e) = rustix::process::setpriority_process(None, WORKER_NICENESS) {
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

/// Processes waiting events until there are none. While one event is written, the next is
/// claimed and parsed, so the writer is kept busy.
async fn drain(state: &AppState, held: &Held, stop: &watch::Receiver<bool>) {
    let mut next = Some(prepare(state, held));
    while let Some(prepared) = next.take() {
        let ready = match prepared.await {
            Ok(Ok(Some(ready))) => ready,
            Ok(Ok(None)) => return,
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
            next = Some(prepare(state, held));
        }
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

/// Claims the oldest waiting event and parses its body (on a blocking thread), as a task of
/// its own.
fn prepare(state: &AppState, held: &Held) -> JoinHandle<Result<Option<Ready>, StoreError>> {
    let (store, owner, held) = (
        Arc::clone(&state.store),
        Arc::clone(&state.owner),
        held.clone(),
    );
    let lease = state.config.lease;
    tokio::spawn(async move {
        let claimed = store.claim(&owner, lease, CLAIM_LIMIT).await?;
        let Some(event) = claimed.into_iter().next() else {
            return Ok(None);
        };
        held.add(&event.id);
        let runs = tokio::task::spawn_blocking(move || {
            let runs = parse(&event);
            (event, runs)
        })
        .await;
        let (event, runs) =
            runs.map_err(|e| StoreError::Other(format!("parsing task failed: {e}")))?;
        Ok(Some(Ready {
            id: event.id,
            received_at: event.received_at,
            attempts: event.attempts,
            runs,
        }))
    })
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
                    tracing::warn!(
                        event_id = %id,
                        "worker: its lease ran out and another worker took the event over"
                    );
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
            tracing::info!(
                event_id = %id,
                created = c.created,
                updated = c.updated,
                unchanged = c.unchanged,
                "worker: SUCCESS"
            );
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
