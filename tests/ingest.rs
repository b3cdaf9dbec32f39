//! Ingest: backfill with `mwctl send`, every rejection, crash recovery.

mod common;

use common::{Server, run_json, stdout_json};
use predicates::str::contains;
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

fn body(runs: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json")
}

#[test]
fn send_three_runs_stores_them() {
    let server = Server::start();
    server.link(REPO);
    let runs: Vec<_> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| run_json(REPO, id, "success"))
        .collect();
    let file = server.dir.path().join("runs.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"workflow_runs": runs})).expect("json"),
    )
    .expect("writes");

    let out = server
        .mwctl()
        .args(["send", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["accepted"], 3);
    assert_eq!(summary["read"], 3);

    server.wait_processed();
    let mut stored = server.runs();
    stored.sort_by(|a, b| a.workflow_run_unique_id.cmp(&b.workflow_run_unique_id));
    assert_eq!(stored.len(), 3);
    let first = &stored[0];
    assert_eq!(first.workflow_run_unique_id, "r1");
    assert_eq!(first.repo, "acme/shop");
    assert_eq!(first.workflow, "deploy");
    assert_eq!(first.status, "SUCCESS");
    assert_eq!(first.duration, Some(42));
    assert_eq!(first.event_actor, "alice");
    assert_eq!(first.head_branch, "main");
    assert_eq!(first.commit_sha.as_deref(), Some("abcdef1234567"));
    assert_eq!(first.conducted_at.to_rfc3339(), "2025-01-09T10:00:00+00:00");

    // The same file again: every batch is recognised, nothing is stored twice.
    let out = server
        .mwctl()
        .args(["send", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(stdout_json(&out)["duplicates"], 3);
    server.wait_processed();
    assert_eq!(server.runs().len(), 3);
    assert_eq!(server.events().len(), 1, "a duplicate stores no new event");
}

#[test]
fn send_batches_large_files() {
    let server = Server::start();
    server.link(REPO);
    let runs: Vec<_> = (0..1203)
        .map(|i| run_json(REPO, &format!("n{i}"), "SUCCESS"))
        .collect();
    let file = server.dir.path().join("big.json");
    std::fs::write(&file, serde_json::to_vec(&runs).expect("json")).expect("writes");
    let out = server
        .mwctl()
        .args(["send", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let summary = stdout_json(&out);
    assert_eq!(summary["batches"], 3);
    assert_eq!(summary["accepted"], 1203);
    server.wait_processed();
    assert_eq!(server.runs().len(), 1203);
}

#[test]
fn send_refuses_invalid_files_and_sends_nothing() {
    let server = Server::start();
    server.link(REPO);
    let mut bad = run_json(REPO, "x2", "done");
    bad["duration"] = json!(-5);
    let runs = vec![run_json(REPO, "x1", "SUCCESS"), bad];
    let file = server.dir.path().join("bad.json");
    std::fs::write(&file, serde_json::to_vec(&runs).expect("json")).expect("writes");
    server
        .mwctl()
        .arg("send")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("record 1: status"))
        .stderr(contains("record 1: duration"))
        .stderr(contains("nothing was sent"));
    assert!(server.events().is_empty());

    std::fs::write(&file, "[{\"workflow_name\": ").expect("writes");
    server
        .mwctl()
        .arg("send")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("line 1, column"));
}

#[test]
fn send_reads_stdin() {
    let server = Server::start();
    server.link(REPO);
    let runs = serde_json::to_vec(&vec![run_json(REPO, "s1", "SUCCESS")]).expect("json");
    server
        .mwctl()
        .args(["send", "-"])
        .write_stdin(runs)
        .assert()
        .success();
    server.wait_processed();
    assert_eq!(server.runs().len(), 1);
}

#[test]
fn send_reports_unknown_repos_with_the_fix() {
    let server = Server::start();
    let file = server.dir.path().join("runs.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&vec![run_json(REPO, "u1", "SUCCESS")]).expect("json"),
    )
    .expect("writes");
    server
        .mwctl()
        .arg("send")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("not linked"))
        .stderr(contains("mwctl repos link"));
    // After linking, the same file goes in (a rejected batch is not a duplicate).
    server.link(REPO);
    server.mwctl().arg("send").arg(&file).assert().success();
    server.wait_processed();
    assert_eq!(server.runs().len(), 1);
}

/// Every rejection is HTTP 200 with `rejected`, its exception type and a resolution, and
/// stores no run.
#[test]
fn every_rejection_is_200_with_a_resolution_and_stores_nothing() {
    let server = Server::start_with(&["--max-body", "64KiB"]);
    server.link(REPO);
    let admin = server.admin_key.clone();

    let out = server
        .mwctl()
        .args(["keys", "create", "--name", "revoked", "-o", "json"])
        .output()
        .expect("runs");
    let revoked = stdout_json(&out);
    server
        .mwctl()
        .args(["keys", "revoke", revoked["id"].as_str().expect("id")])
        .assert()
        .success();
    let revoked_key = revoked["key"].as_str().expect("key").to_owned();

    let good = || run_json(REPO, "g", "SUCCESS");
    let mut invalid = good();
    invalid["status"] = json!("finished");
    // Empty objects keep 501 runs under the body limit: the count is checked first.
    let too_many: Vec<_> = (0..501).map(|_| json!({})).collect();
    let huge = vec![b' '; 70 * 1024];

    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        ("no key", None, body(vec![good()]), "Unauthorized"),
        (
            "wrong key",
            Some("mwk_wrong"),
            body(vec![good()]),
            "Unauthorized",
        ),
        (
            "revoked key",
            Some(&revoked_key),
            body(vec![good()]),
            "Unauthorized",
        ),
        (
            "malformed JSON",
            Some(&admin),
            b"{\"workflow_runs\": [".to_vec(),
            "InvalidPayload",
        ),
        (
            "invalid run",
            Some(&admin),
            body(vec![good(), invalid]),
            "InvalidPayload",
        ),
        ("501 runs", Some(&admin), body(too_many), "InvalidPayload"),
        ("oversized body", Some(&admin), huge, "PayloadTooLarge"),
        (
            "unknown repo",
            Some(&admin),
            body(vec![run_json(
                "https://github.com/acme/other",
                "u",
                "SUCCESS",
            )]),
            "UnknownRepo",
        ),
    ];
    for (name, key, body, exception) in cases {
        let (status, answer) = server.ingest(key, body);
        assert_eq!(status, 200, "{name}");
        assert_eq!(answer["status"], "rejected", "{name}: {answer}");
        assert_eq!(answer["exception_type"], exception, "{name}: {answer}");
        assert!(
            answer["resolution"].as_str().is_some_and(|r| !r.is_empty()),
            "{name}: {answer}"
        );
    }
    // Per-run errors name the run and field.
    let mut bad = good();
    bad["status"] = json!(1);
    let (_, answer) = server.ingest(Some(&admin), body(vec![good(), bad]));
    assert_eq!(answer["errors"][0]["index"], 1);
    assert_eq!(answer["errors"][0]["field"], "status");

    server.wait_processed();
    assert!(
        server.runs().is_empty(),
        "no rejected request may store a run"
    );
    // Requests without a valid key are never stored; the others are, as REJECTED.
    let events = server.events();
    assert!(
        events
            .iter()
            .all(|e| e.status == mwctl::protocol::admin::EventStatus::Rejected)
    );
    assert_eq!(events.len(), 6, "{events:#?}");
    let health = server
        .http()
        .get(format!("{}/healthz", server.url))
        .send()
        .expect("alive");
    assert!(health.status().is_success());
}

#[test]
fn accepted_events_survive_a_kill_before_processing() {
    // The worker is held back, so the event is stored but not processed when the server dies.
    let mut server = Server::start_with(&["--no-worker"]);
    server.link(REPO);
    let (_, answer) = server.ingest(
        Some(&server.admin_key.clone()),
        body(vec![run_json(REPO, "k1", "SUCCESS")]),
    );
    assert_eq!(answer["status"], "accepted");
    let event_id = answer["event_id"].as_str().expect("id").to_owned();
    assert_eq!(
        server.events()[0].status,
        mwctl::protocol::admin::EventStatus::Waiting
    );

    server.kill9();
    server.restart_with(&[]);
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].workflow_run_unique_id, "k1");
    assert_eq!(
        server.get(&format!("/api/events/{event_id}"))["status"],
        "SUCCESS"
    );
}

#[test]
fn a_reused_webhook_id_with_another_body_is_refused() {
    let server = Server::start();
    server.link(REPO);
    let post = |webhook_id: &str, body: &[u8]| -> (u16, Value) {
        let response = server
            .http()
            .post(format!("{}/public/webhook/workflow", server.url))
            .header("content-type", "application/json")
            .header("x-api-key", &server.admin_key)
            .header("webhook-id", webhook_id)
            .body(body.to_vec())
            .send()
            .expect("request");
        (response.status().as_u16(), response.json().expect("JSON"))
    };
    let first = body(vec![run_json(REPO, "r1", "success")]);
    let (status, answer) = post("batch-1", &first);
    assert_eq!((status, &answer["status"]), (200, &json!("accepted")));
    let first_event = answer["event_id"].clone();

    // The same body again: the first answer, marked duplicate.
    let (status, again) = post("batch-1", &first);
    assert_eq!(status, 200);
    assert_eq!(again["status"], "accepted", "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["event_id"], first_event);

    // Another body under the same id: refused, saying why and what to do.
    let other = body(vec![run_json(REPO, "r2", "success")]);
    let (status, refused) = post("batch-1", &other);
    assert_eq!(status, 200);
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert_eq!(refused["exception_type"], "WebhookIdReused", "{refused}");
    let error = refused["error"].as_str().expect("an error");
    assert!(error.contains("batch-1"), "{error}");
    assert!(
        error.contains(first_event.as_str().expect("an id")),
        "{error}"
    );
    let resolution = refused["resolution"].as_str().expect("a resolution");
    assert!(resolution.contains("webhook-id"), "{resolution}");
    assert_ne!(refused["event_id"], first_event);

    // Another id takes that body; the refused one wrote nothing.
    let (_, answer) = post("batch-2", &other);
    assert_eq!(answer["status"], "accepted", "{answer}");
    assert!(
        answer.get("duplicate").is_none_or(|d| d == false),
        "{answer}"
    );
    server.wait_processed();
    let mut ids: Vec<_> = server
        .runs()
        .into_iter()
        .map(|r| r.workflow_run_unique_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["r1", "r2"]);
    let rejected: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.status.as_str() == "REJECTED")
        .collect();
    assert_eq!(rejected.len(), 1, "the refusal is stored as an event");
}
