//! `GET /api/incidents` and `GET /api/dora` over HTTP, on fixed data.

use serde_json::{Value, json};

use crate::app::testing::TestServer;

const SHOP: &str = "https://github.com/acme/shop";

fn run(id: &str, status: &str, started: &str, duration: i64) -> Value {
    json!({
        "workflow_name": "deploy",
        "repo_urls": [SHOP],
        "event_actor": "alice",
        "head_branch": "main",
        "workflow_run_unique_id": id,
        "status": status,
        "workflow_run_conducted_at": started,
        "duration": duration,
    })
}

fn incident(key: &str, created: &str, resolved: Option<&str>) -> Value {
    let mut incident = json!({
        "incident_key": key,
        "provider": "pagerduty",
        "status": if resolved.is_some() { "RESOLVED" } else { "TRIGGERED" },
        "title": format!("{key} is down"),
        "creation_date": created,
        "repo_names": ["acme/shop"],
    });
    if let Some(resolved) = resolved {
        incident["resolved_date"] = json!(resolved);
    }
    incident
}

/// Sends a body to an ingest path and waits until the worker processed it.
async fn send(server: &TestServer, path: &str, body: Value) {
    let (status, answer) = server.api("POST", path, Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "accepted", "{answer}");
    let event = server
        .processed(answer["event_id"].as_str().expect("event id"))
        .await;
    assert_eq!(event["status"], "SUCCESS", "{event}");
}

/// acme/shop: deployments 1 (Mar 3) and 2 (Mar 5) succeeded, 3 (Mar 6) failed; incident P1 on
/// Mar 5 resolved after 45 min, P2 on Mar 7 still open and naming deployment 1, P0 before any
/// deployment.
async fn example() -> TestServer {
    let server = TestServer::default().await;
    server.link(SHOP).await;
    let runs = vec![
        run("1", "SUCCESS", "2025-03-03T10:00:00Z", 300),
        run("2", "SUCCESS", "2025-03-05T10:00:00Z", 600),
        run("3", "FAILURE", "2025-03-06T10:00:00Z", 120),
    ];
    send(
        &server,
        "/public/webhook/workflow",
        json!({ "workflow_runs": runs }),
    )
    .await;
    let mut named = incident("P2", "2025-03-07T09:00:00Z", None);
    named["deployment"] = json!({"workflow_name": "deploy", "workflow_run_unique_id": 1});
    let incidents = vec![
        incident("P0", "2025-03-02T09:00:00Z", Some("2025-03-02T09:10:00Z")),
        incident("P1", "2025-03-05T12:00:00Z", Some("2025-03-05T12:45:00Z")),
        named,
    ];
    send(
        &server,
        "/public/webhook/incidents",
        json!({ "incidents": incidents }),
    )
    .await;
    server
}

fn keys(page: &Value) -> Vec<String> {
    page["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["incident_key"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_listed_with_their_attribution() {
    let server = example().await;
    let (status, page) = server.api("GET", "/api/incidents", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(keys(&page), ["P2", "P1", "P0"], "newest first");
    assert_eq!(page["total"], 3);
    let by_key = |key: &str| {
        page["incidents"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["incident_key"] == key))
            .cloned()
            .expect("listed")
    };
    let p1 = by_key("P1");
    assert_eq!(p1["repo"], "acme/shop");
    assert_eq!(p1["status"], "RESOLVED");
    assert_eq!(p1["attributed_to"]["workflow_run_unique_id"], "2");
    assert_eq!(p1["attributed_to"]["by"], "latest_before");
    // The event that wrote it (one request sent all three), for pruning from the admin page.
    assert_eq!(p1["events"].as_array().map(Vec::len), Some(1), "{p1}");
    assert!(
        p1["events"][0]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_"))
    );
    let p2 = by_key("P2");
    assert_eq!(p2["events"], p1["events"]);
    assert_eq!(p2["attributed_to"]["workflow_run_unique_id"], "1");
    assert_eq!(p2["attributed_to"]["by"], "named");
    assert_eq!(
        by_key("P0")["attributed_to"],
        Value::Null,
        "before any deployment"
    );

    let (_, page) = server
        .api("GET", "/api/incidents?status=resolved&repo=acme/shop", None)
        .await;
    assert_eq!(keys(&page), ["P1", "P0"]);
    let (_, page) = server
        .api("GET", "/api/incidents?since=2025-03-05", None)
        .await;
    assert_eq!(keys(&page), ["P2", "P1"]);
    let (_, first) = server.api("GET", "/api/incidents?limit=2", None).await;
    assert_eq!(keys(&first), ["P2", "P1"]);
    let next = first["next"].as_str().expect("a next page");
    let (_, rest) = server
        .api(
            "GET",
            &format!("/api/incidents?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(keys(&rest), ["P0"]);
    assert_eq!(rest["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_incident_queries_are_400_with_a_resolution() {
    let server = TestServer::default().await;
    server.link(SHOP).await;
    for query in [
        "status=open",
        "since=yesterday",
        "repo=acme/nope",
        "cursor=x",
        "limit=0",
    ] {
        let (status, error) = server
            .api("GET", &format!("/api/incidents?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {error}");
        assert!(
            error["error"].is_string() && error["resolution"].is_string(),
            "{query}: {error}"
        );
    }
    let (status, _) = server.api_as(None, "GET", "/api/incidents", None).await;
    assert_eq!(status, 401);
    let (_, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": "pager", "scopes": ["incidents"]})),
        )
        .await;
    let pager = created["key"].as_str().expect("key");
    let (status, _) = server.api_as(Some(pager), "GET", "/api/dora", None).await;
    assert_eq!(status, 403, "the admin scope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dora_reports_exact_figures() {
    let server = example().await;
    let (status, report) = server
        .api(
            "GET",
            "/api/dora?repo=acme/shop&from=2025-03-01&to=2025-03-15&interval=week",
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let total = &report["total"];
    // Deployments 1 and 2 (3 failed); P1 on 2, P2 on 1: both failed.
    assert_eq!(total["deployment_frequency"]["deployments"], 2);
    assert_eq!(total["deployment_frequency"]["days"], 14.0);
    assert_eq!(total["change_failure_rate"]["failed_deployments"], 2);
    assert_eq!(total["change_failure_rate"]["rate"], 1.0);
    assert_eq!(total["change_failure_rate"]["incidents"], 3);
    assert_eq!(total["change_failure_rate"]["unattributed_incidents"], 1);
    // P0: 600 s, P1: 2700 s; P2 open.
    assert_eq!(total["time_to_restore"]["resolved"], 2);
    assert_eq!(total["time_to_restore"]["open"], 1);
    assert_eq!(total["time_to_restore"]["mean_seconds"], 1650.0);
    assert_eq!(total["deployment_duration"]["median_seconds"], 450.0);
    assert_eq!(total["deployment_duration"]["p90_seconds"], 600);
    assert_eq!(report["lead_time_for_changes"]["available"], false);
    // Weeks from Monday: Feb 24 (cut to Mar 1), Mar 3, Mar 10 (cut to Mar 15).
    let intervals = report["intervals"].as_array().expect("intervals");
    assert_eq!(intervals.len(), 3);
    assert_eq!(intervals[0]["start"], "2025-03-01T00:00:00Z");
    assert_eq!(intervals[1]["deployment_frequency"]["deployments"], 2);
    assert_eq!(intervals[2]["deployment_frequency"]["deployments"], 0);
    assert_eq!(intervals[2]["change_failure_rate"]["rate"], Value::Null);

    // A workflow of no deployment: nothing deployed, so no rate.
    let (_, report) = server
        .api(
            "GET",
            "/api/dora?workflow=release&from=2025-03-01&to=2025-03-15",
            None,
        )
        .await;
    assert_eq!(report["total"]["deployment_frequency"]["deployments"], 0);
    assert_eq!(report["total"]["change_failure_rate"]["rate"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dora_queries_are_400_with_a_resolution() {
    let server = TestServer::default().await;
    server.link(SHOP).await;
    for query in [
        "from=last-week",
        "to=2025-02-30",
        "from=2025-03-10&to=2025-03-01",
        "from=2025-03-01&since=90d",
        "interval=fortnight",
        "repo=acme/nope",
        "from=2000-01-01&to=2025-01-01&interval=day",
    ] {
        let (status, error) = server.api("GET", &format!("/api/dora?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert!(
            error["error"].is_string() && error["resolution"].is_string(),
            "{query}: {error}"
        );
    }
    // The default range: the last 90 days.
    let (status, report) = server.api("GET", "/api/dora?since=90d", None).await;
    assert_eq!(status, 200, "{report}");
    let (_, default) = server.api("GET", "/api/dora", None).await;
    let days = default["total"]["deployment_frequency"]["days"]
        .as_f64()
        .expect("days");
    assert!((days - 90.0).abs() < 0.001, "{default}");
}
