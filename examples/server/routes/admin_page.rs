//! `GET /`: the admin page (plain HTML, CSS and JavaScript compiled into the binary, no
//! external assets). The page itself holds no data and needs no key: it signs in with an admin
//! key that it keeps in the tab's session storage and sends as `X-API-KEY` to `/api/*`.
//!
//! Every response carries a strict Content-Security-Policy (scripts and styles only from this
//! server, no inline script, no framing, fetches only to this server), so even a rendering bug
//! could not run injected script.

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderName, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

const INDEX_HTML: &str = include_str!("../admin/index.html");
const ADMIN_JS: &str = include_str!("../admin/admin.js");
const ADMIN_CSS: &str = include_str!("../admin/admin.css");

/// No source but this server; no inline script or style; no plugins, frames, forms or base.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/admin.js", get(script))
        .route("/admin.css", get(style))
        // Browsers ask for it; there is none.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, &'static str); 6] = [
        (CONTENT_TYPE, content_type),
        (CONTENT_SECURITY_POLICY, CSP),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "no-referrer"),
        // Small and compiled in: always fresh after an upgrade.
        (CACHE_CONTROL, "no-cache"),
    ];
    (headers, body)
}

async fn index() -> impl IntoResponse {
    page("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> impl IntoResponse {
    page("text/javascript; charset=utf-8", ADMIN_JS)
}

async fn style() -> impl IntoResponse {
    page("text/css; charset=utf-8", ADMIN_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        for asset in [INDEX_HTML, ADMIN_JS, ADMIN_CSS] {
            for external in [
                "src=\"http",
                "href=\"http",
                "src=\"//",
                "href=\"//",
                "url(",
                "@import",
            ] {
                assert!(!asset.contains(external), "an external asset: {external}");
            }
        }
        assert!(INDEX_HTML.contains(r#"<script src="/admin.js" defer></script>"#));
        assert!(
            !INDEX_HTML.contains("<script>"),
            "no inline script (CSP forbids it)"
        );
        assert!(
            !INDEX_HTML.contains("style="),
            "no inline style (CSP forbids it)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn served_with_a_strict_policy_and_without_a_key() {
        let server = crate::app::testing::TestServer::default().await;
        for (path, kind) in [
            ("/", "text/html"),
            ("/admin.js", "text/javascript"),
            ("/admin.css", "text/css"),
        ] {
            let response = server
                .client
                .get(format!("{}{path}", server.url))
                .send()
                .await
                .expect("answers");
            assert_eq!(response.status(), 200, "{path}");
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert!(header("content-type").starts_with(kind), "{path}");
            assert_eq!(header("content-security-policy"), CSP);
            assert_eq!(header("x-content-type-options"), "nosniff");
            assert_eq!(header("x-frame-options"), "DENY");
        }
        assert!(!CSP.contains("unsafe"));
    }

    #[test]
    fn the_script_never_renders_data_as_html() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            let uses = ADMIN_JS
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .filter(|line| line.contains(sink))
                .count();
            assert_eq!(uses, 0, "admin.js uses {sink}");
        }
        assert!(ADMIN_JS.contains("sessionStorage"));
        assert!(
            !ADMIN_JS.contains("localStorage"),
            "the key stays in the tab"
        );
    }
}
