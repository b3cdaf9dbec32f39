//! `POST /public/webhook/workflow` (and `/public/webhook/deployments`) for runs,
//! `POST /public/webhook/incidents` (and `/public/webhook/incident`) for incidents: one envelope
//! (key and scope, size, gzip, media type, webhook-id, signature, duplicates, event storage),
//! then the type's own validation. Every outcome is an HTTP 200 with the protocol's [`Answer`].
//! A request with a valid key is stored as an event, accepted or rejected, before it is
//! answered; the worker processes accepted ones later.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mwctl::protocol::admin::{EventStatus, Repo, Scope};
use mwctl::protocol::incident::{INCIDENTS_PATH, INCIDENTS_PATH_ALIAS, Incident};
use mwctl::protocol::signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignatureError, TOLERANCE_SECS, verify,
};
use mwctl::protocol::{
    Answer, ExceptionType, FieldError, INGEST_PATH, INGEST_PATH_ALIAS, Rejection, Run, parse_batch,
    parse_incident_batch,
};

use crate::app::AppState;
use crate::auth;
use crate::body::{BodyError, gunzip, is_json, read_limited};
use crate::ids;
use crate::log::LogNote;
use crate::rules::{resolve_incidents, resolve_runs, unknown_repo_of};
use crate::store::{
    Inserted, KeyRecord, NewEvent, RequestType, Store, StoreError, StoreResult, Twin, now,
};

/// Longest accepted `webhook-id`, in bytes.
const MAX_WEBHOOK_ID: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(INGEST_PATH, post(ingest_runs))
        .route(INGEST_PATH_ALIAS, post(ingest_runs))
        .route(INCIDENTS_PATH, post(ingest_incidents))
        .route(INCIDENTS_PATH_ALIAS, post(ingest_incidents))
        // Our own limit applies (--max-body), before and after decompression.
        .layer(DefaultBodyLimit::disable())
}

/// What each request type needs of the envelope: its scope, its items' name, its validation.
trait Kind {
    fn scope(self) -> Scope;
    /// The items' name in the plural (`runs`, `incidents`), for messages.
    fn items(self) -> &'static str;
}

impl Kind for RequestType {
    fn scope(self) -> Scope {
        match self {
            RequestType::Workflow => Scope::Deployments,
            RequestType::Incident => Scope::Incidents,
        }
    }

    fn items(self) -> &'static str {
        match self {
            RequestType::Workflow => "runs",
            RequestType::Incident => "incidents",
        }
    }
}

/// A validated body, by type.
enum Batch {
    Runs(Vec<Run>),
    Incidents(Vec<Incident>),
}

impl Batch {
    fn parse(kind: RequestType, body: &[u8], now: DateTime<Utc>) -> Result<Batch, Rejection> {
        match kind {
            RequestType::Workflow => parse_batch(body, now).map(Batch::Runs),
            RequestType::Incident => parse_incident_batch(body, now).map(Batch::Incidents),
        }
    }

    fn len(&self) -> usize {
        match self {
            Batch::Runs(runs) => runs.len(),
            Batch::Incidents(incidents) => incidents.len(),
        }
    }

    fn resolve(&self, repos: &[Repo]) -> Result<(), Vec<FieldError>> {
        match self {
            Batch::Runs(runs) => resolve_runs(runs, repos).map(drop),
            Batch::Incidents(incidents) => resolve_incidents(incidents, repos).map(drop),
        }
    }

    fn accepted(&self, event_id: String) -> Answer {
        match self {
            Batch::Runs(runs) => Answer::accepted(event_id, runs.len()),
            Batch::Incidents(incidents) => Answer::accepted_incidents(event_id, incidents.len()),
        }
    }
}

async fn ingest_runs(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    ingest(state, RequestType::Workflow, headers, body).await
}

async fn ingest_incidents(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    ingest(state, RequestType::Incident, headers, body).await
}

async fn ingest(
    State(state): State<AppState>,
    kind: RequestType,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = handle(&state, kind, headers, body, now()).await;
    if outcome.queued {
        state.wake.notify_one();
    }
    if outcome.outbox {
        state.notifier.outbox_written();
    }
    let mut response = Json(&outcome.answer).into_response();
    if outcome.body_unread {
        // The client may still be sending: this connection serves no further request.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response.extensions_mut().insert(outcome.note);
    response
}

/// The answer, what the log says about it, whether the worker has something new, whether
/// a rejection was stored (for the notification outbox), and whether it was decided from the
/// headers alone, the body left unread.
struct Outcome {
    answer: Answer,
    note: LogNote,
    queued: bool,
    outbox: bool,
    body_unread: bool,
}

impl Outcome {
    /// A rejection that is not stored (no valid key, or the store failed).
    fn unstored(rejection: Rejection, note: LogNote) -> Outcome {
        Outcome {
            answer: Answer::rejected(None, rejection),
            note,
            queued: false,
            outbox: false,
            body_unread: false,
        }
    }

    fn server_error(e: &StoreError) -> Outcome {
        Outcome::unstored(
            Rejection::new(
                ExceptionType::ServerError,
                "the server could not store the request",
                "retry later with the same webhook-id (mwctl does this); nothing was stored",
            ),
            LogNote::new(format!("rejected ServerError: {e}")),
        )
    }

    /// Answered without reading the body.
    fn body_unread(mut self) -> Outcome {
        self.body_unread = true;
        self
    }
}

async fn handle(
    state: &AppState,
    kind: RequestType,
    headers: HeaderMap,
    body: Body,
    received_at: DateTime<Utc>,
) -> Outcome {
    // The key and its scope first, from the headers alone: a request that cannot be stored as
    // runs is answered at once, its body never read (a client without a usable key cannot
    // hold a connection by sending its body slowly).
    let key = match auth::authenticate(state, &headers).await {
        Ok(Ok(key)) => key,
        Ok(Err(failure)) => {
            return Outcome::unstored(
                failure.rejection(),
                LogNote::new(format!("rejected Unauthorized: {}", failure.message())),
            )
            .body_unread();
        }
        Err(e) => return Outcome::server_error(&e).body_unread(),
    };
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };
    let scope = kind.scope();
    if !key.has_scope(scope) {
        let rejection = Rejection::new(
            ExceptionType::Forbidden,
            format!("key {} lacks the {scope} scope", key.key.id),
            format!(
                "send {} with a key that has the {scope} scope (`mwctl keys create --name NAME --scope {scope}`)",
                kind.items()
            ),
        );
        let webhook_id = text(HEADER_ID).filter(|id| valid_webhook_id(id));
        let sender = Sender {
            key_id: &key.key.id,
            kind,
            webhook_id: webhook_id.as_deref(),
            received_at,
        };
        let event_id = ids::event_id();
        return store_rejection(state.store.as_ref(), &sender, &event_id, rejection, None, 0)
            .await
            .body_unread();
    }
    let content_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let max_body = state.config.max_body;
    let raw = match read_limited(body, max_body, content_length).await {
        Ok(raw) => Some(raw),
        Err(BodyError::TooLarge) => None,
        Err(BodyError::Broken(e)) => {
            return Outcome::unstored(
                Rejection::new(
                    ExceptionType::InvalidPayload,
                    format!("the body could not be read: {e}"),
                    "send the request again, its body at once (this server closes connections whose body pauses or arrives too slowly)",
                ),
                LogNote::new(format!("rejected InvalidPayload: body not read: {e}"))
                    .key(&key.key.id),
            );
        }
    };
    let mut req = Incoming {
        key,
        kind,
        raw,
        content_type: text(CONTENT_TYPE.as_str()),
        content_encoding: text(CONTENT_ENCODING.as_str()),
        webhook_id: text(HEADER_ID),
        webhook_timestamp: text(HEADER_TIMESTAMP),
        webhook_signature: text(HEADER_SIGNATURE),
        received_at,
        max_body,
        require_signature: state.config.require_signature,
    };
    // Decompression, signature and validation are CPU work: off the async threads. The two
    // reads that later checks need run meanwhile (their results are used in the protocol's
    // order; a twin stored since is caught by insert_event, a repo unlinked since by the worker).
    let store = state.store.as_ref();
    let key_id = req.key.key.id.clone();
    let webhook_id = req.webhook_id.clone();
    let duplicate = async {
        match &webhook_id {
            Some(webhook_id) => store.find_duplicate(&key_id, webhook_id).await,
            None => Ok(None),
        }
    };
    let checked = tokio::task::spawn_blocking(move || {
        let checked = check(&mut req);
        (req, checked)
    });
    let (checked, duplicate, repos) = tokio::join!(checked, duplicate, store.list_repos());
    match checked {
        Ok((req, checked)) => process(store, req, checked, duplicate, repos).await,
        Err(e) => Outcome::server_error(&StoreError::Other(format!("ingest task failed: {e}"))),
    }
}

/// Who sent a request, as a stored event records it.
struct Sender<'a> {
    key_id: &'a str,
    kind: RequestType,
    /// Only a valid one.
    webhook_id: Option<&'a str>,
    received_at: DateTime<Utc>,
}

impl Incoming {
    fn sender(&self) -> Sender<'_> {
        Sender {
            key_id: &self.key.key.id,
            kind: self.kind,
            webhook_id: self.webhook_id.as_deref(),
            received_at: self.received_at,
        }
    }
}

fn valid_webhook_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_WEBHOOK_ID
}

/// A request with a valid key, its body read (`None`: over the limit).
struct Incoming {
    key: KeyRecord,
    /// Which endpoint it came to.
    kind: RequestType,
    raw: Option<Vec<u8>>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    webhook_id: Option<String>,
    webhook_timestamp: Option<String>,
    webhook_signature: Option<String>,
    received_at: DateTime<Utc>,
    max_body: usize,
    require_signature: bool,
}

/// What the synchronous checks found.
enum Checked {
    /// Refused by a check before the duplicate check; the body to keep with the event.
    Refused(Rejection, Option<Vec<u8>>),
    /// The decoded body and its items (or why they are invalid, answered after the duplicate
    /// and scope checks).
    Body(Vec<u8>, Result<Batch, Rejection>),
}

/// The checks after authentication that need no database, in the protocol's order: size,
/// encoding, media type, webhook-id, signature; then the items are parsed and validated.
fn check(req: &mut Incoming) -> Checked {
    // 2. Size, encoding, media type.
    let Some(raw) = req.raw.take() else {
        return Checked::Refused(too_large(req.max_body, req.kind), None);
    };
    let (body, compressed) = match req.content_encoding.as_deref().map(str::to_ascii_lowercase) {
        None => (raw, None),
        Some(e) if e.is_empty() || e == "identity" => (raw, None),
        Some(e) if e == "gzip" || e == "x-gzip" => match gunzip(&raw, req.max_body) {
            Ok(body) => (body, Some(raw)),
            Err(BodyError::TooLarge) => {
                return Checked::Refused(too_large(req.max_body, req.kind), None);
            }
            Err(BodyError::Broken(message)) => {
                let rejection = Rejection::new(
                    ExceptionType::InvalidPayload,
                    message,
                    "send gzip data with Content-Encoding: gzip, or the JSON uncompressed",
                );
                return Checked::Refused(rejection, Some(raw));
            }
        },
        Some(other) => {
            let rejection = Rejection::new(
                ExceptionType::UnsupportedMediaType,
                format!("Content-Encoding {other:?} is not supported"),
                "send the JSON uncompressed or with Content-Encoding: gzip",
            );
            return Checked::Refused(rejection, Some(raw));
        }
    };
    if let Some(content_type) = req.content_type.as_deref().filter(|ct| !is_json(ct)) {
        let rejection = Rejection::new(
            ExceptionType::UnsupportedMediaType,
            format!("Content-Type {content_type:?} is not JSON"),
            "send the body as JSON with Content-Type: application/json",
        );
        return Checked::Refused(rejection, Some(body));
    }

    // 3. webhook-id and signature.
    if let Some(id) = &req.webhook_id
        && !valid_webhook_id(id)
    {
        req.webhook_id = None;
        let rejection = Rejection::new(
            ExceptionType::InvalidPayload,
            format!("webhook-id must be 1 to {MAX_WEBHOOK_ID} bytes long"),
            "send a short unique id per batch in webhook-id (mwctl does this)",
        );
        return Checked::Refused(rejection, Some(body));
    }
    if let Some(rejection) = check_signature(req, &body, compressed.as_deref()) {
        return Checked::Refused(rejection, Some(body));
    }
    let batch = Batch::parse(req.kind, &body, req.received_at);
    Checked::Body(body, batch)
}

/// The checks that need the database (with what was read for them), then storing: every
/// outcome with a valid key is stored as an event before it is answered.
async fn process(
    store: &dyn Store,
    req: Incoming,
    checked: Checked,
    duplicate: StoreResult<Option<Twin>>,
    repos: StoreResult<Vec<Repo>>,
) -> Outcome {
    let event_id = ids::event_id();
    let (body, runs) = match checked {
        Checked::Refused(rejection, body) => {
            return store_rejection(store, &req.sender(), &event_id, rejection, body, 0).await;
        }
        Checked::Body(body, runs) => (body, runs),
    };

    // 4. A repeated webhook-id with the same body gets the first answer, and nothing is
    // stored; with another body it is refused (a client reusing ids would lose runs silently).
    if let Some(webhook_id) = &req.webhook_id {
        match duplicate {
            Ok(Some(twin)) if twin.body.as_deref() == Some(body.as_slice()) => {
                return answer_duplicate(&req, &twin.response);
            }
            Ok(Some(twin)) => {
                let first = serde_json::from_str::<Answer>(&twin.response)
                    .ok()
                    .and_then(|a| a.event_id().map(str::to_owned))
                    .unwrap_or_default();
                let rejection = Rejection::new(
                    ExceptionType::WebhookIdReused,
                    format!(
                        "webhook-id {webhook_id:?} was already used by this key for a different body (event {first})"
                    ),
                    "send each batch with its own webhook-id (mwctl derives it from the batch's content); re-send a batch only unchanged",
                );
                return store_rejection(store, &req.sender(), &event_id, rejection, Some(body), 0)
                    .await;
            }
            Ok(None) => {}
            Err(e) => return Outcome::server_error(&e),
        }
    }

    // 5. The items. (The key's scope was checked first, from the headers.)
    let batch = match runs {
        Ok(batch) => batch,
        Err(rejection) => {
            return store_rejection(store, &req.sender(), &event_id, rejection, Some(body), 0)
                .await;
        }
    };

    // 6. Their repositories.
    let repos = match repos {
        Ok(repos) => repos,
        Err(e) => return Outcome::server_error(&e),
    };
    if let Err(errors) = batch.resolve(&repos) {
        let rejection = unknown_repo_of(req.kind.items(), errors, batch.len());
        return store_rejection(
            store,
            &req.sender(),
            &event_id,
            rejection,
            Some(body),
            batch.len(),
        )
        .await;
    }

    // 7. Store, then answer.
    let answer = batch.accepted(event_id.clone());
    let event = NewEvent {
        id: event_id.clone(),
        key_id: req.key.key.id.clone(),
        request_type: req.kind,
        webhook_id: req.webhook_id.clone(),
        received_at: req.received_at,
        body: Some(body),
        response: to_json(&answer),
        status: EventStatus::Waiting,
        error: None,
        received: batch.len() as u64,
    };
    match store.insert_event(event).await {
        Ok(Inserted::New) => Outcome {
            answer,
            note: LogNote::new(format!("accepted {}={}", req.kind.items(), batch.len()))
                .event(Some(&event_id))
                .key(&req.key.key.id),
            queued: true,
            outbox: false,
            body_unread: false,
        },
        // A concurrent twin with the same webhook-id was stored first.
        Ok(Inserted::Duplicate(response)) => answer_duplicate(&req, &response),
        Err(e) => Outcome::server_error(&e),
    }
}

fn check_signature(req: &Incoming, body: &[u8], compressed: Option<&[u8]>) -> Option<Rejection> {
    let resolution = format!(
        "sign with the key sent in X-API-KEY (Standard Webhooks v1, secret = SHA-256 of the key), over the JSON body, with a fresh webhook-timestamp within {TOLERANCE_SECS} s of the server's clock; mwctl does this"
    );
    let Some(signature) = &req.webhook_signature else {
        return req.require_signature.then(|| {
            Rejection::new(
                ExceptionType::InvalidSignature,
                "missing webhook-signature: this server accepts only signed requests",
                resolution.clone(),
            )
        });
    };
    let Some(secret) = ids::hex_decode(&req.key.key_hash) else {
        return Some(Rejection::new(
            ExceptionType::ServerError,
            "the stored key cannot verify signatures",
            "create a new key with `mwctl keys create`",
        ));
    };
    let id = req.webhook_id.as_deref().unwrap_or_default();
    let timestamp = req.webhook_timestamp.as_deref().unwrap_or_default();
    let now = req.received_at.timestamp();
    let mut result = verify(&secret, id, timestamp, signature, body, now);
    // Signers differ on gzip: accept a signature over the bytes as sent, too.
    if let (Err(SignatureError::Mismatch), Some(sent)) = (&result, compressed) {
        result = verify(&secret, id, timestamp, signature, sent, now);
    }
    result.err().map(|e| {
        Rejection::new(
            ExceptionType::InvalidSignature,
            format!("invalid signature: {e}"),
            resolution,
        )
    })
}

fn too_large(limit: usize, kind: RequestType) -> Rejection {
    Rejection::new(
        ExceptionType::PayloadTooLarge,
        format!("the body is over this server's limit of {limit} bytes"),
        format!(
            "send fewer {} per request (mwctl send splits batches), or start the server with a larger --max-body",
            kind.items()
        ),
    )
}

fn answer_duplicate(req: &Incoming, response: &str) -> Outcome {
    match serde_json::from_str::<Answer>(response) {
        Ok(first) => Outcome {
            note: LogNote::new("duplicate")
                .event(first.event_id())
                .key(&req.key.key.id),
            answer: first.into_duplicate(),
            queued: false,
            outbox: false,
            body_unread: false,
        },
        Err(e) => {
            Outcome::server_error(&StoreError::Other(format!("stored answer unreadable: {e}")))
        }
    }
}

/// Stores a rejected request (the data dump) and answers with its event id.
async fn store_rejection(
    store: &dyn Store,
    sender: &Sender<'_>,
    event_id: &str,
    rejection: Rejection,
    body: Option<Vec<u8>>,
    received: usize,
) -> Outcome {
    let kind = rejection.exception_type;
    let answer = Answer::rejected(Some(event_id.to_owned()), rejection.clone());
    let event = NewEvent {
        id: event_id.to_owned(),
        key_id: sender.key_id.to_owned(),
        request_type: sender.kind,
        webhook_id: sender.webhook_id.map(str::to_owned),
        received_at: sender.received_at,
        body,
        response: to_json(&answer),
        status: EventStatus::Rejected,
        error: Some(rejection.error.clone()),
        received: received as u64,
    };
    let key_id = sender.key_id;
    match store.insert_event(event).await {
        Ok(inserted) => Outcome {
            note: LogNote::new(format!("rejected {kind}: {}", rejection.error))
                .event(Some(event_id))
                .key(key_id),
            answer,
            queued: false,
            outbox: matches!(inserted, Inserted::New),
            body_unread: false,
        },
        // The client still learns what is wrong with its request; only the record is lost.
        Err(e) => Outcome::unstored(
            rejection,
            LogNote::new(format!("rejected {kind} (not stored: {e})")).key(key_id),
        ),
    }
}

fn to_json(answer: &Answer) -> String {
    serde_json::to_string(answer).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests;
