//! Page cursors of `GET /api/runs`, `GET /api/incidents` and `GET /api/events`: opaque to clients, read back here.
//! A cursor names the last item of a page, so items stored while a client pages never shift
//! the pages that follow.

use chrono::{DateTime, Utc};
use mwctl::protocol::admin::StoredRun;

use crate::store::IncidentRow;

use crate::auth::AppError;

/// The longest cursor read; anything longer was not made here.
const MAX_CURSOR: usize = 100;

/// After `run` in the runs' order (`conducted_at` then `id`, newest first).
pub fn after_run(run: &StoredRun) -> String {
    format!("{}_{}", run.conducted_at.timestamp_millis(), run.id)
}

pub fn parse_run(raw: &str) -> Result<(DateTime<Utc>, i64), AppError> {
    let parsed = raw.split_once('_').and_then(|(ms, id)| {
        let at = DateTime::from_timestamp_millis(ms.parse().ok()?)?;
        Some((at, id.parse().ok()?))
    });
    parsed
        .filter(|_| raw.len() <= MAX_CURSOR)
        .ok_or_else(|| bad_cursor(raw, "run"))
}

/// After `incident` in the incidents' order (`creation_date` then `id`, newest first).
pub fn after_incident(incident: &IncidentRow) -> String {
    format!(
        "{}_{}",
        incident.fields.creation_date.timestamp_millis(),
        incident.id
    )
}

pub fn parse_incident(raw: &str) -> Result<(DateTime<Utc>, i64), AppError> {
    parse_run(raw).map_err(|_| bad_cursor(raw, "incident"))
}

/// Events sort by id (time-ordered), so the last id is the cursor, as `before=` always was.
pub fn parse_event(raw: &str) -> Result<String, AppError> {
    let valid = raw.len() <= MAX_CURSOR
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(bad_cursor(raw, "event"))
    }
}

fn bad_cursor(raw: &str, what: &str) -> AppError {
    let shown: String = raw.chars().take(MAX_CURSOR).collect();
    AppError::bad_request(
        format!("cursor {shown:?} is not a {what} cursor this server gave"),
        format!(
            "pass the `next` of the previous page unchanged, or leave the cursor out to start at the newest {what}"
        ),
    )
}
