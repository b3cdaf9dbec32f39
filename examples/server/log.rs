//! Logging through `tracing`, to stderr, as text or JSON lines (`--log-format`): one line per
//! request (request id, method, path, status, event id, key id, latency, outcome), and the
//! worker's and notifier's lines. Handlers attach a [`LogNote`]; API keys, signatures and
//! bodies are never logged (the path only: a query string is the client's to keep).

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// The response header that carries the request id (also in the request's log line).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the subscriber: `info` and up, unless `RUST_LOG` says otherwise.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never in a file or a collector.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // Fails only when a subscriber is already installed (tests): keep that one.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// What a handler wants said about its request, carried in the response's extensions.
#[derive(Clone, Debug, Default)]
pub struct LogNote {
    /// The stored event (ingest).
    pub event_id: Option<String>,
    /// The key's id (never the key).
    pub key_id: Option<String>,
    /// What happened, e.g. `accepted runs=3` or the error.
    pub outcome: String,
}

impl LogNote {
    pub fn new(outcome: impl Into<String>) -> LogNote {
        LogNote {
            outcome: outcome.into(),
            ..LogNote::default()
        }
    }

    pub fn event(mut self, event_id: Option<&str>) -> LogNote {
        self.event_id = event_id.map(str::to_owned);
        self
    }

    pub fn key(mut self, key_id: &str) -> LogNote {
        self.key_id = Some(key_id.to_owned());
        self
    }
}

pub async fn log_requests(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = crate::ids::request_id();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Lines logged while the request is handled carry its id.
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span).await;
    let note = response
        .extensions_mut()
        .remove::<LogNote>()
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let latency_ms = (start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        event_id = %note.event_id.as_deref().unwrap_or("-"),
        key_id = %note.key_id.as_deref().unwrap_or("-"),
        latency_ms,
        "{}",
        note.outcome
    );
    response
}
