//! HTTP access to a Middleware webhook server: typed admin calls and signed ingest requests.

mod admin;
mod error;
mod ingest;
pub mod pipeline;
mod tls;

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

pub use admin::IncidentQuery;
pub use error::ApiError;
pub use ingest::{RetryPolicy, SendOutcome, batch_webhook_id, content_webhook_id, new_webhook_id};
pub use tls::install_crypto_provider;

use crate::protocol::signing::HEADER_API_KEY;
use crate::protocol::strip_credentials;
use crate::settings::Secret;

/// A connection to one server with one key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

impl Client {
    /// `timeout` bounds each request; the connection pool keeps connections alive between
    /// requests. `ca_cert` names a PEM file of CA certificates trusted besides the system's.
    pub fn new(
        base_url: &str,
        key: Secret,
        timeout: Duration,
        ca_cert: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let base = normalise_base_url(base_url)?;
        let mut headers = HeaderMap::new();
        let mut key_value = HeaderValue::from_str(key.expose()).map_err(|_| {
            anyhow::anyhow!(
                "the API key contains characters that cannot be sent in a header; check MW_API_KEY or the config"
            )
        })?;
        key_value.set_sensitive(true);
        headers.insert(HEADER_API_KEY, key_value);
        install_crypto_provider();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("mwctl/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirected POST would arrive as a GET without its body: say where the server
            // points instead (see ApiError's resolution for 3xx).
            .redirect(reqwest::redirect::Policy::none());
        let http = tls::roots(builder, &base, ca_cert)?.build().map_err(|e| {
            // The innermost cause says what is wrong ("No CA certificates were loaded").
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                reason = cause.to_string();
                source = cause.source();
            }
            anyhow::anyhow!(
                "cannot set up TLS for {base}: {reason}\n  {}",
                tls::SETUP_HINT
            )
        })?;
        Ok(Client { http, base, key })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` to `url` and reads the whole answer; transport failures (connect,
    /// timeout, a dropped connection mid-body) become [`ApiError`]s naming `url`.
    async fn fetch(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::from_transport(url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::from_transport(url, e))?
            .into();
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

/// A whole HTTP answer.
struct Fetched {
    status: reqwest::StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    /// The start of the body, for errors about what the server sent.
    fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(120)
            .collect()
    }
}

/// Checks the server URL with the `url` crate (scheme, host, no credentials) and drops a
/// trailing slash, so paths join cleanly; the host comes back in lower case.
pub fn normalise_base_url(input: &str) -> anyhow::Result<String> {
    let input = input.trim();
    let scheme_hint = || {
        format!(
            "server URL {:?} must start with http:// or https:// (e.g. https://middleware.example.com)",
            strip_credentials(input)
        )
    };
    let url = match Url::parse(input) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => bail!(scheme_hint()),
        Err(url::ParseError::EmptyHost) => bail!("server URL {input:?} has no host"),
        Err(e) => bail!(
            "server URL {:?} is not a valid URL ({e}); e.g. https://middleware.example.com",
            strip_credentials(input)
        ),
    };
    if !matches!(url.scheme(), "http" | "https") {
        bail!(scheme_hint());
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("server URL {input:?} has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "server URL must not contain credentials; pass the key with MW_API_KEY or `mwctl login`"
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("server URL {input:?} must not have a query (?…) or a fragment (#…)");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            normalise_base_url("http://127.0.0.1:8787/").expect("valid"),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            normalise_base_url(" https://mw.example.com/prefix ").expect("valid"),
            "https://mw.example.com/prefix"
        );
        assert_eq!(
            normalise_base_url("https://MW.Example.com:443/").expect("valid"),
            "https://mw.example.com"
        );
        for bad in [
            "mw.example.com",
            "ftp://x",
            "http://",
            "https://u:p@x",
            "https://x/?a=1",
            "https://x y/",
        ] {
            assert!(normalise_base_url(bad).is_err(), "{bad}");
        }
        let err = normalise_base_url("https://u:secret@x y").expect_err("invalid");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
