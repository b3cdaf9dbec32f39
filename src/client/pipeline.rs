//! Concurrent delivery of prepared batches: at most `limit` requests in flight on the client's
//! keep-alive connections, each retried on its own (same `webhook-id` every time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{ApiError, Client, RetryPolicy, SendOutcome};

/// A batch ready to send.
#[derive(Debug)]
pub struct Outgoing {
    /// Position of the batch in the input.
    pub index: u64,
    pub webhook_id: String,
    /// The ingest endpoint: [`crate::protocol::INGEST_PATH`] for runs,
    /// [`crate::protocol::incident::INCIDENTS_PATH`] for incidents.
    pub path: &'static str,
    /// `{"workflow_runs": [...]}` or `{"incidents": [...]}`: what is signed, and sent unless `gzip` is set.
    pub json: Vec<u8>,
    /// `json` compressed, sent with `Content-Encoding: gzip`.
    pub gzip: Option<Vec<u8>>,
}

/// A batch and its fate.
#[derive(Debug)]
pub struct Delivery {
    pub batch: Outgoing,
    pub outcome: Result<SendOutcome, ApiError>,
}

/// Called before each retry's wait: the batch index, what failed, the wait.
pub type OnRetry = Arc<dyn Fn(u64, &ApiError, Duration) + Send + Sync>;

pub struct Pipeline {
    client: Client,
    policy: RetryPolicy,
    limit: usize,
    in_flight: JoinSet<Delivery>,
    retries: Arc<AtomicU64>,
    on_retry: OnRetry,
    /// Set once the server refused a compressed body: later batches go uncompressed.
    uncompressed: Arc<AtomicBool>,
}

impl Pipeline {
    pub fn new(client: Client, limit: usize, policy: RetryPolicy, on_retry: OnRetry) -> Pipeline {
        Pipeline {
            client,
            policy,
            limit: limit.max(1),
            in_flight: JoinSet::new(),
            retries: Arc::new(AtomicU64::new(0)),
            on_retry,
            uncompressed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the server refused a compressed body (everything is sent uncompressed since).
    pub fn compression_refused(&self) -> bool {
        self.uncompressed.load(Ordering::Relaxed)
    }

    /// Whether another batch may be submitted now.
    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.limit
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Retries so far, over all batches.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Starts sending a batch; its [`Delivery`] comes out of [`Pipeline::next`].
    pub fn submit(&mut self, mut batch: Outgoing) {
        let client = self.client.clone();
        let policy = self.policy;
        let retries = Arc::clone(&self.retries);
        let on_retry = Arc::clone(&self.on_retry);
        let uncompressed = Arc::clone(&self.uncompressed);
        if uncompressed.load(Ordering::Relaxed) {
            batch.gzip = None;
        }
        self.in_flight.spawn(async move {
            let outcome = client
                .send_encoded(
                    batch.path,
                    &batch.json,
                    batch.gzip.as_deref(),
                    &batch.webhook_id,
                    policy,
                    |e, wait| {
                        retries.fetch_add(1, Ordering::Relaxed);
                        on_retry(batch.index, e, wait);
                    },
                )
                .await;
            if outcome.as_ref().is_ok_and(|o| o.compression_refused) {
                uncompressed.store(true, Ordering::Relaxed);
            }
            Delivery { batch, outcome }
        });
    }

    /// The next batch to finish, or `None` when none is in flight.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            match self.in_flight.join_next().await? {
                Ok(delivery) => return Some(delivery),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Aborted: nothing to report.
                Err(_) => continue,
            }
        }
    }

    /// Gives up on every request in flight.
    pub fn abort(&mut self) {
        self.in_flight.abort_all();
    }
}
