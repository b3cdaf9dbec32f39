//! HTTP routes, one module per area, each exposing `router()`.

pub mod admin_page;
mod cursor;
pub mod events;
pub mod incidents;
pub mod ingest;
pub mod keys;
pub mod repos;

use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::{AppError, require_admin};

/// `/api/*`: every route needs a key with the admin scope.
pub fn api_router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(keys::router())
        .merge(events::router())
        .merge(incidents::router())
        .merge(repos::router())
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

pub fn health_router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Reads `limit`: absent means `default`, above `max` means `max` (the page's `next` carries
/// on, so nothing is cut off unsaid).
pub fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(u32::try_from(n).unwrap_or(max).min(max)),
        _ => Err(AppError::bad_request(
            format!("limit {raw:?} is not a positive whole number"),
            format!(
                "give limit between 1 and {max} (a larger one gives {max}; follow `next` for the rest)"
            ),
        )),
    }
}

/// Reads a boolean query parameter (`true`/`false`, `1`/`0`, `yes`/`no`; absent is false).
pub fn parse_flag(name: &str, raw: Option<&str>) -> Result<bool, AppError> {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(AppError::bad_request(
            format!("{name}={other:?} is not a boolean"),
            format!("use {name}=true or {name}=false"),
        )),
    }
}

#[cfg(test)]
mod tests;
