//! API keys on requests (`X-API-KEY`), scopes, and the admin API's error type.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use mwctl::protocol::admin::{ApiError, Scope};
use mwctl::protocol::signing::{HEADER_API_KEY, key_digest_hex};
use mwctl::protocol::{ExceptionType, Rejection};

use crate::app::AppState;
use crate::log::LogNote;
use crate::store::{KeyRecord, StoreError};

/// How stale `last_used_at` may get before a request refreshes it: one write a minute per key
/// instead of one per request.
const TOUCH_AFTER: TimeDelta = TimeDelta::seconds(60);

/// Why a request's key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Unknown,
    Revoked,
    Expired,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing API key: no X-API-KEY header",
            AuthFailure::Unknown => "invalid API key",
            AuthFailure::Revoked => "the API key was revoked",
            AuthFailure::Expired => "the API key has expired",
        }
    }

    /// The ingest answer (always HTTP 200).
    pub fn rejection(self) -> Rejection {
        Rejection::new(
            ExceptionType::Unauthorized,
            self.message(),
            "pass a valid key in the X-API-KEY header (MW_API_KEY for mwctl); create one with `mwctl keys create --name NAME --scope deployments`",
        )
    }

    /// The admin API answer.
    pub fn error(self) -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            self.message(),
            "pass an admin key in X-API-KEY: run `mwctl login --url URL` (the server's first admin key is in DATA_DIR/admin.key), or set MW_API_KEY",
        )
    }
}

/// Looks up the request's key. No caching: a revoked key is refused on the very next request.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Result<KeyRecord, AuthFailure>, StoreError> {
    let presented = headers
        .get(HEADER_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(presented) = presented else {
        return Ok(Err(AuthFailure::Missing));
    };
    let Some(key) = state.store.find_key(&key_digest_hex(presented)).await? else {
        return Ok(Err(AuthFailure::Unknown));
    };
    let now = Utc::now();
    if key.is_revoked() {
        return Ok(Err(AuthFailure::Revoked));
    }
    if key.is_expired(now) {
        return Ok(Err(AuthFailure::Expired));
    }
    touch_if_stale(state, &key, now);
    Ok(Ok(key))
}

/// Records the key's use in the background, at most about once a minute.
fn touch_if_stale(state: &AppState, key: &KeyRecord, now: DateTime<Utc>) {
    if key
        .key
        .last_used_at
        .is_some_and(|at| now - at < TOUCH_AFTER)
    {
        return;
    }
    let state = state.clone();
    let id = key.key.id.clone();
    tokio::spawn(async move {
        if let Err(e) = state.store.touch_key(&id, now).await {
            tracing::warn!(key_id = %id, "could not record a key's last use: {e}");
        }
    });
}

/// Middleware for `/api/*`: a usable key with the admin scope.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let key = match authenticate(&state, request.headers()).await {
        Ok(Ok(key)) => key,
        Ok(Err(failure)) => return failure.error().into_response(),
        Err(e) => return AppError::from(e).into_response(),
    };
    if !key.has_scope(Scope::Admin) {
        return AppError::new(
            StatusCode::FORBIDDEN,
            format!("key {} lacks the admin scope", key.key.id),
            "use a key with the admin scope (`mwctl keys create --name NAME --scope admin`), e.g. with `mwctl login`",
        )
        .into_response();
    }
    let mut response = next.run(request).await;
    let note = response
        .extensions_mut()
        .remove::<LogNote>()
        .unwrap_or_default()
        .key(&key.key.id);
    response.extensions_mut().insert(note);
    response
}

/// Every admin API failure: an HTTP status and an `ApiError` body that says how to fix it.
#[derive(Debug)]
pub enum AppError {
    Api {
        status: StatusCode,
        body: ApiError,
        /// What the log says instead of `body.error`, when that may quote the request.
        log: Option<String>,
    },
    Store(StoreError),
}

impl AppError {
    pub fn new(
        status: StatusCode,
        error: impl Into<String>,
        resolution: impl Into<String>,
    ) -> Self {
        AppError::Api {
            status,
            body: ApiError {
                error: error.into(),
                resolution: resolution.into(),
            },
            log: None,
        }
    }

    /// Logs `note` instead of the error text (which may quote what the client sent).
    pub fn logged_as(mut self, note: &str) -> Self {
        if let AppError::Api { log, .. } = &mut self {
            *log = Some(note.to_owned());
        }
        self
    }

    pub fn bad_request(error: impl Into<String>, resolution: impl Into<String>) -> Self {
        AppError::new(StatusCode::BAD_REQUEST, error, resolution)
    }

    pub fn invalid(error: impl Into<String>, resolution: impl Into<String>) -> Self {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, error, resolution)
    }

    pub fn not_found(error: impl Into<String>, resolution: impl Into<String>) -> Self {
        AppError::new(StatusCode::NOT_FOUND, error, resolution)
    }

    pub fn conflict(error: impl Into<String>, resolution: impl Into<String>) -> Self {
        AppError::new(StatusCode::CONFLICT, error, resolution)
    }

    pub fn internal(error: impl Into<String>) -> Self {
        AppError::Store(StoreError::Other(error.into()))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        AppError::Store(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body, note) = match self {
            AppError::Api { status, body, log } => {
                let note = log.unwrap_or_else(|| body.error.clone());
                (status, body, note)
            }
            // Details go to the log, not to the client.
            AppError::Store(e) if e.is_transient() => (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError {
                    error: "the database is busy".to_owned(),
                    resolution: "retry in a few seconds".to_owned(),
                },
                e.to_string(),
            ),
            AppError::Store(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError {
                    error: "internal server error".to_owned(),
                    resolution: "retry; if it persists, the server's log says what failed"
                        .to_owned(),
                },
                e.to_string(),
            ),
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(LogNote::new(note));
        response
    }
}
