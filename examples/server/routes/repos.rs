//! `/api/repos` (linked repositories) and `/api/runs` (the runs stored for them).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use mwctl::protocol::admin::{LinkRepo, Repo, RunPage, UnlinkReport};
use mwctl::protocol::{REPO_FILTER_FORMS, RepoFilter, RepoRef};
use serde::Deserialize;

use super::{cursor, parse_flag, parse_limit};
use crate::app::AppState;
use crate::auth::AppError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::ops;
use crate::store::{RunQuery, now};

const DEFAULT_RUNS: u32 = 100;
const MAX_RUNS: u32 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/repos", get(list).post(link))
        .route("/repos/{id}", delete(unlink))
        .route("/runs", get(runs))
}

async fn link(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LinkRepo>,
) -> Result<(StatusCode, Json<Repo>), AppError> {
    // parse_url drops any credentials in the URL: they are never stored.
    let repo = RepoRef::parse_url(&request.url).map_err(|message| {
        AppError::invalid(
            message,
            "give the repository's URL, e.g. https://github.com/org/name",
        )
    })?;
    let (repo, created) = state.store.link_repo(&repo, now()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(repo)))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Repo>>, AppError> {
    Ok(Json(state.store.list_repos().await?))
}

#[derive(Deserialize)]
struct UnlinkParams {
    delete_runs: Option<String>,
    dry_run: Option<String>,
}

/// Unlinks; keeps the repo's runs unless `delete_runs=true` (see [`ops::unlink_repo`]).
async fn unlink(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<UnlinkParams>,
) -> Result<Json<UnlinkReport>, AppError> {
    let delete_runs = parse_flag("delete_runs", params.delete_runs.as_deref())?;
    let dry_run = parse_flag("dry_run", params.dry_run.as_deref())?;
    let missing = || {
        AppError::not_found(
            format!("no linked repository with id {id}"),
            "list the linked repositories and their ids with `mwctl repos list`",
        )
    };
    let repo_id: i64 = id.trim().parse().map_err(|_| missing())?;
    ops::unlink_repo(state.store.as_ref(), repo_id, delete_runs, dry_run, now())
        .await?
        .map(Json)
        .ok_or_else(missing)
}

#[derive(Deserialize)]
struct RunParams {
    repo: Option<String>,
    workflow: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn runs(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunParams>,
) -> Result<Json<RunPage>, AppError> {
    let repo = match params.repo.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(repo) => Some(RepoFilter::parse(repo).map_err(|message| {
            AppError::bad_request(
                message,
                format!("filter with repo= one of {REPO_FILTER_FORMS}"),
            )
        })?),
    };
    let max = state.config.page_max(MAX_RUNS);
    let query = RunQuery {
        repo,
        workflow: params
            .workflow
            .map(|w| w.trim().to_owned())
            .filter(|w| !w.is_empty()),
        limit: parse_limit(params.limit.as_deref(), DEFAULT_RUNS.min(max), max)?,
        after: match params.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(cursor::parse_run(raw)?),
        },
    };
    let listed = state.store.list_runs(&query).await?;
    let next = listed
        .more
        .then(|| listed.items.last().map(cursor::after_run))
        .flatten();
    Ok(Json(RunPage {
        runs: listed.items,
        total: listed.total,
        next,
    }))
}
