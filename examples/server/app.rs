//! The application: shared state and the router, apart from `main` so tests can serve it on
//! `127.0.0.1:0`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::auth::AppError;
use crate::notify::Notifier;
use crate::routes;
use crate::store::Store;

/// Longest a request may take, body upload included (a stuck client must not hold a
/// connection forever). Ingest answers well within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// See [`Config::lease`].
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Config {
    /// Largest ingest body, in bytes, before and after gzip decompression.
    pub max_body: usize,
    /// Refuse ingest requests without a `webhook-signature`.
    pub require_signature: bool,
    /// Longest pause while a request body arrives: a client that stalls mid-body is answered
    /// (its body unreadable) and its connection closed.
    pub body_timeout: Duration,
    /// Largest page of `GET /api/runs` and `/api/events`, below their own maximum (tests).
    pub max_page: Option<u32>,
    /// How long a claim on an event (or a notification) lasts without renewal: an instance
    /// that died holds its events this long before another takes them over.
    pub lease: Duration,
}

impl Config {
    /// A list's page maximum: its own, or less when `max_page` says so.
    pub fn page_max(&self, list_max: u32) -> u32 {
        self.max_page.map_or(list_max, |max| max.clamp(1, list_max))
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_body: 8 << 20,
            require_signature: false,
            body_timeout: Duration::from_secs(10),
            max_page: None,
            lease: DEFAULT_LEASE,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Wakes the worker when an event is stored.
    pub wake: Arc<Notify>,
    /// Wakes the notification sender when the outbox gets a message.
    pub notifier: Notifier,
    pub config: Arc<Config>,
    /// This process, as the owner of its claims (unique per start).
    pub owner: Arc<str>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        AppState {
            store,
            wake: Arc::new(Notify::new()),
            notifier: Notifier::default(),
            config: Arc::new(config),
            owner: crate::ids::instance_id().into(),
        }
    }

    pub fn with_notifier(mut self, notifier: Notifier) -> AppState {
        self.notifier = notifier;
        self
    }
}

pub fn app(state: AppState) -> Router {
    let body_timeout = state.config.body_timeout;
    Router::new()
        .merge(routes::ingest::router())
        .nest("/api", routes::api_router(state.clone()))
        .merge(routes::health_router())
        .merge(routes::admin_page::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
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

/// A real server on `127.0.0.1:0` with a temporary database, for the modules' tests.
#[cfg(test)]
pub mod testing {
    use std::time::Duration;

    use mwctl::protocol::admin::Scope;
    use mwctl::protocol::signing::key_digest_hex;
    use serde_json::Value;
    use tokio::sync::watch;

    use super::{AppState, Config, app};
    use crate::store::{SqliteStore, Store, now};
    use std::sync::Arc;

    pub struct TestServer {
        pub url: String,
        pub admin_key: String,
        pub client: reqwest::Client,
        _stop: watch::Sender<bool>,
        _dir: tempfile::TempDir,
    }

    impl TestServer {
        /// `worker: false` leaves accepted events WAITING.
        pub async fn start(config: Config, worker: bool) -> TestServer {
            let dir = tempfile::tempdir().expect("tempdir");
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open(&dir.path().join("test.db")).expect("opens"));
            let (meta, admin_key) = crate::ids::mint_key(
                "admin",
                vec![Scope::Admin, Scope::Deployments, Scope::Incidents],
                None,
                now(),
            )
            .expect("key");
            store
                .insert_key(&meta, &key_digest_hex(&admin_key))
                .await
                .expect("stored");
            let state = AppState::new(store, config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binds");
            let url = format!("http://{}", listener.local_addr().expect("bound"));
            let router = app(state.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            let (stop, stopped) = watch::channel(false);
            if worker {
                crate::worker::spawn(state.clone(), stopped).expect("worker starts");
            }
            TestServer {
                url,
                admin_key,
                client: {
                    mwctl::client::install_crypto_provider();
                    reqwest::Client::new()
                },
                _stop: stop,
                _dir: dir,
            }
        }

        pub async fn default() -> TestServer {
            TestServer::start(
                Config {
                    max_body: 1 << 20,
                    ..Config::default()
                },
                true,
            )
            .await
        }

        /// An admin API call with the admin key: (status, JSON body).
        pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
            self.api_as(Some(&self.admin_key), method, path, body).await
        }

        pub async fn api_as(
            &self,
            key: Option<&str>,
            method: &str,
            path: &str,
            body: Option<Value>,
        ) -> (u16, Value) {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut request = self.client.request(method, format!("{}{path}", self.url));
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.expect("answers");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }

        pub async fn link(&self, url: &str) -> Value {
            let (status, repo) = self
                .api(
                    "POST",
                    "/api/repos",
                    Some(serde_json::json!({ "url": url })),
                )
                .await;
            assert!(status == 201 || status == 200, "{status} {repo}");
            repo
        }

        /// Waits until the event leaves WAITING/RUNNING; returns its detail.
        pub async fn processed(&self, event_id: &str) -> Value {
            for _ in 0..200 {
                let (_, event) = self
                    .api("GET", &format!("/api/events/{event_id}"), None)
                    .await;
                if event["status"] != "WAITING" && event["status"] != "RUNNING" {
                    return event;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("event {event_id} was not processed in time");
        }
    }
}
