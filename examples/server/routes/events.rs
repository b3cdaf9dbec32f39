//! `/api/events`: the stored requests, their detail, and pruning what one wrote.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use mwctl::protocol::admin::{EventDetail, EventPage, EventStatus, PruneReport};
use serde::Deserialize;

use super::{cursor, parse_flag, parse_limit};
use crate::app::AppState;
use crate::auth::AppError;
use crate::extract::{ApiPath, ApiQuery};
use crate::ops::{self, Pruned};
use crate::store::{EventQuery, now};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list))
        .route("/events/{id}", get(show))
        .route("/events/{id}/prune", post(prune))
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    limit: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// An event id: only older events. The same as `cursor` (events sort by id).
    before: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<EventPage>, AppError> {
    let status = match params.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<EventStatus>().map_err(|message| {
            AppError::bad_request(
                message,
                "filter by one of: waiting, running, success, failure, rejected, pruned",
            )
        })?),
    };
    let given = |raw: Option<String>| raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let before = match (given(params.cursor), given(params.before)) {
        (Some(cursor), Some(before)) if cursor != before => {
            return Err(AppError::bad_request(
                "cursor and before disagree",
                "give one of them: cursor (the `next` of the previous page) or before (an event id)",
            ));
        }
        (Some(raw), _) | (None, Some(raw)) => Some(cursor::parse_event(&raw)?),
        (None, None) => None,
    };
    let max = state.config.page_max(MAX_LIMIT);
    let query = EventQuery {
        status,
        limit: parse_limit(params.limit.as_deref(), DEFAULT_LIMIT.min(max), max)?,
        before,
    };
    let listed = state.store.list_events(&query).await?;
    let next = listed
        .more
        .then(|| listed.items.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(EventPage {
        events: listed.items,
        total: listed.total,
        next,
    }))
}

fn no_event(id: &str) -> AppError {
    AppError::not_found(
        format!("no event with id {id}"),
        "list the events and their ids with `mwctl events list`",
    )
}

async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventDetail>, AppError> {
    state
        .store
        .event_detail(&id)
        .await?
        .map(Json)
        .ok_or_else(|| no_event(&id))
}

#[derive(Deserialize)]
struct PruneParams {
    dry_run: Option<String>,
}

async fn prune(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PruneParams>,
) -> Result<Json<PruneReport>, AppError> {
    let dry_run = parse_flag("dry_run", params.dry_run.as_deref())?;
    match ops::prune_event(state.store.as_ref(), &id, dry_run, now()).await? {
        Pruned::Done(report) => Ok(Json(report)),
        Pruned::NotFound => Err(no_event(&id)),
        Pruned::NotProcessed(status) => Err(AppError::conflict(
            format!("event {id} is {status}: it has not been processed yet"),
            format!("wait until it is processed (`mwctl events show {id}`), then prune it"),
        )),
    }
}
