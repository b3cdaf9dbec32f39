//! The server's log: one line per request (request id, method, path, status, event id, key
//! id, latency), as text or JSON (`--log-format`), and never a key or a signature.

mod common;

use common::{Server, run_json};
use mwctl::protocol::signing::{key_digest, sign};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

/// POSTs an ingest request signed at `ts`; returns the answer and the `x-request-id` header.
fn signed_ingest(
    server: &Server,
    key: &str,
    body: &[u8],
    ts: i64,
    signature: &str,
) -> (Value, String) {
    let response = server
        .http()
        .post(format!("{}/public/webhook/workflow", server.url))
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .header("webhook-id", "batch-logs-1")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .expect("answers");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries its request id")
        .to_owned();
    (response.json().expect("json"), request_id)
}

fn body(runs: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json")
}

/// The log line that mentions `needle`.
fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
    log.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no log line has {needle}:\n{log}"))
}

#[test]
fn text_lines_say_what_happened_to_each_request_without_secrets() {
    let server = Server::start();
    server.link(REPO);
    let (key_id, key) = server.create_key("ci", &[]);

    let sent = body(vec![run_json(REPO, "logs-1", "SUCCESS")]);
    let ts = chrono::Utc::now().timestamp();
    let signature = sign(&key_digest(&key), "batch-logs-1", ts, &sent);
    let (answer, request_id) = signed_ingest(&server, &key, &sent, ts, &signature);
    assert_eq!(answer["status"], "accepted", "{answer}");
    let event_id = answer["event_id"].as_str().expect("event id").to_owned();

    let wrong_key = "mwk_thisisnotakeythisisnotakeythisisnotakey00";
    let (status, refused) = server.ingest(Some(wrong_key), sent.clone());
    assert_eq!(
        (status, refused["exception_type"].as_str()),
        (200, Some("Unauthorized"))
    );
    server.wait_processed();

    let log = server.log();
    let line = line_with(&log, &request_id);
    for field in [
        "method=POST",
        "path=/public/webhook/workflow",
        "status=200",
        &format!("event_id={event_id}"),
        &format!("key_id={key_id}"),
        "latency_ms=",
        "accepted runs=1",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    let refused_line = line_with(&log, "rejected Unauthorized");
    assert!(refused_line.contains("event_id=-"), "{refused_line}");
    // Admin calls are logged too, with the admin key's id.
    let admin_line = line_with(&log, "path=/api/repos");
    assert!(admin_line.contains("method=POST") && admin_line.contains("status=201"));
    // The worker says what it did with the event.
    let worker_line = log
        .lines()
        .find(|l| l.contains("worker: SUCCESS") && l.contains(&event_id))
        .unwrap_or_else(|| panic!("no worker line for {event_id}:\n{log}"));
    assert!(worker_line.contains("created=1"), "{worker_line}");

    for secret in [
        key.as_str(),
        wrong_key,
        server.admin_key.as_str(),
        &signature,
    ] {
        assert!(!log.contains(secret), "the log holds a secret:\n{log}");
    }
    let v1 = signature.trim_start_matches("v1,");
    assert!(!log.contains(v1), "the log holds the signature:\n{log}");
}

#[test]
fn json_lines_carry_the_same_fields() {
    let server = Server::start_with(&["--log-format", "json"]);
    server.link(REPO);
    let (status, answer) = server.ingest(
        Some(&server.admin_key),
        body(vec![run_json(REPO, "logs-2", "SUCCESS")]),
    );
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    let event_id = answer["event_id"].as_str().expect("event id");
    server.wait_processed();

    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["event_id"] == event_id && l["path"] == "/public/webhook/workflow")
        .unwrap_or_else(|| panic!("no request line for {event_id}:\n{log}"));
    assert_eq!(request["method"], "POST");
    assert_eq!(request["status"], 200);
    assert_eq!(request["level"], "INFO");
    assert!(
        request["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert!(request["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(request["timestamp"].is_string());
    assert!(
        lines
            .iter()
            .any(|l| l["event_id"] == event_id && l["created"] == 1),
        "the worker's line is JSON too:\n{log}"
    );
    assert!(!log.contains(&server.admin_key));
}
