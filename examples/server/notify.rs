//! `--notify-url`: a Slack-compatible `{"text": …}` POST for every rejected or failed event.
//!
//! The store keeps an outbox: an event stored as `REJECTED` (by ingest) or marked `FAILURE` (by
//! the worker) is marked for notification in the same transaction, so no code path that stores
//! events can forget to notify, and a server killed before delivering delivers after its
//! restart. Ingest and the worker call the [`Notifier`] hook after such writes, which wakes a
//! background task; the task builds each message (looking up the key's name), POSTs it with retries, and clears
//! the mark. The request path never waits for notifications. When more than [`BACKLOG`] wait
//! (the receiver is down or slow and events keep failing), the oldest are given up on, with a
//! line in the log. Delivery is at least once: a server killed between a POST and clearing the
//! mark sends that message again.
//!
//! Several instances on one database share the outbox: each sender claims a page under a
//! lease ([`Store::claim_notices`]), so each message is sent by one instance; the messages of
//! an instance that died are claimed by another once their lease ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mwctl::protocol::admin::{EventDetail, EventStatus};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::store::{PendingNotice, RequestType, Store};

/// Most notifications kept waiting; beyond, the oldest are given up on.
pub const BACKLOG: u32 = 1000;
/// Notifications claimed from the outbox at a time.
const PAGE: u32 = 10;
/// A claimed page lasts this many worker leases: long enough for slow deliveries with retries.
const LEASES_PER_PAGE: u32 = 6;
/// Attempts per message, the first included.
const ATTEMPTS: u32 = 5;
/// Per attempt.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after the store failed, before trying again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Longest text quoted from an event (an error, a resolution, a name), in characters.
const MAX_QUOTE: usize = 400;

/// Starts the background sender on the outbox of `store` (opened notifying); returns what
/// wakes it.
fn start_sender(
    url: &str,
    store: Arc<dyn Store>,
    owner: Arc<str>,
    lease: Duration,
) -> anyhow::Result<Arc<Notify>> {
    mwctl::client::install_crypto_provider();
    let http = reqwest::Client::builder()
        .user_agent(concat!("mwctl-server/", env!("CARGO_PKG_VERSION")))
        .timeout(TIMEOUT)
        .build()?;
    let wake = Arc::new(Notify::new());
    let sender = Sender {
        url: url.to_owned(),
        http,
        store,
        owner,
        lease: lease * LEASES_PER_PAGE,
        names: HashMap::new(),
    };
    tokio::spawn(sender.run(Arc::clone(&wake)));
    Ok(wake)
}

/// The background task: one message at a time, oldest first.
struct Sender {
    url: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    /// This process, as the owner of its claims.
    owner: Arc<str>,
    /// How long a claimed page is this sender's; also how often it looks for pages whose
    /// claim ran out (their sender died).
    lease: Duration,
    /// Key id → name, filled on demand.
    names: HashMap<String, String>,
}

impl Sender {
    /// Delivers what the outbox holds (left by an earlier run too), then waits to be woken.
    async fn run(mut self, wake: Arc<Notify>) {
        // The last page was full: more may wait, perhaps past the backlog (the outbox is only
        // trimmed then, not on every wake-up; and before claiming, so that no page this sender
        // holds loses notifications to the trim).
        let mut full = true;
        loop {
            if full {
                match self.store.trim_notices(BACKLOG).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        "notify: more than {BACKLOG} notifications were waiting (is --notify-url down?); gave up on the {n} oldest"
                    ),
                    Err(e) => tracing::error!("notify: cannot trim the outbox: {e}"),
                }
            }
            let claimed = self
                .store
                .claim_notices(&self.owner, self.lease, PAGE)
                .await;
            let pending = match claimed {
                Ok(pending) => pending,
                Err(e) => {
                    tracing::error!("notify: cannot read the outbox: {e}");
                    tokio::time::sleep(ERROR_PAUSE).await;
                    continue;
                }
            };
            full = pending.len() == PAGE as usize;
            if pending.is_empty() {
                // A wake-up sent while we were busy is kept, so none is missed.
                let _ = tokio::time::timeout(self.lease, wake.notified()).await;
                continue;
            }
            for notice in pending {
                let text = self.text(&notice).await;
                match self.post(&text).await {
                    Ok(()) => tracing::info!(event_id = %notice.event_id, "notify: delivered"),
                    Err(e) => tracing::warn!(
                        event_id = %notice.event_id,
                        "notify: gave up on the notification: {e}"
                    ),
                }
                if let Err(e) = self.store.notice_done(&notice.event_id).await {
                    tracing::error!("notify: cannot clear the outbox: {e}");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        }
    }

    async fn text(&mut self, notice: &PendingNotice) -> String {
        let key = self.key_label(&notice.key_id).await;
        let detail = self
            .store
            .event_detail(&notice.event_id)
            .await
            .ok()
            .flatten();
        // What the request sent, to name its items (runs unless it says otherwise).
        let item = match detail.as_ref().map(|d| d.event.request_type.as_str()) {
            Some(kind) if RequestType::parse(kind) == Some(RequestType::Incident) => "incident",
            _ => "run",
        };
        if notice.status == EventStatus::Rejected {
            let answer: Value = serde_json::from_str(&notice.response).unwrap_or(Value::Null);
            return rejected_text(&notice.event_id, &key, &notice.error, &answer, item);
        }
        failed_text(&notice.event_id, &key, &notice.error, detail.as_ref())
    }

    /// `name (id)`, never the key itself (the store does not have it anyway).
    async fn key_label(&mut self, key_id: &str) -> String {
        if !self.names.contains_key(key_id)
            && let Ok(keys) = self.store.list_keys().await
        {
            self.names = keys.into_iter().map(|k| (k.id, k.name)).collect();
        }
        match self.names.get(key_id) {
            Some(name) => format!("{} ({key_id})", quote(name)),
            None => key_id.to_owned(),
        }
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

/// `item`: what the request's `errors` index (`run`, `incident`).
fn rejected_text(event_id: &str, key: &str, error: &str, answer: &Value, item: &str) -> String {
    let kind = answer["exception_type"].as_str().unwrap_or("rejected");
    let mut text = format!(
        "mwctl: request {event_id} was rejected ({})\n• key: {key}\n• error: {}",
        quote(kind),
        quote(error)
    );
    if let Some(errors) = answer["errors"].as_array() {
        for e in errors.iter().take(3) {
            text.push_str(&format!(
                "\n    {item} {}: {}: {}",
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
    let incidents = detail.is_some_and(|d| d.event.request_type == RequestType::Incident.as_str());
    let (count, items) = match detail {
        Some(d) if incidents => (d.event.incidents_received, "incidents"),
        Some(d) => (d.event.runs_received, "runs"),
        None => (0, "runs"),
    };
    let item = items.trim_end_matches('s');
    format!(
        "mwctl: accepted request {event_id} failed in processing; none of its {count} {item}(s) were stored\n\
         • key: {key}\n• error: {}\n\
         • resolution: fix the cause (e.g. link the repository again with `mwctl repos link URL`), then send the {items} again; the request is kept\n\
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

/// The hook that wakes the sender after a write that can add to the outbox: ingest calls it
/// after storing a rejected event, the worker after marking one failed. Does nothing when
/// notifications are off.
#[derive(Clone, Default)]
pub struct Notifier(Option<Arc<Notify>>);

impl Notifier {
    /// Starts the background sender on the outbox of `store` (opened notifying); messages go
    /// to `url`.
    /// Claims are owned by `owner` and last `lease` (see [`crate::app::Config::lease`]) per
    /// attempt budget.
    pub fn start(
        url: &str,
        store: Arc<dyn Store>,
        owner: Arc<str>,
        lease: Duration,
    ) -> anyhow::Result<Notifier> {
        start_sender(url, store, owner, lease).map(|wake| Notifier(Some(wake)))
    }

    /// An event was stored rejected or marked failed.
    pub fn outbox_written(&self) {
        if let Some(wake) = &self.0 {
            wake.notify_one();
        }
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
        let text = rejected_text(
            "evt_1",
            "ci (key_1)",
            "1 of 1 runs are invalid",
            &answer,
            "run",
        );
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
        let text = rejected_text("evt_2", "pager (key_2)", "invalid", &answer, "incident");
        assert!(
            text.contains("incident 0: status: \"&lt;b&gt;\" is not a status"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_incident_event_counts_its_incidents() {
        let detail: EventDetail = serde_json::from_value(json!({
            "id": "evt_3", "key_id": "key_2", "request_type": "incident", "webhook_id": null,
            "received_at": "2025-01-10T10:00:00Z", "status": "FAILURE", "error": "unlinked",
            "attempts": 1, "processed_at": null, "runs_received": 0, "runs_created": 0,
            "runs_updated": 0, "runs_unchanged": 0, "incidents_received": 2,
            "body": null, "response": {}, "runs": [],
        }))
        .expect("an event detail");
        let text = failed_text("evt_3", "pager (key_2)", "unlinked", Some(&detail));
        assert!(
            text.contains("none of its 2 incident(s) were stored"),
            "{text}"
        );
        assert!(text.contains("send the incidents again"), "{text}");
    }
}
