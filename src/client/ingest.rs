//! Signed ingest requests with retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use sha2::{Digest, Sha256};

use super::{ApiError, Client};
use crate::protocol::signing::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::protocol::{INGEST_PATH, Receipt};

/// How hard to try before giving up on a request.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// For pipeline steps: a few quick attempts (the caller also bounds the total time).
    pub const PIPELINE: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
    };

    /// For backfills: patient, since the data must get in.
    pub const BACKFILL: RetryPolicy = RetryPolicy {
        max_attempts: 6,
        min_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
    };
}

/// The answer to a request, and what it took to get it.
#[derive(Clone, Debug)]
pub struct SendOutcome {
    pub receipt: Receipt,
    pub attempts: usize,
    /// The server refused the gzip-compressed body (upstream Middleware answers HTTP 400), so
    /// it was sent again uncompressed: send the next ones uncompressed too.
    pub compression_refused: bool,
}

impl Client {
    /// Sends one ingest body (`{"workflow_runs":[...]}`), signed, retrying connection errors,
    /// timeouts, 5xx and 429 with jittered exponential backoff that honours `Retry-After`.
    /// Every attempt carries the same `webhook-id`, so the server stores the batch once
    /// however many attempts reach it. `on_retry` hears about each retry before its wait.
    pub async fn send_runs(
        &self,
        body: &[u8],
        webhook_id: &str,
        policy: RetryPolicy,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<SendOutcome, ApiError> {
        self.send_encoded(INGEST_PATH, body, None, webhook_id, policy, on_retry)
            .await
    }

    /// [`Client::send_runs`] for an ingest body of another kind, to its endpoint (`path`, e.g.
    /// [`crate::protocol::incident::INCIDENTS_PATH`] for `{"incidents":[...]}`): the same signing, retries and answers.
    pub async fn send_to(
        &self,
        path: &'static str,
        body: &[u8],
        webhook_id: &str,
        policy: RetryPolicy,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<SendOutcome, ApiError> {
        self.send_encoded(path, body, None, webhook_id, policy, on_retry)
            .await
    }

    /// [`Client::send_runs`] with the body optionally sent gzip-compressed (`gzip` holds
    /// `json` compressed). The signature covers the JSON, as the protocol defines it. A server
    /// that refuses the compressed body (HTTP 400 or 415, or our `UnsupportedMediaType`) gets
    /// it again uncompressed, with the same `webhook-id`: nothing was stored of the first.
    pub async fn send_encoded(
        &self,
        path: &'static str,
        json: &[u8],
        gzip: Option<&[u8]>,
        webhook_id: &str,
        policy: RetryPolicy,
        mut on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<SendOutcome, ApiError> {
        let first = self
            .send_with_retries(path, json, gzip, webhook_id, policy, &mut on_retry)
            .await;
        let refused = gzip.is_some()
            && match &first {
                Err(ApiError::Status { status, .. }) => matches!(status, 400 | 415),
                Ok(SendOutcome {
                    receipt: Receipt::Rejected { exception_type, .. },
                    ..
                }) => exception_type.as_deref() == Some("UnsupportedMediaType"),
                _ => false,
            };
        if !refused {
            return first;
        }
        let mut outcome = self
            .send_with_retries(path, json, None, webhook_id, policy, &mut on_retry)
            .await?;
        outcome.compression_refused = true;
        Ok(outcome)
    }

    async fn send_with_retries(
        &self,
        path: &'static str,
        json: &[u8],
        gzip: Option<&[u8]>,
        webhook_id: &str,
        policy: RetryPolicy,
        on_retry: &mut impl FnMut(&ApiError, Duration),
    ) -> Result<SendOutcome, ApiError> {
        let attempts = AtomicU64::new(0);
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1));
        let receipt = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.send_once(path, json, gzip, webhook_id).await
        })
        .retry(backoff)
        .when(ApiError::is_retryable)
        .adjust(|e, delay| {
            // A server that says when to come back knows better than our backoff, within
            // reason: an hour-long Retry-After would stall a pipeline.
            match (e.retry_after(), delay) {
                (Some(wait), Some(_)) => {
                    Some(wait.min(policy.max_delay.max(Duration::from_secs(60))))
                }
                (_, delay) => delay,
            }
        })
        .notify(|e, delay| on_retry(e, delay))
        .await?;
        Ok(SendOutcome {
            receipt,
            attempts: attempts.load(Ordering::Relaxed) as usize,
            compression_refused: false,
        })
    }

    async fn send_once(
        &self,
        path: &'static str,
        json: &[u8],
        gzip: Option<&[u8]>,
        webhook_id: &str,
    ) -> Result<Receipt, ApiError> {
        let timestamp = unix_now();
        let signature = signing::sign(
            &signing::key_digest(self.key.expose()),
            webhook_id,
            timestamp,
            json,
        );
        let url = self.url(path);
        let mut request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_ID, webhook_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature);
        request = match gzip {
            Some(compressed) => request
                .header(CONTENT_ENCODING, "gzip")
                .body(compressed.to_vec()),
            None => request.body(json.to_vec()),
        };
        let answer = self.fetch(&url, request).await?;
        let status = answer.status;
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(ApiError::from_status(status, &answer.headers, &answer.body));
        }
        // Our server always answers 200; upstream may use 4xx with the same error shape.
        match Receipt::parse(&answer.body) {
            Some(receipt) => Ok(receipt),
            None if status.is_success() => Err(ApiError::Protocol(format!(
                "HTTP {status} with a body that is not a webhook answer: {:?}",
                answer.snippet()
            ))),
            None => Err(ApiError::from_status(status, &answer.headers, &answer.body)),
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A fresh, unique `webhook-id` (`msg_` + 32 hex digits of a random UUID), for requests that
/// are not derived from a file position (pipeline steps).
pub fn new_webhook_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A `webhook-id` derived from content: the same batch always gets the same id, so a batch sent
/// again (after a crash, or by a second run of the same command) is recognised as a duplicate.
pub fn content_webhook_id(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex_id(&hasher.finalize())
}

/// The `webhook-id` of batch `index` of a backfill: derived from the batch's position and its
/// body, so that sending the same input again (after a crash, or by running the command twice)
/// reuses every id and the server stores each batch once.
pub fn batch_webhook_id(index: u64, body: &[u8]) -> String {
    content_webhook_id(&[b"mwctl send v1", &index.to_be_bytes(), body])
}

/// `msg_` + the first 16 bytes of a digest, as hex.
fn hex_id(digest: &[u8]) -> String {
    format!("msg_{}", hex::encode(&digest[..16.min(digest.len())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_are_unique() {
        let a = new_webhook_id();
        let b = new_webhook_id();
        assert_ne!(a, b);
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
    }

    #[test]
    fn batch_ids_depend_on_position_and_content() {
        assert_eq!(batch_webhook_id(3, b"{}"), batch_webhook_id(3, b"{}"));
        assert_ne!(batch_webhook_id(3, b"{}"), batch_webhook_id(4, b"{}"));
        assert_ne!(batch_webhook_id(3, b"{}"), batch_webhook_id(3, b"[]"));
    }

    #[test]
    fn content_ids_are_stable_and_distinct() {
        assert_eq!(
            content_webhook_id(&[b"a", b"bc"]),
            content_webhook_id(&[b"a", b"bc"])
        );
        assert_ne!(
            content_webhook_id(&[b"a", b"bc"]),
            content_webhook_id(&[b"ab", b"c"])
        );
    }
}
