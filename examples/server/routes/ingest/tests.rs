//! Ingest over HTTP: every outcome, in the protocol's order of checks.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use mwctl::protocol::signing::{key_digest, sign};
use serde_json::{Value, json};

use crate::app::Config;
use crate::app::testing::TestServer;

const REPO: &str = "https://github.com/acme/shop";

fn run(id: &str, status: &str) -> Value {
    json!({
        "workflow_name": "deploy",
        "repo_urls": [REPO],
        "event_actor": "alice",
        "head_branch": "main",
        "workflow_run_unique_id": id,
        "status": status,
        "workflow_run_conducted_at": "2025-01-10T10:00:00Z",
    })
}

fn batch(runs: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// Standard Webhooks headers for `body`, signed with `key`.
fn signed(key: &str, id: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = chrono::Utc::now().timestamp();
    vec![
        ("webhook-id".to_owned(), id.to_owned()),
        ("webhook-timestamp".to_owned(), ts.to_string()),
        (
            "webhook-signature".to_owned(),
            sign(&key_digest(key), id, ts, body),
        ),
    ]
}

async fn post(
    server: &TestServer,
    key: Option<&str>,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> Value {
    let mut request = server
        .client
        .post(format!("{}/public/webhook/workflow", server.url))
        .body(body);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if !headers.iter().any(|(name, _)| name == "content-type") {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answers");
    assert_eq!(response.status(), 200, "ingest always answers 200");
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON answer")
}

async fn events(server: &TestServer) -> Vec<Value> {
    let (_, page) = server.api("GET", "/api/events", None).await;
    page["events"]
        .as_array()
        .cloned()
        .expect("a page of events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_runs_are_processed() {
    let server = TestServer::default().await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let body = batch(vec![run("1", "success"), run("2", "PENDING")]);
    let answer = post(
        &server,
        Some(&key),
        body.clone(),
        &signed(&key, "b1", &body),
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert_eq!(answer["accepted"], 2);
    let id = answer["event_id"].as_str().expect("event id");
    let event = server.processed(id).await;
    assert_eq!(event["status"], "SUCCESS", "{event}");
    assert_eq!(event["runs_created"], 2);
    assert_eq!(event["webhook_id"], "b1");
    assert_eq!(event["response"]["event_id"], id);
    assert_eq!(event["runs"].as_array().map(Vec::len), Some(2));
    let (status, page) = server
        .api("GET", "/api/runs?repo=https://github.com/acme/shop", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(2), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_key_are_answered_not_stored() {
    let server = TestServer::default().await;
    let body = batch(vec![run("1", "success")]);
    for key in [None, Some("mwk_nope"), Some("")] {
        let answer = post(&server, key, body.clone(), &[]).await;
        assert_eq!(answer["status"], "rejected");
        assert_eq!(answer["exception_type"], "Unauthorized");
        assert_eq!(answer["event_id"], Value::Null);
        assert!(
            answer["resolution"]
                .as_str()
                .is_some_and(|r| r.contains("mwctl keys create"))
        );
    }
    assert!(events(&server).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_stored_with_their_answer() {
    let server = TestServer::default().await;
    let key = server.admin_key.clone();
    let mut bad = run("1", "done");
    bad["duration"] = json!(-1);
    let answer = post(
        &server,
        Some(&key),
        batch(vec![run("0", "success"), bad]),
        &[],
    )
    .await;
    assert_eq!(answer["exception_type"], "InvalidPayload");
    let fields: Vec<(u64, &str)> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| Some((e["index"].as_u64()?, e["field"].as_str()?)))
        .collect();
    assert_eq!(fields, [(1, "status"), (1, "duration")]);

    let answer = post(&server, Some(&key), batch(vec![run("0", "success")]), &[]).await;
    assert_eq!(answer["exception_type"], "UnknownRepo");
    assert_eq!(answer["errors"][0]["field"], "repo_urls");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mwctl repos link https://github.com/acme/shop")),
        "{answer}"
    );
    let id = answer["event_id"].as_str().expect("stored");
    let (_, event) = server.api("GET", &format!("/api/events/{id}"), None).await;
    assert_eq!(event["status"], "REJECTED");
    assert_eq!(event["response"], answer);
    assert!(
        event["body"]
            .as_str()
            .is_some_and(|b| b.contains("workflow_runs"))
    );
    assert_eq!(events(&server).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_verified() {
    let server = TestServer::start(
        Config {
            max_body: 1 << 20,
            require_signature: true,
            ..Config::default()
        },
        false,
    )
    .await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let body = batch(vec![run("1", "success")]);

    let answer = post(&server, Some(&key), body.clone(), &[]).await;
    assert_eq!(answer["exception_type"], "InvalidSignature", "{answer}");

    let mut headers = signed(&key, "b1", &body);
    headers[0].1 = "b2".to_owned();
    let answer = post(&server, Some(&key), body.clone(), &headers).await;
    assert_eq!(answer["exception_type"], "InvalidSignature");
    assert!(answer["event_id"].is_string(), "stored: {answer}");

    let mut stale = signed(&key, "b1", &body);
    stale[1].1 = (chrono::Utc::now().timestamp() - 301).to_string();
    let answer = post(&server, Some(&key), body.clone(), &stale).await;
    assert_eq!(answer["exception_type"], "InvalidSignature");

    let answer = post(
        &server,
        Some(&key),
        body.clone(),
        &signed(&key, "b1", &body),
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");

    // Gzip: signed over the JSON, or over the bytes as sent.
    let zipped = gzip(&body);
    for (id, signed_over) in [("b3", &body), ("b4", &zipped)] {
        let mut headers = signed(&key, id, signed_over);
        headers.push(("content-encoding".to_owned(), "gzip".to_owned()));
        let answer = post(&server, Some(&key), zipped.clone(), &headers).await;
        assert_eq!(answer["status"], "accepted", "{id}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_webhook_ids_get_the_first_answer() {
    let server = TestServer::default().await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let body = batch(vec![run("1", "success")]);
    let first = post(
        &server,
        Some(&key),
        body.clone(),
        &signed(&key, "same", &body),
    )
    .await;
    let again = post(
        &server,
        Some(&key),
        body.clone(),
        &signed(&key, "same", &body),
    )
    .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["status"], "accepted");

    // Concurrent twins: one event, one answer.
    let other = batch(vec![run("2", "success")]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (server_url, client, key, body) = (
            server.url.clone(),
            server.client.clone(),
            key.clone(),
            other.clone(),
        );
        let headers = signed(&key, "race", &body);
        tasks.push(tokio::spawn(async move {
            let mut request = client
                .post(format!("{server_url}/public/webhook/workflow"))
                .header("x-api-key", &key)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("answers");
            let answer: Value =
                serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
            answer["event_id"].as_str().map(str::to_owned)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task").expect("event id"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(events(&server).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_can_be_resent_with_its_webhook_id() {
    let server = TestServer::default().await;
    let key = server.admin_key.clone();
    let body = batch(vec![run("1", "success")]);
    let answer = post(&server, Some(&key), body.clone(), &signed(&key, "w", &body)).await;
    assert_eq!(answer["exception_type"], "UnknownRepo");
    server.link(REPO).await;
    let answer = post(&server, Some(&key), body.clone(), &signed(&key, "w", &body)).await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert!(answer.get("duplicate").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_limited_and_must_be_json() {
    let server = TestServer::start(
        Config {
            max_body: 4096,
            require_signature: false,
            ..Config::default()
        },
        false,
    )
    .await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let body = batch(vec![run("1", "success")]);
    let header = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];

    let big = vec![b' '; 5000];
    let answer = post(&server, Some(&key), big.clone(), &[]).await;
    assert_eq!(answer["exception_type"], "PayloadTooLarge");
    let id = answer["event_id"].as_str().expect("stored");
    let (_, event) = server.api("GET", &format!("/api/events/{id}"), None).await;
    assert_eq!(event["body"], Value::Null);

    // A zip bomb: small on the wire, over the limit once decompressed.
    let answer = post(
        &server,
        Some(&key),
        gzip(&big),
        &header("content-encoding", "gzip"),
    )
    .await;
    assert_eq!(answer["exception_type"], "PayloadTooLarge");

    let answer = post(
        &server,
        Some(&key),
        gzip(&body),
        &header("content-encoding", "gzip"),
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let answer = post(
        &server,
        Some(&key),
        b"\x1f\x8bnope".to_vec(),
        &header("content-encoding", "gzip"),
    )
    .await;
    assert_eq!(answer["exception_type"], "InvalidPayload");

    let answer = post(
        &server,
        Some(&key),
        body.clone(),
        &header("content-encoding", "br"),
    )
    .await;
    assert_eq!(answer["exception_type"], "UnsupportedMediaType");
    let answer = post(
        &server,
        Some(&key),
        body.clone(),
        &header("content-type", "text/plain"),
    )
    .await;
    assert_eq!(answer["exception_type"], "UnsupportedMediaType");
    let answer = post(
        &server,
        Some(&key),
        batch(vec![run("2", "success")]),
        &header("content-type", "application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");

    // No Content-Type at all is fine (curl --data-binary with -H '' sends none).
    let response = server
        .client
        .post(format!("{}/public/webhook/deployments", server.url))
        .header("x-api-key", &key)
        .body(batch(vec![run("3", "success")]))
        .send()
        .await
        .expect("answers");
    let answer: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(answer["status"], "accepted", "the alias path: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_without_the_deployments_scope_are_forbidden() {
    let server = TestServer::default().await;
    server.link(REPO).await;
    let (status, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": "ops", "scopes": ["incidents"]})),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().expect("key");
    let answer = post(&server, Some(key), batch(vec![run("1", "success")]), &[]).await;
    assert_eq!(answer["exception_type"], "Forbidden");
    assert!(answer["event_id"].is_string());
}

fn incident(key: &str, status: &str) -> Value {
    let mut incident = json!({
        "incident_key": key,
        "provider": "PagerDuty",
        "status": status,
        "title": "checkout is down",
        "creation_date": "2025-01-10T11:00:00Z",
        "repo_urls": [REPO],
    });
    if status.eq_ignore_ascii_case("resolved") {
        incident["resolved_date"] = json!("2025-01-10T11:45:00Z");
    }
    incident
}

fn incidents(incidents: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "incidents": incidents })).expect("json")
}

async fn post_incidents(
    server: &TestServer,
    path: &str,
    key: &str,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> Value {
    let mut request = server
        .client
        .post(format!("{}{path}", server.url))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("answers");
    assert_eq!(response.status(), 200, "ingest always answers 200");
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_incidents_are_processed_on_both_paths() {
    let server = TestServer::default().await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let body = incidents(vec![incident("P1", "triggered")]);
    let answer = post_incidents(
        &server,
        "/public/webhook/incidents",
        &key,
        body.clone(),
        &signed(&key, "i1", &body),
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(
        answer["message"], "1 incident accepted; processing asynchronously",
        "counted as incidents"
    );
    let id = answer["event_id"].as_str().expect("event id");
    let event = server.processed(id).await;
    assert_eq!(event["status"], "SUCCESS", "{event}");
    assert_eq!(event["request_type"], "incident");
    assert_eq!(event["incidents_received"], 1);
    assert_eq!(event["incidents_created"], 1);
    assert_eq!(event["incidents"][0]["provider"], "pagerduty");
    assert_eq!(event["incidents"][0]["action"], "created");

    // The alias, gzipped, with a repeat of the same webhook-id answered as a duplicate.
    let body = incidents(vec![incident("P1", "RESOLVED")]);
    let headers = {
        let mut h = signed(&key, "i2", &body);
        h.push(("content-encoding".to_owned(), "gzip".to_owned()));
        h
    };
    let answer = post_incidents(
        &server,
        "/public/webhook/incident",
        &key,
        gzip(&body),
        &headers,
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let id = answer["event_id"].as_str().expect("event id").to_owned();
    let again = post_incidents(
        &server,
        "/public/webhook/incident",
        &key,
        gzip(&body),
        &headers,
    )
    .await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["event_id"], id.as_str());
    let event = server.processed(&id).await;
    assert_eq!(event["incidents_updated"], 1, "{event}");
    assert_eq!(event["incidents"][0]["status"], "RESOLVED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_incident_requests_are_rejected_and_stored() {
    let server = TestServer::start(
        Config {
            max_body: 4096,
            require_signature: false,
            ..Config::default()
        },
        false,
    )
    .await;
    server.link(REPO).await;
    let key = server.admin_key.clone();
    let path = "/public/webhook/incidents";

    // Malformed JSON, and runs sent to the incidents endpoint.
    let answer = post_incidents(&server, path, &key, b"{\"incidents\": [".to_vec(), &[]).await;
    assert_eq!(answer["exception_type"], "InvalidPayload", "{answer}");
    assert!(answer["event_id"].is_string(), "stored: {answer}");
    let answer = post_incidents(&server, path, &key, batch(vec![run("1", "success")]), &[]).await;
    assert_eq!(answer["exception_type"], "InvalidPayload");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("no incidents array")),
        "{answer}"
    );

    // Wrong types: every error with its index, field and message.
    let mut wrong = incident("P1", "TRIGGERED");
    wrong["incident_key"] = json!(5);
    let mut resolved = incident("P2", "RESOLVED");
    resolved.as_object_mut().map(|o| o.remove("resolved_date"));
    let answer = post_incidents(&server, path, &key, incidents(vec![wrong, resolved]), &[]).await;
    assert_eq!(answer["exception_type"], "InvalidPayload", "{answer}");
    let errors = answer["errors"].as_array().expect("errors");
    assert_eq!(errors[0]["index"], 0);
    assert_eq!(errors[0]["field"], "incident_key");
    assert_eq!(errors[1]["index"], 1);
    assert_eq!(errors[1]["field"], "resolved_date");
    assert!(answer["resolution"].as_str().is_some_and(|r| !r.is_empty()));

    // Oversized.
    let answer = post_incidents(&server, path, &key, vec![b' '; 5000], &[]).await;
    assert_eq!(answer["exception_type"], "PayloadTooLarge");
    assert!(
        answer["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("fewer incidents")),
        "{answer}"
    );

    // A repository that is not linked.
    let mut elsewhere = incident("P3", "TRIGGERED");
    elsewhere["repo_urls"] = json!(["https://github.com/acme/other"]);
    let answer = post_incidents(&server, path, &key, incidents(vec![elsewhere]), &[]).await;
    assert_eq!(answer["exception_type"], "UnknownRepo", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("1 of 1 incidents name no linked repository")),
        "{answer}"
    );

    let stored = events(&server).await;
    assert!(stored.iter().all(|e| e["request_type"] == "incident"));
    assert!(stored.iter().all(|e| e["status"] == "REJECTED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_need_the_incidents_scope() {
    let server = TestServer::default().await;
    server.link(REPO).await;
    let (status, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": "ci", "scopes": ["deployments"]})),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().expect("key");
    let body = incidents(vec![incident("P1", "TRIGGERED")]);
    let answer = post_incidents(&server, "/public/webhook/incidents", key, body, &[]).await;
    assert_eq!(answer["exception_type"], "Forbidden", "{answer}");
    assert!(
        answer["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("--scope incidents")),
        "{answer}"
    );
    // And the incidents scope does not send runs.
    let (_, created) = server
        .api(
            "POST",
            "/api/keys",
            Some(json!({"name": "pager", "scopes": ["incidents"]})),
        )
        .await;
    let pager = created["key"].as_str().expect("key");
    let answer = post_incidents(
        &server,
        "/public/webhook/incidents",
        pager,
        incidents(vec![incident("P1", "TRIGGERED")]),
        &[],
    )
    .await;
    assert_eq!(answer["status"], "accepted", "{answer}");
}
