//! `--notify-url`: a Slack-compatible `{"text": …}` POST for every rejected or failed event.
//!
//! [`NotifyingStore`] wraps the real store and notices, as they are written, events stored as
//! `REJECTED` (by ingest) and events marked `FAILURE` (by the worker), so no code path that
//! stores events can forget to notify. It only puts a small notice on a bounded queue (never
//! blocking, never on the network); a background task builds each message (looking up the
//! key's name) and POSTs it with retries. When the queue is full (the receiver is down or slow
//! and events keep failing), notices are dropped and counted in the log: the request path never
//! waits for notifications.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mwctl::protocol::admin::{ApiKey, Event, EventDetail, EventStatus, Repo, StoredRun};
use mwctl::protocol::{RepoRef, Run};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::log::line;
use crate::store::{
    Applied, Claimed, EventQuery, Inserted, KeyRecord, NewEvent, Pruned, Revoked, RunQuery, Store,
    StoreResult,
};

/// Notices waiting to be sent; past this, new ones are dropped (and counted).
pub const QUEUE: usize = 1000;
/// Attempts per message, the first included.
const ATTEMPTS: u32 = 5;
/// Per attempt.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest text quoted from an event (an error, a resolution, a name), in characters.
const MAX_QUOTE: usize = 400;

/// What happened to an event, as queued by the store wrapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Ingest refused the request; `response` is the answer sent (JSON).
    Rejected {
        event_id: String,
        key_id: String,
        error: String,
        response: String,
    },
    /// The worker could not process an accepted request.
    Failed { event_id: String, error: String },
}

/// The sending side of the queue.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Notice>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    /// Starts the background sender. `store` (the unwrapped one) is read for key names.
    pub fn start(url: &str, store: Arc<dyn Store>) -> anyhow::Result<Notifier> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("mwctl-server/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()?;
        let (queue, notices) = mpsc::channel(QUEUE);
        let sender = Sender {
            url: url.to_owned(),
            http,
            store,
            names: HashMap::new(),
        };
        tokio::spawn(sender.run(notices));
        Ok(Notifier {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues a notice without waiting; drops it when the queue is full.
    pub fn notify(&self, notice: Notice) {
        if self.queue.try_send(notice).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once, then every 100th: a flood must not flood the log too.
            if dropped == 1 || dropped.is_multiple_of(100) {
                line(&format!(
                    "notify: the queue of {QUEUE} is full (is --notify-url down?); {dropped} notifications dropped so far"
                ));
            }
        }
    }
}

/// The background task: one message at a time, in order.
struct Sender {
    url: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    /// Key id → name, filled on demand.
    names: HashMap<String, String>,
}

impl Sender {
    async fn run(mut self, mut notices: mpsc::Receiver<Notice>) {
        while let Some(notice) = notices.recv().await {
            let text = self.text(&notice).await;
            let event_id = match &notice {
                Notice::Rejected { event_id, .. } | Notice::Failed { event_id, .. } => event_id,
            };
            if let Err(e) = self.post(&text).await {
                line(&format!(
                    "notify: gave up on the notification for {event_id}: {e}"
                ));
            }
        }
    }

    async fn text(&mut self, notice: &Notice) -> String {
        match notice {
            Notice::Rejected {
                event_id,
                key_id,
                error,
                response,
            } => {
                let key = self.key_label(key_id).await;
                let answer: Value = serde_json::from_str(response).unwrap_or(Value::Null);
                rejected_text(event_id, &key, error, &answer)
            }
            Notice::Failed { event_id, error } => {
                let id = event_id.clone();
                let detail = self
                    .db(move |store| store.event_detail(&id))
                    .await
                    .ok()
                    .flatten();
                let key = match &detail {
                    Some(detail) => self.key_label(&detail.event.key_id).await,
                    None => "an unknown key".to_owned(),
                };
                failed_text(event_id, &key, error, detail.as_ref())
            }
        }
    }

    /// `name (id)`, never the key itself (the store does not have it anyway).
    async fn key_label(&mut self, key_id: &str) -> String {
        if !self.names.contains_key(key_id)
            && let Ok(keys) = self.db(|store| store.list_keys()).await
        {
            self.names = keys.into_iter().map(|k| (k.id, k.name)).collect();
        }
        match self.names.get(key_id) {
            Some(name) => format!("{} ({key_id})", quote(name)),
            None => key_id.to_owned(),
        }
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| crate::store::StoreError::Other(e.to_string()))?
    }

    /// POSTs `{"text": …}`, retrying connection errors, timeouts, 5xx and 429 with backoff
    /// (0.5, 1, 2, 4 s). Other 4xx answers are final: sending again would not help.
    async fn post(&self, text: &str) -> Result<(), String> {
        let body = json!({ "text": text });
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(250 << (attempt - 1))).await;
            }
            match self.http.post(&self.url).json(&body).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    last = format!("the receiver answered HTTP {status}");
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        return Err(last);
                    }
                }
                Err(e) => last = format!("cannot reach the receiver: {e}"),
            }
        }
        Err(format!("{last} (after {ATTEMPTS} attempts)"))
    }
}

fn rejected_text(event_id: &str, key: &str, error: &str, answer: &Value) -> String {
    let kind = answer["exception_type"].as_str().unwrap_or("rejected");
    let mut text = format!(
        "mwctl: request {event_id} was rejected ({})\n• key: {key}\n• error: {}",
        quote(kind),
        quote(error)
    );
    if let Some(errors) = answer["errors"].as_array() {
        for e in errors.iter().take(3) {
            text.push_str(&format!(
                "\n    run {}: {}: {}",
                e["index"],
                quote(e["field"].as_str().unwrap_or("?")),
                quote(e["message"].as_str().unwrap_or("?"))
            ));
        }
        if errors.len() > 3 {
            text.push_str(&format!("\n    … and {} more", errors.len() - 3));
        }
    }
    if let Some(resolution) = answer["resolution"].as_str() {
        text.push_str(&format!("\n• resolution: {}", quote(resolution)));
    }
    text.push_str(&format!("\n• details: `mwctl events show {event_id}`"));
    text
}

fn failed_text(event_id: &str, key: &str, error: &str, detail: Option<&EventDetail>) -> String {
    let runs = detail.map_or(0, |d| d.event.runs_received);
    format!(
        "mwctl: accepted request {event_id} failed in processing; none of its {runs} run(s) were stored\n\
         • key: {key}\n• error: {}\n\
         • resolution: fix the cause (e.g. link the repository again with `mwctl repos link URL`), then send the runs again; the request is kept\n\
         • details: `mwctl events show {event_id}`",
        quote(error)
    )
}

/// Makes quoted text inert in Slack's mrkdwn (`<!channel>`, `<url|link>`) and short.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_QUOTE + 8));
    for (i, c) in s.chars().enumerate() {
        if i == MAX_QUOTE {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The store, noticing rejected and failed events on their way in.
pub struct NotifyingStore {
    inner: Arc<dyn Store>,
    notifier: Notifier,
}

impl NotifyingStore {
    /// Wraps `inner`; notices go to `url`.
    pub fn wrap(inner: Arc<dyn Store>, url: &str) -> anyhow::Result<NotifyingStore> {
        let notifier = Notifier::start(url, Arc::clone(&inner))?;
        Ok(NotifyingStore { inner, notifier })
    }
}

impl Store for NotifyingStore {
    fn insert_event(&self, event: &NewEvent) -> StoreResult<Inserted> {
        let inserted = self.inner.insert_event(event)?;
        if matches!(inserted, Inserted::New) && event.status == EventStatus::Rejected {
            self.notifier.notify(Notice::Rejected {
                event_id: event.id.clone(),
                key_id: event.key_id.clone(),
                error: event.error.clone().unwrap_or_default(),
                response: event.response.clone(),
            });
        }
        Ok(inserted)
    }

    fn fail_event(&self, id: &str, error: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.inner.fail_event(id, error, at)?;
        self.notifier.notify(Notice::Failed {
            event_id: id.to_owned(),
            error: error.to_owned(),
        });
        Ok(())
    }

    // Everything else passes through.

    fn count_keys(&self) -> StoreResult<u64> {
        self.inner.count_keys()
    }
    fn insert_key(&self, key: &ApiKey, key_hash: &str) -> StoreResult<()> {
        self.inner.insert_key(key, key_hash)
    }
    fn find_key(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>> {
        self.inner.find_key(key_hash)
    }
    fn touch_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        self.inner.touch_key(id, at)
    }
    fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_keys()
    }
    fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<Revoked> {
        self.inner.revoke_key(id, at)
    }
    fn link_repo(&self, repo: &RepoRef, at: DateTime<Utc>) -> StoreResult<(Repo, bool)> {
        self.inner.link_repo(repo, at)
    }
    fn list_repos(&self) -> StoreResult<Vec<Repo>> {
        self.inner.list_repos()
    }
    fn unlink_repo(&self, id: i64) -> StoreResult<Option<Repo>> {
        self.inner.unlink_repo(id)
    }
    fn find_duplicate(&self, key_id: &str, webhook_id: &str) -> StoreResult<Option<String>> {
        self.inner.find_duplicate(key_id, webhook_id)
    }
    fn list_events(&self, query: &EventQuery) -> StoreResult<Vec<Event>> {
        self.inner.list_events(query)
    }
    fn event_detail(&self, id: &str) -> StoreResult<Option<EventDetail>> {
        self.inner.event_detail(id)
    }
    fn prune_event(&self, id: &str, dry_run: bool, at: DateTime<Utc>) -> StoreResult<Pruned> {
        self.inner.prune_event(id, dry_run, at)
    }
    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<StoredRun>> {
        self.inner.list_runs(query)
    }
    fn requeue_running(&self) -> StoreResult<u64> {
        self.inner.requeue_running()
    }
    fn claim_next(&self) -> StoreResult<Option<Claimed>> {
        self.inner.claim_next()
    }
    fn add_attempt(&self, id: &str) -> StoreResult<u32> {
        self.inner.add_attempt(id)
    }
    fn apply_event(
        &self,
        id: &str,
        runs: &[Run],
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        self.inner.apply_event(id, runs, received_at, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_is_inert_and_short() {
        assert_eq!(
            quote("<!channel> & <https://x|y>"),
            "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
        );
        assert_eq!(quote("a\nb\u{7}"), "a b ");
        let long = "x".repeat(1000);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTE + 1);
    }

    #[test]
    fn a_rejection_says_which_key_what_and_how_to_fix_it() {
        let answer = json!({
            "status": "rejected",
            "exception_type": "InvalidPayload",
            "error": "1 of 1 runs are invalid",
            "resolution": "fix the runs listed in errors",
            "errors": [{"index": 0, "field": "status", "message": "\"<b>\" is not a status"}],
        });
        let text = rejected_text("evt_1", "ci (key_1)", "1 of 1 runs are invalid", &answer);
        assert!(
            text.contains("evt_1 was rejected (InvalidPayload)"),
            "{text}"
        );
        assert!(text.contains("key: ci (key_1)"), "{text}");
        assert!(
            text.contains("run 0: status: \"&lt;b&gt;\" is not a status"),
            "{text}"
        );
        assert!(text.contains("resolution: fix the runs"), "{text}");
        assert!(text.contains("mwctl events show evt_1"), "{text}");
    }
}
