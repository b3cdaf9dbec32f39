//! `--notify-url`: the server POSTs a Slack-compatible `{"text": …}` message for every rejected
//! or failed event, off the request path, with retries. The receiver is a local wiremock server.

mod common;

use std::time::{Duration, Instant};

use common::{Server, run_json};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO: &str = "https://github.com/acme/shop";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The texts the receiver got, in order (retries included).
fn texts(rt: &tokio::runtime::Runtime, receiver: &MockServer) -> Vec<String> {
    rt.block_on(receiver.received_requests())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
            body["text"].as_str().expect("a text field").to_owned()
        })
        .collect()
}

fn wait_for_texts(rt: &tokio::runtime::Runtime, receiver: &MockServer, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = texts(rt, receiver);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn body(runs: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json")
}

#[test]
fn rejected_and_failed_events_are_notified_with_retries() {
    let rt = runtime();
    let receiver = rt.block_on(MockServer::start());
    // The first delivery fails: the server must try again.
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&receiver),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .with_priority(2)
            .mount(&receiver),
    );
    let hook = format!("{}/hook", receiver.uri());
    let mut server = Server::start_with(&["--notify-url", &hook, "--no-worker"]);
    server.link(REPO);
    let (key_id, key) = server.create_key("ci-deploy", &[]);

    // 1. Rejected: an invalid status that tries to ping a whole Slack channel.
    let mut bad = run_json(REPO, "r1", "SUCCESS");
    bad["status"] = json!("<!channel>");
    let (_, answer) = server.ingest(Some(&key), body(vec![bad]));
    assert_eq!(answer["status"], "rejected");
    let rejected_id = answer["event_id"].as_str().expect("stored").to_owned();
    // The receiver refuses the first delivery; the retry gets through.
    let got = wait_for_texts(&rt, &receiver, 2);
    assert_eq!(got.len(), 2, "{got:#?}");

    // Not notified: a request without a valid key (not an event), and an accepted one.
    let (_, answer) = server.ingest(
        Some("mwk_nobody"),
        body(vec![run_json(REPO, "x", "SUCCESS")]),
    );
    assert_eq!(answer["exception_type"], "Unauthorized");
    let (_, answer) = server.ingest(Some(&key), body(vec![run_json(REPO, "a1", "SUCCESS")]));
    assert_eq!(answer["status"], "accepted");
    let failed_id = answer["event_id"].as_str().expect("stored").to_owned();

    // 2. Failed: its repo is unlinked before the worker gets to it.
    let repo_id = server.get("/api/repos")[0]["id"].to_string();
    server
        .mwctl()
        .args(["repos", "unlink", &repo_id])
        .assert()
        .success();
    server.restart_with(&["--notify-url", &hook]);
    server.wait_processed();

    // A last rejection, as a marker: notices go out oldest first, so once its text arrives, a
    // notice for the accepted or the unauthenticated request would have arrived before it.
    let mut marker = run_json(REPO, "m1", "SUCCESS");
    marker["duration"] = json!(-1);
    let (_, answer) = server.ingest(Some(&key), body(vec![marker]));
    let marker_id = answer["event_id"].as_str().expect("stored").to_owned();
    let got = wait_for_texts(&rt, &receiver, 4);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got[3].contains(&marker_id), "{got:#?}");
    // No more than these four (three notices, one retry).
    assert_eq!(texts(&rt, &receiver).len(), 4);

    // The refused delivery and its retry carry the same message.
    assert_eq!(got[0], got[1]);
    let rejected = &got[1];
    assert!(rejected.contains(&rejected_id), "{rejected}");
    assert!(rejected.contains("InvalidPayload"), "{rejected}");
    assert!(
        rejected.contains(&format!("ci-deploy ({key_id})")),
        "{rejected}"
    );
    assert!(rejected.contains("resolution:"), "{rejected}");
    assert!(
        rejected.contains("&lt;!channel&gt;") && !rejected.contains("<!channel>"),
        "user text is made inert: {rejected}"
    );

    let failed = &got[2];
    assert!(failed.contains(&failed_id), "{failed}");
    assert!(failed.contains("failed"), "{failed}");
    assert!(
        failed.contains("acme/shop"),
        "the error names the repo: {failed}"
    );
    assert!(
        failed.contains(&format!("ci-deploy ({key_id})")),
        "{failed}"
    );
    assert!(failed.contains("resolution:"), "{failed}");

    for text in &got {
        assert!(
            !text.contains(&key),
            "a notification must never carry the key"
        );
        assert!(!text.contains(&server.admin_key));
    }
}

#[test]
fn a_slow_receiver_never_slows_ingest() {
    let rt = runtime();
    let receiver = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
            .mount(&receiver),
    );
    let server = Server::start_with(&["--notify-url", &receiver.uri()]);
    server.link(REPO);
    let started = Instant::now();
    for i in 0..20 {
        let mut bad = run_json(REPO, &format!("s{i}"), "SUCCESS");
        bad["duration"] = json!(-1);
        let sent = Instant::now();
        let (status, answer) = server.ingest(Some(&server.admin_key), body(vec![bad]));
        assert_eq!((status, answer["status"].as_str()), (200, Some("rejected")));
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "answer {i} took {:?}",
            sent.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The receiver is still busy with the first message; the server is healthy.
    assert!(server.get("/healthz")["status"] == "ok");
}

#[test]
fn a_notification_not_delivered_before_a_kill_9_is_delivered_after_the_restart() {
    let rt = runtime();
    // The first receiver never answers in time: the message is still in flight when the
    // server is killed.
    let hanging = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
            .mount(&hanging),
    );
    let mut server = Server::start_with(&["--notify-url", &hanging.uri()]);
    server.link(REPO);
    let mut bad = run_json(REPO, "k1", "SUCCESS");
    bad["duration"] = json!(-1);
    let (_, answer) = server.ingest(Some(&server.admin_key), body(vec![bad]));
    assert_eq!(answer["status"], "rejected");
    let event_id = answer["event_id"].as_str().expect("stored").to_owned();
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();

    let receiver = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&receiver),
    );
    server.restart_with(&["--notify-url", &receiver.uri()]);
    let got = wait_for_texts(&rt, &receiver, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains(&event_id), "{}", got[0]);
    assert!(got[0].contains("duration"), "{}", got[0]);

    // Delivered once: after a further restart, a new rejection is the next (and only) message.
    server.restart_with(&["--notify-url", &receiver.uri()]);
    let mut marker = run_json(REPO, "k2", "SUCCESS");
    marker["duration"] = json!(-1);
    let (_, answer) = server.ingest(Some(&server.admin_key), body(vec![marker]));
    let marker_id = answer["event_id"].as_str().expect("stored").to_owned();
    let got = wait_for_texts(&rt, &receiver, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].contains(&event_id), "{}", got[0]);
    assert!(
        got[1].contains(&marker_id),
        "the first notice was not sent again: {got:#?}"
    );
}
