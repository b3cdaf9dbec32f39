//! `/api/keys`: create, list and revoke API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use mwctl::protocol::admin::{ApiKey, CreateKey, CreatedKey};
use mwctl::protocol::signing::key_digest_hex;

use crate::app::AppState;
use crate::auth::AppError;
use crate::extract::{ApiJson, ApiPath};
use crate::ids;
use crate::ops::{self, Revoked};
use crate::store::now;

/// Longest key name, in characters.
const MAX_NAME_CHARS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list).post(create))
        .route("/keys/{id}", delete(revoke))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), AppError> {
    let at = now();
    let name = request.name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(AppError::invalid(
            format!("the key name is {chars} characters long"),
            format!("give a name of 1 to {MAX_NAME_CHARS} characters, e.g. \"ci-deploys\""),
        ));
    }
    if request.scopes.is_empty() {
        return Err(AppError::invalid(
            "no scopes given",
            "give at least one scope: deployments (ingest), incidents or admin",
        ));
    }
    if let Some(expires_at) = request.expires_at
        && expires_at <= at
    {
        return Err(AppError::invalid(
            format!(
                "expires_at {} is not in the future",
                expires_at.to_rfc3339()
            ),
            "give a future expiry, or none for a key that does not expire",
        ));
    }
    let (meta, key) =
        ids::mint_key(name, request.scopes, request.expires_at, at).map_err(AppError::internal)?;
    state.store.insert_key(&meta, &key_digest_hex(&key)).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { meta, key })))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<ApiKey>>, AppError> {
    Ok(Json(state.store.list_keys().await?))
}

async fn revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiKey>, AppError> {
    match ops::revoke_key(state.store.as_ref(), &id, now()).await? {
        Revoked::Done(key) => Ok(Json(key)),
        Revoked::NotFound => Err(AppError::not_found(
            format!("no API key with id {id}"),
            "list the keys and their ids with `mwctl keys list`",
        )),
        Revoked::LastAdmin => Err(AppError::conflict(
            format!(
                "{id} is the last usable admin key without an expiry; revoking it would lock the admin API (keys that expire do not count)"
            ),
            "create another admin key without --expires first (`mwctl keys create --name NAME --scope admin`), then revoke this one",
        )),
    }
}
