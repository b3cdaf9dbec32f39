//! The admin API over HTTP.

use serde_json::{Value, json};

use crate::app::Config;
use crate::app::testing::TestServer;

fn run(id: &str) -> Value {
    json!({
        "workflow_name": "deploy",
        "repo_names": ["acme/shop"],
        "event_actor": "alice",
        "head_branch": "main",
        "workflow_run_unique_id": id,
        "status": "SUCCESS",
        "workflow_run_conducted_at": "2025-01-10T10:00:00Z",
    })
}

/// Sends one run with the admin key; returns the answer.
async fn ingest(server: &TestServer, id: &str) -> Value {
    let response = server
        .client
        .post(format!("{}/public/webhook/workflow", server.url))
        .header("x-api-key", &server.admin_key)
        .body(json!({ "workflow_runs": [run(id)] }).to_string())
        .send()
        .await
        .expect("answers");
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_an_admin_key() {
    let server = TestServer::default().await;
    for key in [None, Some("mwk_unknown")] {
        let (status, error) = server.api_as(key, "GET", "/api/keys", None).await;
        assert_eq!(status, 401);
        assert!(
            error["resolution"]
                .as_str()
                .is_some_and(|r| r.contains("mwctl login"))
        );
    }
    let (_, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": "ci", "scopes": ["deployments"]})),
        )
        .await;
    let ci_key = created["key"].as_str().expect("key");
    let (status, error) = server
        .api_as(Some(ci_key), "GET", "/api/events", None)
        .await;
    assert_eq!(status, 403, "{error}");

    let (status, health) = server.api_as(None, "GET", "/healthz", None).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
    let (status, error) = server.api_as(None, "GET", "/nope", None).await;
    assert_eq!(status, 404);
    assert!(error["error"].is_string() && error["resolution"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_listed_and_revoked_at_once() {
    let server = TestServer::default().await;
    let (status, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": " deployer ", "scopes": ["admin", "deployments", "admin"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("shown once").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["name"], "deployer");
    assert_eq!(created["scopes"], json!(["deployments", "admin"]));
    assert_eq!(created["prefix"], key[..12]);

    let (_, keys) = server.api("GET", "/api/keys", None).await;
    assert_eq!(keys[0]["id"], id.as_str(), "newest first");
    assert!(!keys.to_string().contains(&key), "never listed in full");

    let (status, _) = server.api_as(Some(&key), "GET", "/api/keys", None).await;
    assert_eq!(status, 200);
    let (status, revoked) = server.api("DELETE", &format!("/api/keys/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = server.api_as(Some(&key), "GET", "/api/keys", None).await;
    assert_eq!(status, 401, "revocation is immediate");
    let (status, again) = server.api("DELETE", &format!("/api/keys/{id}"), None).await;
    assert_eq!(
        (status, &again["revoked_at"]),
        (200, &revoked["revoked_at"])
    );
    let (status, _) = server.api("DELETE", "/api/keys/key_nope", None).await;
    assert_eq!(status, 404);

    // The server's own admin key is now the last one.
    let (_, keys) = server.api("GET", "/api/keys", None).await;
    let admin_id = keys
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["revoked_at"].is_null()))
        .and_then(|k| k["id"].as_str())
        .expect("admin key listed")
        .to_owned();
    let (status, error) = server
        .api("DELETE", &format!("/api/keys/{admin_id}"), None)
        .await;
    assert_eq!(status, 409, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_requests_get_our_error_shape() {
    let server = TestServer::default().await;
    for (body, want) in [
        (json!({"name": "", "scopes": ["admin"]}), 422),
        (json!({"name": "x", "scopes": []}), 422),
        (json!({"name": "x", "scopes": ["root"]}), 422),
        (
            json!({"name": "x", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}),
            422,
        ),
        (json!({"name": "x".repeat(101), "scopes": ["admin"]}), 422),
    ] {
        let (status, error) = server.api("POST", "/api/keys", Some(body.clone())).await;
        assert_eq!(status, want, "{body}: {error}");
        assert!(error["resolution"].is_string(), "{error}");
    }
    let response = server
        .client
        .post(format!("{}/api/keys", server.url))
        .header("x-api-key", &server.admin_key)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
    let error: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert!(error["error"].is_string() && error["resolution"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repos_are_linked_listed_and_unlinked() {
    let server = TestServer::default().await;
    let (status, repo) = server
        .api(
            "POST",
            "/api/repos",
            Some(json!({"url": "https://user:tok@github.com/acme/shop.git"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(repo["url"], "https://github.com/acme/shop");
    assert!(!repo.to_string().contains("tok"));
    let (status, again) = server
        .api(
            "POST",
            "/api/repos",
            Some(json!({"url": "git@github.com:acme/shop.git"})),
        )
        .await;
    assert_eq!((status, &again["id"]), (200, &repo["id"]));
    let (status, _) = server
        .api("POST", "/api/repos", Some(json!({"url": "nope"})))
        .await;
    assert_eq!(status, 422);

    let answer = ingest(&server, "1").await;
    server
        .processed(answer["event_id"].as_str().expect("accepted"))
        .await;
    for filter in [
        "acme/shop",
        "shop",
        "https://github.com/acme/shop",
        "github.com/acme/shop",
        "git@github.com:acme/shop.git",
    ] {
        let (_, page) = server
            .api("GET", &format!("/api/runs?repo={filter}"), None)
            .await;
        assert_eq!(page["runs"].as_array().map(Vec::len), Some(1), "{filter}");
        assert_eq!((&page["total"], &page["next"]), (&json!(1), &Value::Null));
    }
    let (_, page) = server.api("GET", "/api/runs?workflow=DEPLOY", None).await;
    assert_eq!(page["total"], 1, "workflows ignore case: {page}");
    let (_, page) = server.api("GET", "/api/runs?workflow=other", None).await;
    assert_eq!(page, json!({"runs": [], "total": 0, "next": null}));
    let (status, error) = server.api("GET", "/api/runs?repo=a%20b", None).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("host/org/name"))
    );
    let (status, _) = server.api("GET", "/api/runs?limit=0", None).await;
    assert_eq!(status, 400);

    let id = repo["id"].as_i64().expect("id");
    let (status, error) = server
        .api(
            "DELETE",
            &format!("/api/repos/{id}?delete_runs=maybe"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{error}");
    // A dry run of deleting the runs: the counts, nothing changed.
    let (status, dry) = server
        .api(
            "DELETE",
            &format!("/api/repos/{id}?delete_runs=true&dry_run=true"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (
            &dry["id"],
            &dry["dry_run"],
            &dry["runs_deleted"],
            &dry["workflows_deleted"]
        ),
        (&json!(id), &json!(true), &json!(1), &json!(1))
    );
    let (_, repos) = server.api("GET", "/api/repos", None).await;
    assert_eq!(repos.as_array().map(Vec::len), Some(1));

    // Unlinked: the runs stay.
    let (status, report) = server
        .api("DELETE", &format!("/api/repos/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&report["runs_kept"], &report["runs_deleted"]),
        (&json!(1), &json!(0))
    );
    let (status, _) = server
        .api("DELETE", &format!("/api/repos/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, repos) = server.api("GET", "/api/repos", None).await;
    assert_eq!(repos, json!([]));
    let (_, page) = server.api("GET", "/api/runs", None).await;
    assert_eq!(page["total"], 1, "unlinking keeps the repo's runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_listed_shown_and_pruned() {
    let server = TestServer::start(
        Config {
            max_body: 1 << 20,
            require_signature: false,
            ..Config::default()
        },
        false,
    )
    .await;
    let rejected = ingest(&server, "0").await;
    assert_eq!(rejected["exception_type"], "UnknownRepo");
    server.link("https://github.com/acme/shop").await;
    let accepted = ingest(&server, "1").await;
    let id = accepted["event_id"].as_str().expect("accepted");

    let (status, error) = server
        .api("POST", &format!("/api/events/{id}/prune"), None)
        .await;
    assert_eq!(status, 409, "not processed yet: {error}");
    assert!(
        error["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("wait"))
    );

    let (_, page) = server.api("GET", "/api/events?limit=1", None).await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["events"][0]["id"], id);
    assert_eq!((&page["total"], &page["next"]), (&json!(2), &json!(id)));
    for param in ["before", "cursor"] {
        let (_, older) = server
            .api("GET", &format!("/api/events?{param}={id}"), None)
            .await;
        assert_eq!(older["events"][0]["id"], rejected["event_id"]);
        assert_eq!((&older["total"], &older["next"]), (&json!(2), &Value::Null));
    }
    let (_, page) = server.api("GET", "/api/events?status=rejected", None).await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["total"], 1);
    let (status, _) = server.api("GET", "/api/events?status=nope", None).await;
    assert_eq!(status, 400);
    let (status, _) = server.api("GET", "/api/events/evt_nope", None).await;
    assert_eq!(status, 404);

    // A rejected event wrote nothing: it prunes to nothing.
    let rejected_id = rejected["event_id"].as_str().expect("stored");
    let (status, report) = server
        .api("POST", &format!("/api/events/{rejected_id}/prune"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["runs"], json!([]));
    assert_eq!(report["already_pruned"], false);

    let (status, _) = server
        .api(
            "POST",
            &format!("/api/events/{id}/prune?dry_run=maybe"),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processed_event_prunes_its_runs() {
    let server = TestServer::default().await;
    server.link("https://github.com/acme/shop").await;
    let id = ingest(&server, "1").await["event_id"]
        .as_str()
        .expect("accepted")
        .to_owned();
    server.processed(&id).await;
    let prune = format!("/api/events/{id}/prune");
    let (_, dry) = server
        .api("POST", &format!("{prune}?dry_run=true"), None)
        .await;
    assert_eq!(
        (dry["dry_run"].clone(), dry["runs"].as_array().map(Vec::len)),
        (json!(true), Some(1))
    );
    let (_, page) = server.api("GET", "/api/runs", None).await;
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1));
    let (_, report) = server.api("POST", &prune, None).await;
    assert_eq!(report["runs"][0]["unique_id"], "1");
    assert_eq!(report["workflows_deleted"], 1);
    let (_, page) = server.api("GET", "/api/runs", None).await;
    assert_eq!(page["runs"], json!([]));
    let (status, again) = server.api("POST", &prune, None).await;
    assert_eq!(
        (status, again["already_pruned"].clone()),
        (200, json!(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_past_their_maximum_with_cursors() {
    let server = TestServer::start(
        Config {
            max_page: Some(2),
            ..Config::default()
        },
        true,
    )
    .await;
    server.link("https://github.com/acme/shop").await;
    for i in 0..5 {
        let answer = ingest(&server, &i.to_string()).await;
        server
            .processed(answer["event_id"].as_str().expect("accepted"))
            .await;
    }
    for (path, items) in [("/api/runs", "runs"), ("/api/events", "events")] {
        // Above the maximum: a full page, and `next` carries on.
        let mut url = format!("{path}?limit=1000");
        let mut seen = Vec::new();
        loop {
            let (status, page) = server.api("GET", &url, None).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["total"], 5, "{page}");
            let got = page[items].as_array().expect("items");
            assert!(got.len() <= 2, "{page}");
            seen.extend(got.iter().map(|item| item["id"].clone()));
            match page["next"].as_str() {
                Some(next) => url = format!("{path}?limit=1000&cursor={next}"),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort_by_key(Value::to_string);
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (5, 5), "{path}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_limits_and_cursors_get_a_clear_400() {
    let server = TestServer::default().await;
    let long = "9".repeat(5000);
    for query in [
        "/api/runs?limit=0",
        "/api/runs?limit=-1",
        "/api/runs?limit=ten",
        "/api/runs?limit=1.5",
        "/api/runs?cursor=nope",
        "/api/runs?cursor=1_",
        "/api/runs?cursor=_1",
        "/api/runs?cursor=99999999999999999999_1",
        "/api/runs?cursor=1736416800000_1_2",
        "/api/runs?cursor=%1B%5B2J",
        &format!("/api/runs?cursor={long}_1"),
        "/api/runs?cursor=1&cursor=2",
        "/api/runs?workflow=a&workflow=b",
        "/api/events?limit=0",
        "/api/events?limit=%00",
        "/api/events?cursor=a%20b",
        "/api/events?before=..%2Fkeys",
        &format!("/api/events?cursor={long}"),
        "/api/events?cursor=evt_1&before=evt_2",
    ] {
        let (status, error) = server.api("GET", query, None).await;
        assert_eq!(status, 400, "{query}: {error}");
        let (message, resolution) = (
            error["error"].as_str().unwrap_or_default(),
            error["resolution"].as_str().unwrap_or_default(),
        );
        assert!(
            !message.is_empty() && !resolution.is_empty(),
            "{query}: {error}"
        );
        assert!(
            message.len() < 600,
            "{query}: the error echoes at most a bounded part"
        );
    }
    // A well-formed cursor past the end is an empty last page, not an error.
    let (status, page) = server.api("GET", "/api/runs?cursor=0_0", None).await;
    assert_eq!(
        (status, page),
        (200, json!({"runs": [], "total": 0, "next": null}))
    );
    let (status, page) = server
        .api("GET", "/api/events?limit=99999999999", None)
        .await;
    assert_eq!(status, 200, "a huge limit is clamped: {page}");
}
