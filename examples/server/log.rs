//! One stderr line per request outcome. Handlers attach a [`LogNote`] (outcome, event id, key
//! id); API keys and bodies are never logged.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{SecondsFormat, Utc};

/// What a handler wants said about its request, carried in the response's extensions.
#[derive(Clone, Debug)]
pub struct LogNote(pub String);

/// Writes one line to stderr, timestamped.
pub fn line(message: &str) {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    eprintln!("{now} {message}");
}

pub async fn log_requests(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    // The path only: a query string is the client's to keep.
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let note = response
        .extensions_mut()
        .remove::<LogNote>()
        .map(|LogNote(note)| note)
        .unwrap_or_default();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    line(&format!(
        "{method} {path} {} {ms:.1}ms {note}",
        response.status().as_u16()
    ));
    response
}
