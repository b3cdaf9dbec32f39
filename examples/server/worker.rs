//! The asynchronous processor: takes waiting events oldest first and writes their runs, one
//! transaction per event, so ingest never waits long for the writer.

use std::sync::Arc;
use std::time::Duration;

use mwctl::protocol::parse_batch;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::log::line;
use crate::routes::ingest::REQUEST_TYPE;
use crate::store::{Applied, Claimed, StoreError, now};

/// Most attempts at one event (a crash mid-event counts as one) before it fails for good.
pub const MAX_ATTEMPTS: u32 = 5;
/// A wake-up may be missed (e.g. another instance stored the event): look anyway this often.
const FALLBACK_POLL: Duration = Duration::from_secs(5);
/// Pause after an error outside an event's processing (the database went away, say).
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Starts the worker. It stops, after its current event, when `stop` turns true.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(run(state, stop))
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        loop {
            if *stop.borrow() {
                return;
            }
            match process_next(&state).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    line(&format!("worker: {e}"));
                    tokio::time::sleep(ERROR_PAUSE).await;
                    break;
                }
            }
        }
        tokio::select! {
            () = state.wake.notified() => {}
            () = tokio::time::sleep(FALLBACK_POLL) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Processes the oldest waiting event. `Ok(false)` when there was none.
async fn process_next(state: &AppState) -> Result<bool, StoreError> {
    let Some(event) = state.db(|store| store.claim_next()).await? else {
        return Ok(false);
    };
    let id = event.id.clone();
    let result = match process(state, event).await? {
        Ok(message) => {
            line(&format!("worker: {id} {message}"));
            return Ok(true);
        }
        Err(error) => error,
    };
    line(&format!("worker: {id} FAILURE: {result}"));
    let failed = id.clone();
    state
        .db(move |store| store.fail_event(&failed, &result, now()))
        .await?;
    Ok(true)
}

/// `Ok(Ok(summary))` when the event succeeded, `Ok(Err(reason))` when it failed for good.
async fn process(state: &AppState, event: Claimed) -> Result<Result<String, String>, StoreError> {
    let Claimed {
        id,
        request_type,
        received_at,
        body,
        mut attempts,
    } = event;
    if attempts > MAX_ATTEMPTS {
        return Ok(Err(format!(
            "gave up after {MAX_ATTEMPTS} attempts (the server stopped while processing it each time)"
        )));
    }
    if request_type != REQUEST_TYPE {
        return Ok(Err(format!(
            "this server cannot process {request_type:?} events"
        )));
    }
    let Some(body) = body else {
        return Ok(Err("the event has no stored body".to_owned()));
    };
    // It was valid on ingest; validating "as of" its arrival keeps it valid now.
    let parsed = tokio::task::spawn_blocking(move || parse_batch(&body, received_at))
        .await
        .map_err(|e| StoreError::Other(format!("parsing task failed: {e}")))?;
    let runs = match parsed {
        Ok(runs) => Arc::new(runs),
        Err(rejection) => {
            return Ok(Err(format!(
                "the stored body no longer parses: {}",
                rejection.error
            )));
        }
    };
    loop {
        let (event_id, batch) = (id.clone(), Arc::clone(&runs));
        let applied = state
            .db(move |store| store.apply_event(&event_id, &batch, received_at, now()))
            .await;
        match applied {
            Ok(Applied::Done(c)) => {
                return Ok(Ok(format!(
                    "SUCCESS created={} updated={} unchanged={}",
                    c.created, c.updated, c.unchanged
                )));
            }
            Ok(Applied::Unresolved(reason)) => return Ok(Err(reason)),
            Err(e) if e.is_transient() && attempts < MAX_ATTEMPTS => {
                let pause = backoff(attempts);
                line(&format!(
                    "worker: {id} attempt {attempts} failed ({e}); retrying in {pause:?}"
                ));
                tokio::time::sleep(pause).await;
                let event_id = id.clone();
                attempts = state.db(move |store| store.add_attempt(&event_id)).await?;
            }
            Err(e) => {
                return Ok(Err(format!("failed after {attempts} attempts: {e}")));
            }
        }
    }
}

/// 200 ms, 400 ms, 800 ms, 1.6 s... after the 1st, 2nd, 3rd, 4th attempt.
fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(100 << attempts.clamp(1, 6))
}
