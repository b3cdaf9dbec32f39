//! What can go wrong talking to the server, in the kinds callers branch on.

use std::time::Duration;

use thiserror::Error;

use crate::protocol::admin::ApiError as ApiErrorBody;

#[derive(Debug, Error)]
pub enum ApiError {
    /// No connection, DNS failure, TLS failure, reset connection.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },

    /// The server's TLS certificate was refused (an unknown CA, another name, expired):
    /// trying again cannot help.
    #[error("cannot reach {url}: its TLS certificate is not trusted ({reason})")]
    Untrusted { url: String, reason: String },

    #[error("{url} did not answer in time")]
    Timeout { url: String },

    /// 401: the key is missing, unknown, expired or revoked.
    #[error("the server refused the API key: {error}")]
    Unauthorized { error: String, resolution: String },

    /// 403: the key lacks a scope.
    #[error("the API key may not do this: {error}")]
    Forbidden { error: String, resolution: String },

    #[error("{error}")]
    NotFound { error: String, resolution: String },

    /// 404 from `/api/...` without our error body: the server has no admin API (upstream
    /// Middleware has none; it manages keys and repositories in its web UI).
    #[error("{url} answered HTTP 404: this server has no mwctl admin API")]
    NoAdminApi { url: String },

    /// Any other non-2xx answer. 5xx and 429 are retryable.
    #[error("the server answered HTTP {status}: {error}")]
    Status {
        status: u16,
        error: String,
        resolution: Option<String>,
        retry_after: Option<Duration>,
    },

    /// A 2xx answer we cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// What to do against a server without the admin API.
pub const NO_ADMIN_API: &str = "upstream Middleware has no admin API: it manages API keys and linked repositories in its web UI (Manage Integrations → Webhook), and mwctl's `deploy` and `send` work with it as they are; `keys`, `repos`, `events`, `runs` and `prune` need the companion server (examples/server)";

impl ApiError {
    /// Worth another attempt: the request may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } | ApiError::Timeout { .. } => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }

    /// How to fix it, when the server or we know.
    pub fn resolution(&self) -> Option<String> {
        match self {
            ApiError::Unauthorized { resolution, .. } => Some(format!(
                "{resolution} (check MW_API_KEY, --api-key or run `mwctl login`)"
            )),
            ApiError::Forbidden { resolution, .. } | ApiError::NotFound { resolution, .. } => {
                Some(resolution.clone())
            }
            ApiError::NoAdminApi { .. } => Some(NO_ADMIN_API.to_owned()),
            ApiError::Status { resolution, .. } => resolution.clone(),
            ApiError::Unreachable { .. } => Some(
                "check the URL (--url, MW_URL or `mwctl config show`) and that the server is running"
                    .to_owned(),
            ),
            ApiError::Untrusted { .. } => Some(
                "if a private CA signed the server's certificate, pass the CA's certificate (PEM) with --ca-cert FILE or MW_CA_CERT; otherwise check the URL's host name and the certificate's dates on the server"
                    .to_owned(),
            ),
            ApiError::Timeout { .. } => {
                Some("the server may be overloaded; try again or raise --timeout".to_owned())
            }
            ApiError::Protocol(_) => Some(
                "check that the URL points at a Middleware webhook server, not a proxy or web page"
                    .to_owned(),
            ),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn from_transport(url: &str, e: reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return ApiError::Timeout {
                url: url.to_owned(),
            };
        }
        // The innermost cause says what really happened ("Connection refused").
        let mut reason = e.to_string();
        let mut untrusted = false;
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason = cause.to_string();
            untrusted |= refused_certificate(cause);
            source = cause.source();
        }
        let url = url.to_owned();
        if untrusted {
            ApiError::Untrusted { url, reason }
        } else {
            ApiError::Unreachable { url, reason }
        }
    }

    /// The error for a non-2xx answer to an admin call (`/api/...`, `/healthz`): a 404 that is
    /// not our error body means the server has no admin API at all.
    pub(crate) fn from_admin_status(
        url: &str,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> ApiError {
        if status == reqwest::StatusCode::NOT_FOUND
            && serde_json::from_slice::<ApiErrorBody>(body).is_err()
        {
            return ApiError::NoAdminApi {
                url: crate::protocol::strip_credentials(url),
            };
        }
        ApiError::from_status(status, headers, body)
    }

    /// Builds the error for a non-2xx answer from its status, headers and body.
    pub(crate) fn from_status(
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> ApiError {
        let parsed: Option<ApiErrorBody> = serde_json::from_slice(body).ok();
        let (error, resolution) = match parsed {
            Some(b) => (b.error, Some(b.resolution)),
            None => (
                status
                    .canonical_reason()
                    .unwrap_or("unexpected status")
                    .to_owned(),
                None,
            ),
        };
        match status.as_u16() {
            401 => ApiError::Unauthorized {
                error,
                resolution: resolution
                    .unwrap_or_else(|| "use a valid, unexpired, unrevoked key".to_owned()),
            },
            403 => ApiError::Forbidden {
                error,
                resolution: resolution.unwrap_or_else(|| {
                    "use a key with the admin scope (mwctl keys create --scope admin)".to_owned()
                }),
            },
            404 => ApiError::NotFound {
                error,
                resolution: resolution.unwrap_or_else(|| {
                    "check the id, or that --url points at a Middleware webhook server".to_owned()
                }),
            },
            code @ 300..=399 => {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("another address");
                ApiError::Status {
                    status: code,
                    error,
                    resolution: Some(format!(
                        "the server redirects to {location}; use that address as the server URL \
                         (--url, MW_URL or `mwctl login`)"
                    )),
                    retry_after: None,
                }
            }
            code => ApiError::Status {
                status: code,
                error,
                resolution,
                retry_after: parse_retry_after(headers),
            },
        }
    }
}

/// Whether `cause` is rustls refusing the server's certificate. rustls' error reaches us
/// inside `io::Error`s (one in another), whose `source()` skips what they wrap, so they are
/// unwrapped here.
fn refused_certificate(cause: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: &(dyn std::error::Error + 'static) = cause;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => current = inner,
            None => return false,
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn a_404_without_our_body_is_a_server_without_admin_api() {
        let h = HeaderMap::new();
        let html = b"<!doctype html><title>404 Not Found</title>";
        let e = ApiError::from_admin_status(
            "http://mw/api/keys",
            reqwest::StatusCode::NOT_FOUND,
            &h,
            html,
        );
        assert!(matches!(e, ApiError::NoAdminApi { .. }), "{e:?}");
        assert!(e.resolution().is_some_and(|r| r.contains("web UI")));
        let ours = br#"{"error":"no event evt_1","resolution":"check the id"}"#;
        let e = ApiError::from_admin_status(
            "http://mw/api/events/evt_1",
            reqwest::StatusCode::NOT_FOUND,
            &h,
            ours,
        );
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn status_kinds() {
        let h = HeaderMap::new();
        let body = br#"{"error":"bad key","resolution":"make one"}"#;
        let e = ApiError::from_status(reqwest::StatusCode::UNAUTHORIZED, &h, body);
        assert!(matches!(&e, ApiError::Unauthorized { error, .. } if error == "bad key"));
        assert!(!e.is_retryable());
        assert!(e.resolution().is_some_and(|r| r.contains("mwctl login")));
        let e = ApiError::from_status(reqwest::StatusCode::BAD_GATEWAY, &h, b"<html>");
        assert!(e.is_retryable());
        let e = ApiError::from_status(reqwest::StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert!(e.is_retryable());
        let e = ApiError::from_status(reqwest::StatusCode::CONFLICT, &h, b"");
        assert!(!e.is_retryable());
        let mut moved = HeaderMap::new();
        moved.insert(
            reqwest::header::LOCATION,
            HeaderValue::from_static("https://mw.example.com/public/webhook/workflow"),
        );
        let e = ApiError::from_status(reqwest::StatusCode::MOVED_PERMANENTLY, &moved, b"");
        assert!(!e.is_retryable());
        assert!(
            e.resolution()
                .is_some_and(|r| r.contains("redirects to https://mw.example.com")),
            "{e:?}"
        );
    }
}
