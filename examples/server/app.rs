//! The application: shared state and the router, apart from `main` so tests can serve it on
//! `127.0.0.1:0`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;

use crate::auth::AppError;
use crate::routes;
use crate::store::{Store, StoreError, StoreResult};

/// Longest a request may take, body upload included (a stuck client must not hold a
/// connection forever). Ingest answers well within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Config {
    /// Largest ingest body, in bytes, before and after gzip decompression.
    pub max_body: usize,
    /// Refuse ingest requests without a `webhook-signature`.
    pub require_signature: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Wakes the worker when an event is stored.
    pub wake: Arc<Notify>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        AppState {
            store,
            wake: Arc::new(Notify::new()),
            config: Arc::new(config),
        }
    }

    /// Runs blocking store work off the async threads. A panic in it becomes an error, never
    /// a crashed server.
    pub async fn db<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| StoreError::Other(format!("database task failed: {e}")))?
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::ingest::router())
        .nest("/api", routes::api_router(state.clone()))
        .merge(routes::health_router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(crate::log::log_requests))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    AppError::not_found(
        format!("no such endpoint: {method} {}", uri.path()),
        "check the URL: ingest is POST /public/webhook/workflow, the admin API is under /api",
    )
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
        "check the HTTP method (ingest takes POST)",
    )
    .into_response()
}
