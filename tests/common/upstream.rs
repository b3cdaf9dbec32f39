//! A test double of upstream Middleware's webhook (branch `deployments-webhook`, commit
//! 54b6a9b): what mwctl must work with unchanged. It answers as upstream does and stores runs
//! as upstream's worker does, so that tests can assert what mwctl put on the wire and what
//! upstream would have made of it:
//!
//! - `POST /public/webhook/workflow` with `X-API-KEY`: `{"message","job_id"}` (a number) when
//!   it takes the request; `{"error","exception_type","resolution"}` with HTTP 200 when it
//!   refuses (wrong key; a run missing a required field, `repo_urls` included; a
//!   `workflow_run_conducted_at` that Python 3.9's `datetime.fromisoformat` does not read,
//!   such as `...Z`);
//! - HTTP 400 with an HTML page to `Content-Encoding: gzip` (Flask cannot read the body), and
//!   to a body that is not JSON;
//! - HTTP 404 with an HTML page everywhere else: no `/healthz`, no `/api/*`;
//! - its worker, after the answer, matches every `repo_urls` entry **by exact string** against
//!   the linked repositories and fails the whole event when one is unknown; refuses statuses
//!   other than `SUCCESS`, `FAILURE`, `PENDING`, `CANCELLED`; treats a numeric
//!   `workflow_run_unique_id` as a new run (and fails the event when the run exists, so a
//!   later final status never lands); stores `duration: 0` as NULL; and infers a missing
//!   duration of a final run over a PENDING one in milliseconds.
//!
//! The worker runs before the handler returns (the answer does not depend on it), which keeps
//! tests deterministic; as upstream, the answer is "accepted" whatever the worker finds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::{Value, json};

/// Flask's 404 page.
const NOT_FOUND: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";
/// Flask's 400 page (what `request.get_json()` gives a body it cannot decode).
const BAD_REQUEST: &str = "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>Failed to decode JSON object: 'utf-8' codec can't decode byte 0x8b in position 1: invalid start byte</p>\n";

/// One HTTP request to the webhook, as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub content_encoding: Option<String>,
    pub body: Vec<u8>,
    pub status: u16,
    pub answer: String,
}

/// A request upstream took (a row of its `WebhookEvent` table), and what its worker made of it.
#[derive(Clone, Debug)]
pub struct UpstreamEvent {
    pub job_id: u64,
    pub body: Value,
    /// `None`: processed; `Some`: the worker failed the whole event with this error.
    pub error: Option<String>,
}

/// A stored run (`RepoWorkflowRuns`), keyed by the exact repository URL, the workflow name
/// and the id as upstream keeps it (a string).
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamRun {
    pub status: String,
    /// Upstream stores what it is given in seconds, and infers it in milliseconds.
    pub duration: Option<i64>,
    pub conducted_at: String,
    pub event_actor: String,
    pub head_branch: String,
    pub html_url: Option<String>,
}

#[derive(Default)]
struct Db {
    key: String,
    linked: Vec<String>,
    received: Vec<Received>,
    events: Vec<UpstreamEvent>,
    runs: BTreeMap<(String, String, String), UpstreamRun>,
    next_job: u64,
}

/// The double, serving on a free loopback port until dropped.
pub struct Upstream {
    pub url: String,
    pub key: String,
    db: Arc<Mutex<Db>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    /// Starts with one API key and the repositories linked, as upstream stores their URLs.
    pub fn start(linked: &[&str]) -> Upstream {
        let key = "upstream-webhook-key-0123456789".to_owned();
        let db = Arc::new(Mutex::new(Db {
            key: key.clone(),
            linked: linked.iter().map(|s| (*s).to_owned()).collect(),
            next_job: 1,
            ..Db::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/public/webhook/{event_type}", post(webhook))
            .fallback(|| async { (StatusCode::NOT_FOUND, Html(NOT_FOUND)) })
            .with_state(Arc::clone(&db));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serves");
            });
        });
        Upstream {
            url,
            key,
            db,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request to the webhook, in order.
    pub fn received(&self) -> Vec<Received> {
        self.db().received.clone()
    }

    /// Every request taken, with what the worker made of it.
    pub fn events(&self) -> Vec<UpstreamEvent> {
        self.db().events.clone()
    }

    /// Stored runs by (repository URL, workflow, id).
    pub fn runs(&self) -> BTreeMap<(String, String, String), UpstreamRun> {
        self.db().runs.clone()
    }

    /// Every run of every request taken, as sent.
    pub fn sent_runs(&self) -> Vec<Value> {
        self.events()
            .iter()
            .flat_map(|e| {
                e.body["workflow_runs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Events the worker failed, with why.
    pub fn failures(&self) -> Vec<String> {
        self.events().into_iter().filter_map(|e| e.error).collect()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn webhook(
    State(db): State<Arc<Mutex<Db>>>,
    Path(event_type): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, answer) = answer(&mut db, &event_type, &headers, &body, &content_encoding);
    db.received.push(Received {
        path: format!("/public/webhook/{event_type}"),
        content_encoding,
        body: body.to_vec(),
        status: status.as_u16(),
        answer: answer.clone(),
    });
    let content_type = if answer.starts_with('{') {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], answer).into_response()
}

fn refused(exception_type: &str, error: &str, resolution: &str) -> (StatusCode, String) {
    (
        StatusCode::OK,
        json!({"error": error, "exception_type": exception_type, "resolution": resolution})
            .to_string(),
    )
}

const PAYLOAD_RESOLUTION: &str = "Please ensure your payload follows the correct format. You can review the expected structure under Manage Integrations → Webhook → Setup.";

/// What upstream's route answers (and, when it takes the request, what its worker stores).
fn answer(
    db: &mut Db,
    event_type: &str,
    headers: &HeaderMap,
    body: &[u8],
    content_encoding: &Option<String>,
) -> (StatusCode, String) {
    if event_type != "workflow" && event_type != "incident" {
        return refused(
            "InvalidEventTypeError",
            &format!("Invalid webhook event type received: '{event_type}'"),
            "Ensure the URL path ends with either `/workflow` or `/incident`",
        );
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(db.key.as_str()) {
        return refused(
            "InvalidApiKeyError",
            "Invalid or missing API key",
            "Ensure you are passing the correct API key in the `X-API-KEY` header. To generate a new key, navigate to Manage Integrations → Webhook → Setup.",
        );
    }
    // Flask reads the body as it came: a gzip body is not JSON to it.
    if content_encoding.is_some() {
        return (StatusCode::BAD_REQUEST, BAD_REQUEST.to_owned());
    }
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, BAD_REQUEST.to_owned());
    };
    let Some(runs) = payload.get("workflow_runs").and_then(Value::as_array) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<!doctype html><title>500 Internal Server Error</title>".to_owned(),
        );
    };
    // validate_payload -> _adapt_payload: required fields present, the time readable.
    for run in runs {
        for field in [
            "workflow_name",
            "repo_urls",
            "event_actor",
            "head_branch",
            "workflow_run_unique_id",
            "status",
            "workflow_run_conducted_at",
        ] {
            if run.get(field).is_none_or(Value::is_null) {
                return refused(
                    "InvalidPayloadError",
                    &format!("Workflow run missing required field: '{field}'"),
                    PAYLOAD_RESOLUTION,
                );
            }
        }
        if py39_fromisoformat(&run["workflow_run_conducted_at"]).is_none() {
            return refused(
                "InvalidPayloadError",
                "Invalid datetime format for workflow_run_conducted_at",
                PAYLOAD_RESOLUTION,
            );
        }
    }
    let job_id = db.next_job;
    db.next_job += 1;
    let error = process(db, runs).err();
    db.events.push(UpstreamEvent {
        job_id,
        body: payload.clone(),
        error,
    });
    (
        StatusCode::OK,
        json!({"message": "Job enqueued successfully", "job_id": job_id}).to_string(),
    )
}

/// The worker (`process_webhook_event`): all the event's runs, or none.
fn process(db: &mut Db, runs: &[Value]) -> Result<(), String> {
    let mut stored = db.runs.clone();
    for run in runs {
        let urls = run["repo_urls"].as_array().cloned().unwrap_or_default();
        for url in &urls {
            let url = url.as_str().unwrap_or_default();
            if !db.linked.iter().any(|linked| linked == url) {
                return Err(format!("Repo url '{url}' doesn't exist in the system."));
            }
        }
        let status = run["status"].as_str().unwrap_or_default().to_owned();
        if !["SUCCESS", "FAILURE", "PENDING", "CANCELLED"].contains(&status.as_str()) {
            return Err(format!(
                "(psycopg2.errors.InvalidTextRepresentation) invalid input value for enum repoworkflowrunsstatus: \"{status}\""
            ));
        }
        let conducted_at = run["workflow_run_conducted_at"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // `int(wf.get("duration")) if wf.get("duration") else None`: 0 is falsy.
        let duration = match &run["duration"] {
            Value::Number(n) => n.as_f64().map(|f| f.trunc() as i64).filter(|d| *d != 0),
            Value::String(s) if !s.is_empty() => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("invalid literal for int() with base 10: '{s}'"))?,
            ),
            _ => None,
        };
        for url in &urls {
            let url = url.as_str().unwrap_or_default().to_owned();
            let workflow = run["workflow_name"].as_str().unwrap_or_default().to_owned();
            let id = &run["workflow_run_unique_id"];
            let id_text = match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let key = (url, workflow, id_text);
            match (id.is_string(), stored.get_mut(&key)) {
                // The id is looked up as given: a number never finds the stored string, the
                // insert then breaks the unique constraint.
                (false, Some(_)) => {
                    return Err(format!(
                        "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint: provider_workflow_run_id={}",
                        key.2
                    ));
                }
                (true, Some(existing)) => update(existing, &status, duration, &conducted_at),
                (_, None) => {
                    stored.insert(
                        key,
                        UpstreamRun {
                            status: status.clone(),
                            duration,
                            conducted_at: conducted_at.clone(),
                            event_actor: run["event_actor"].as_str().unwrap_or_default().into(),
                            head_branch: run["head_branch"].as_str().unwrap_or_default().into(),
                            html_url: run["html_url"].as_str().map(str::to_owned),
                        },
                    );
                }
            }
        }
    }
    db.runs = stored;
    Ok(())
}

/// `_check_and_update_duration`.
fn update(existing: &mut UpstreamRun, status: &str, duration: Option<i64>, conducted_at: &str) {
    let millis_between = |from: &str, to: &str| -> Option<i64> {
        let from = py39_fromisoformat(&Value::from(from))?;
        let to = py39_fromisoformat(&Value::from(to))?;
        Some((to - from).num_milliseconds())
    };
    if existing.status == "PENDING" && status != "PENDING" {
        existing.duration = match duration {
            Some(d) => Some(d),
            None => millis_between(&existing.conducted_at, conducted_at),
        };
        existing.status = status.to_owned();
        existing.conducted_at = conducted_at.to_owned();
    } else if status == "PENDING" && existing.status != "PENDING" && existing.duration.is_none() {
        existing.duration = millis_between(conducted_at, &existing.conducted_at);
    }
}

/// Python 3.9's `datetime.fromisoformat`: `YYYY-MM-DD[*HH[:MM[:SS[.fff[fff]]]][+HH:MM]]`,
/// neither `Z` nor `+HHMM` nor other fractions. Naive times are taken as UTC here.
pub fn py39_fromisoformat(value: &Value) -> Option<DateTime<FixedOffset>> {
    let s = value.as_str()?;
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let (time, offset) = if rest.is_empty() {
        ("00:00:00", "+00:00")
    } else {
        let time = rest.get(1..)?;
        match time.find(['+', '-']) {
            Some(at) => (&time[..at], &time[at..]),
            None => (time, "+00:00"),
        }
    };
    let fraction_ok = match time.split_once('.') {
        None => true,
        Some((_, digits)) => {
            (digits.len() == 3 || digits.len() == 6) && digits.bytes().all(|b| b.is_ascii_digit())
        }
    };
    let offset_ok = offset.len() == 6
        && offset.as_bytes()[3] == b':'
        && offset[1..3].bytes().all(|b| b.is_ascii_digit())
        && offset[4..].bytes().all(|b| b.is_ascii_digit());
    if !fraction_ok || !offset_ok || date.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let naive =
        NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    DateTime::parse_from_rfc3339(&format!("{}{offset}", naive.format("%Y-%m-%dT%H:%M:%S%.f"))).ok()
}
