//! Hostile input, table-driven, against the real server: every bad request gets HTTP 200 with
//! `"status":"rejected"`, the right `exception_type` (and, for a bad run, the field at fault),
//! an error and a resolution; the runs table does not change; the server stays healthy.
//!
//! One row is not a rejection, by design (docs/protocol.md, Deduplication): a replayed
//! `webhook-id` gets the first answer again with `"duplicate": true` and stores nothing.

mod common;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Server, run_json};
use flate2::Compression;
use flate2::write::GzEncoder;
use mwctl::protocol::admin::EventStatus;
use mwctl::protocol::signing::{key_digest, sign};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";
/// The server's body limit in this test (small, so oversize cases are cheap).
const LIMIT: usize = 256 * 1024;

/// Which key a case sends.
#[derive(Clone, Copy, Debug)]
enum Key {
    None,
    Good,
    Wrong,
    Revoked,
    Expired,
    AdminOnly,
    /// Bytes that are not valid in a key (not UTF-8).
    Garbage,
}

#[derive(Clone, Copy, Debug)]
enum Want {
    /// Rejected with this exception type; `Some(field)` also names the first field at fault.
    Rejected(&'static str, Option<&'static str>),
    /// The first answer again, with duplicate: true.
    Duplicate,
}

enum Body {
    Bytes(Vec<u8>),
    /// Sent chunked, without a Content-Length.
    Streamed(Vec<u8>),
}

struct Case {
    name: &'static str,
    key: Key,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Body,
    want: Want,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        key: Key::Good,
        headers: vec![("content-type", b"application/json".to_vec())],
        body: Body::Bytes(body.into()),
        want,
    }
}

impl Case {
    fn key(mut self, key: Key) -> Case {
        self.key = key;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Case {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }
    fn streamed(mut self) -> Case {
        if let Body::Bytes(bytes) = self.body {
            self.body = Body::Streamed(bytes);
        }
        self
    }
}

fn batch(runs: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("json")
}

fn good() -> Value {
    run_json(REPO, "hostile", "SUCCESS")
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut run = good();
    run[field] = value;
    batch(vec![run])
}

fn invalid(field: &'static str) -> Want {
    Want::Rejected("InvalidPayload", Some(field))
}

const INVALID: Want = Want::Rejected("InvalidPayload", None);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Signature headers for `body` with `key`, at `timestamp`.
fn signed(key: &str, id: &str, timestamp: i64, body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("webhook-id", id.as_bytes().to_vec()),
        ("webhook-timestamp", timestamp.to_string().into_bytes()),
        (
            "webhook-signature",
            sign(&key_digest(key), id, timestamp, body).into_bytes(),
        ),
    ]
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

struct Keys {
    good: String,
    revoked: String,
    expired: String,
    admin_only: String,
}

fn cases(keys: &Keys, replayed_body: &[u8]) -> Vec<Case> {
    let now = unix_now();
    let body = batch(vec![good()]);
    let mut truncated = body.clone();
    truncated.truncate(body.len() / 2);
    let mut bad_utf8 = with("workflow_name", json!("deploy-XX"));
    let at = bad_utf8
        .windows(9)
        .position(|w| w == b"deploy-XX")
        .expect("placeholder");
    bad_utf8[at + 7] = 0xff;
    bad_utf8[at + 8] = 0xfe;
    let deep_meta = format!(
        "{{\"workflow_runs\": [{{\"workflow_name\": \"d\", \"meta\": {}1{}}}]}}",
        "{\"a\":".repeat(5000),
        "}".repeat(5000)
    );
    let deep_top = format!(
        "{{\"workflow_runs\": {}{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let mut duplicate_ids = good();
    duplicate_ids["status"] = json!("PENDING");
    let old_ts = now - 600;
    let future_ts = now + 600;
    let empty_objects: Vec<Value> = (0..501).map(|_| json!({})).collect();

    vec![
        // Who is asking.
        case("no key", body.clone(), Want::Rejected("Unauthorized", None)).key(Key::None),
        case(
            "unknown key",
            body.clone(),
            Want::Rejected("Unauthorized", None),
        )
        .key(Key::Wrong),
        case(
            "empty key",
            body.clone(),
            Want::Rejected("Unauthorized", None),
        )
        .key(Key::None)
        .header("x-api-key", ""),
        case(
            "key not UTF-8",
            body.clone(),
            Want::Rejected("Unauthorized", None),
        )
        .key(Key::Garbage),
        case(
            "revoked key",
            body.clone(),
            Want::Rejected("Unauthorized", None),
        )
        .key(Key::Revoked),
        case(
            "expired key",
            body.clone(),
            Want::Rejected("Unauthorized", None),
        )
        .key(Key::Expired),
        case(
            "key without deployments scope",
            body.clone(),
            Want::Rejected("Forbidden", None),
        )
        .key(Key::AdminOnly),
        // Size, encoding, media type.
        case(
            "body over the limit",
            vec![b' '; LIMIT + 1],
            Want::Rejected("PayloadTooLarge", None),
        ),
        case(
            "body over the limit, chunked",
            vec![b' '; LIMIT * 2],
            Want::Rejected("PayloadTooLarge", None),
        )
        .streamed(),
        case(
            "gzip bomb",
            gzip(&vec![b' '; 64 << 20]),
            Want::Rejected("PayloadTooLarge", None),
        )
        .header("content-encoding", "gzip"),
        case("corrupt gzip", b"\x1f\x8b\x08\x00garbage".to_vec(), INVALID)
            .header("content-encoding", "gzip"),
        case(
            "unsupported content-encoding",
            body.clone(),
            Want::Rejected("UnsupportedMediaType", None),
        )
        .header("content-encoding", "br"),
        case(
            "text/plain content type",
            body.clone(),
            Want::Rejected("UnsupportedMediaType", None),
        )
        .header("content-type", "text/plain"),
        case(
            "form content type",
            b"workflow_runs=1".to_vec(),
            Want::Rejected("UnsupportedMediaType", None),
        )
        .header("content-type", "application/x-www-form-urlencoded"),
        // Signatures.
        case(
            "signature by another key",
            body.clone(),
            Want::Rejected("InvalidSignature", None),
        )
        .header("webhook-id", "msg_a")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            sign(&key_digest("mwk_other"), "msg_a", now, &body),
        ),
        {
            let mut c = case(
                "signature 10 minutes old",
                body.clone(),
                Want::Rejected("InvalidSignature", None),
            );
            c.headers
                .extend(signed(&keys.good, "msg_old", old_ts, &body));
            c
        },
        {
            let mut c = case(
                "signature 10 minutes ahead",
                body.clone(),
                Want::Rejected("InvalidSignature", None),
            );
            c.headers
                .extend(signed(&keys.good, "msg_future", future_ts, &body));
            c
        },
        {
            let mut c = case(
                "signed body tampered with",
                with("duration", json!(43)),
                Want::Rejected("InvalidSignature", None),
            );
            c.headers
                .extend(signed(&keys.good, "msg_tamper", now, &body));
            c
        },
        case(
            "timestamp not a number",
            body.clone(),
            Want::Rejected("InvalidSignature", None),
        )
        .header("webhook-id", "msg_b")
        .header("webhook-timestamp", "yesterday")
        .header(
            "webhook-signature",
            sign(&key_digest(&keys.good), "msg_b", now, &body),
        ),
        case(
            "signature not base64",
            body.clone(),
            Want::Rejected("InvalidSignature", None),
        )
        .header("webhook-id", "msg_c")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", "v1,!!!not-base64!!!"),
        case("webhook-id of 300 bytes", body.clone(), INVALID)
            .header("webhook-id", "x".repeat(300)),
        // Not the body we expect.
        case("empty body", Vec::new(), INVALID),
        case(
            "malformed JSON",
            b"{\"workflow_runs\": [}".to_vec(),
            INVALID,
        ),
        case("truncated JSON", truncated, INVALID),
        case("invalid UTF-8 in a string", bad_utf8, INVALID),
        case(
            "top-level array",
            serde_json::to_vec(&json!([good()])).expect("json"),
            INVALID,
        ),
        case("top-level null", b"null".to_vec(), INVALID),
        case(
            "workflow_runs not an array",
            b"{\"workflow_runs\": \"all\"}".to_vec(),
            INVALID,
        ),
        case("no workflow_runs", b"{\"runs\": []}".to_vec(), INVALID),
        case("0 runs", batch(Vec::new()), INVALID),
        case("501 runs", batch(empty_objects), INVALID),
        case("deeply nested meta", deep_meta, INVALID),
        case("deeply nested arrays", deep_top, INVALID),
        // Bad runs: the answer names the field.
        case(
            "a run that is a number",
            b"{\"workflow_runs\": [42]}".to_vec(),
            invalid("workflow_runs"),
        ),
        case(
            "a run with no fields",
            batch(vec![json!({})]),
            invalid("workflow_name"),
        ),
        case(
            "workflow_name a number",
            with("workflow_name", json!(7)),
            invalid("workflow_name"),
        ),
        case(
            "status a number",
            with("status", json!(1)),
            invalid("status"),
        ),
        case(
            "unknown status",
            with("status", json!("DONE")),
            invalid("status"),
        ),
        case(
            "workflow_name of 200,000 characters",
            with("workflow_name", json!("w".repeat(200_000))),
            invalid("workflow_name"),
        ),
        case(
            "empty event_actor",
            with("event_actor", json!("   ")),
            invalid("event_actor"),
        ),
        case(
            "timestamp in words",
            with("workflow_run_conducted_at", json!("yesterday")),
            invalid("workflow_run_conducted_at"),
        ),
        case(
            "timestamp without offset",
            with("workflow_run_conducted_at", json!("2025-01-09T10:00:00")),
            invalid("workflow_run_conducted_at"),
        ),
        case(
            "timestamp of month 13",
            with("workflow_run_conducted_at", json!("2025-13-09T10:00:00Z")),
            invalid("workflow_run_conducted_at"),
        ),
        case(
            "timestamp a week ahead",
            with(
                "workflow_run_conducted_at",
                json!((chrono::Utc::now() + chrono::TimeDelta::days(7)).to_rfc3339()),
            ),
            invalid("workflow_run_conducted_at"),
        ),
        case(
            "negative duration",
            with("duration", json!(-5)),
            invalid("duration"),
        ),
        case(
            "duration not a number",
            with("duration", json!("soon")),
            invalid("duration"),
        ),
        case(
            "html_url javascript:",
            with("html_url", json!("javascript:alert(1)")),
            invalid("html_url"),
        ),
        case(
            "commit_sha not hex",
            with("commit_sha", json!("zzzzzzzz")),
            invalid("commit_sha"),
        ),
        case(
            "meta not an object",
            with("meta", json!([1, 2])),
            invalid("meta"),
        ),
        case(
            "meta over 16 KiB",
            with("meta", json!({"x": "m".repeat(20_000)})),
            invalid("meta"),
        ),
        case(
            "repo URL with a bad scheme",
            with("repo_urls", json!(["ftp://github.com/acme/shop"])),
            invalid("repo_urls[0]"),
        ),
        case(
            "no repository at all",
            with("repo_urls", json!([])),
            invalid("repo_urls"),
        ),
        case(
            "duplicate ids in a batch",
            batch(vec![good(), duplicate_ids]),
            invalid("workflow_run_unique_id"),
        ),
        case(
            "unknown repository",
            batch(vec![run_json(
                "https://github.com/acme/elsewhere",
                "u1",
                "SUCCESS",
            )]),
            Want::Rejected("UnknownRepo", None),
        ),
        // Not a rejection: a replay of an accepted, signed request.
        {
            let mut c = case(
                "replayed webhook-id",
                replayed_body.to_vec(),
                Want::Duplicate,
            );
            c.headers
                .extend(signed(&keys.good, "msg_first", now, replayed_body));
            c
        },
    ]
}

#[test]
fn hostile_requests_are_rejected_with_a_resolution_and_store_nothing() {
    let server = Server::start_with(&["--max-body", "256KiB"]);
    server.link(REPO);
    let (_, good_key) = server.create_key("ci", &["--scope", "deployments"]);
    let (revoked_id, revoked) = server.create_key("old-ci", &["--scope", "deployments"]);
    server
        .mwctl()
        .args(["keys", "revoke", &revoked_id])
        .assert()
        .success();
    let (_, expired) = server.create_key("brief", &["--scope", "deployments", "--expires", "1s"]);
    let (_, admin_only) = server.create_key("ops", &["--scope", "admin"]);
    let keys = Keys {
        good: good_key,
        revoked,
        expired,
        admin_only,
    };

    // A first, accepted request whose webhook-id is replayed at the end of the table.
    let first_body = batch(vec![run_json(REPO, "first", "SUCCESS")]);
    let first = send(&server, &keys, &{
        let mut c = case("first", first_body.clone(), Want::Duplicate);
        c.headers
            .extend(signed(&keys.good, "msg_first", unix_now(), &first_body));
        c
    });
    assert_eq!(first["status"], "accepted", "{first}");
    server.wait_processed();
    let runs_before = serde_json::to_string(&server.runs()).expect("json");
    let events_before = server.events().len();
    std::thread::sleep(Duration::from_millis(1100)); // the 1 s key has expired

    let cases = cases(&keys, &first_body);
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut stored = 0;
    let mut failures = Vec::new();
    for c in &cases {
        let answer = send(&server, &keys, c);
        let problem = check(c, &answer, &first);
        if let Some(problem) = problem {
            failures.push(format!(
                "{}: {problem}\n    answer: {}",
                c.name,
                short(&answer)
            ));
        }
        if answer["event_id"].is_string() && !matches!(c.want, Want::Duplicate) {
            stored += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    server.wait_processed();
    assert_eq!(
        serde_json::to_string(&server.runs()).expect("json"),
        runs_before,
        "the runs table changed"
    );
    let events = server.events();
    assert_eq!(
        events.len(),
        events_before + stored,
        "keyed rejections are kept as events"
    );
    assert!(
        events
            .iter()
            .filter(|e| e.status != EventStatus::Rejected)
            .count()
            == 1,
        "only the first request was accepted"
    );
    assert_eq!(server.get("/healthz")["status"], "ok");
    println!(
        "{} hostile requests, all answered as the protocol says",
        cases.len()
    );
}

/// Sends a case: (HTTP status asserted 200) the answer.
fn send(server: &Server, keys: &Keys, c: &Case) -> Value {
    let mut request = server
        .http()
        .post(format!("{}/public/webhook/workflow", server.url));
    let key: Option<Vec<u8>> = match c.key {
        Key::None => None,
        Key::Good => Some(keys.good.clone().into_bytes()),
        Key::Wrong => Some(b"mwk_this-key-does-not-exist".to_vec()),
        Key::Revoked => Some(keys.revoked.clone().into_bytes()),
        Key::Expired => Some(keys.expired.clone().into_bytes()),
        Key::AdminOnly => Some(keys.admin_only.clone().into_bytes()),
        Key::Garbage => Some(b"mwk_\xff\xfe\x80".to_vec()),
    };
    if let Some(key) = key {
        request = request.header(
            "x-api-key",
            reqwest::header::HeaderValue::from_bytes(&key).expect("header bytes"),
        );
    }
    for (name, value) in &c.headers {
        request = request.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).expect("header bytes"),
        );
    }
    request = match &c.body {
        Body::Bytes(bytes) => request.body(bytes.clone()),
        Body::Streamed(bytes) => request.body(reqwest::blocking::Body::new(std::io::Cursor::new(
            bytes.clone(),
        ))),
    };
    let response = request
        .send()
        .unwrap_or_else(|e| panic!("{}: no answer: {e}", c.name));
    assert_eq!(response.status().as_u16(), 200, "{}: HTTP status", c.name);
    response
        .json()
        .unwrap_or_else(|e| panic!("{}: the answer is not JSON: {e}", c.name))
}

fn check(c: &Case, answer: &Value, first: &Value) -> Option<String> {
    match c.want {
        Want::Duplicate => {
            if answer["status"] != "accepted" || answer["duplicate"] != true {
                return Some("expected the first answer with duplicate: true".to_owned());
            }
            if answer["event_id"] != first["event_id"] {
                return Some("not the first request's event id".to_owned());
            }
        }
        Want::Rejected(exception, field) => {
            if answer["status"] != "rejected" {
                return Some("not rejected".to_owned());
            }
            if answer["exception_type"] != exception {
                return Some(format!("expected {exception}"));
            }
            for part in ["error", "resolution"] {
                if answer[part].as_str().is_none_or(|s| s.trim().is_empty()) {
                    return Some(format!("no {part}"));
                }
            }
            if let Some(field) = field
                && answer["errors"][0]["field"] != field
            {
                return Some(format!("expected the first error on {field}"));
            }
            let stored = answer["event_id"].is_string();
            let keyed = !matches!(
                c.key,
                Key::None | Key::Wrong | Key::Revoked | Key::Expired | Key::Garbage
            );
            if stored != keyed {
                return Some(format!("stored as an event: {stored}, expected {keyed}"));
            }
        }
    }
    None
}

fn short(answer: &Value) -> String {
    let text = answer.to_string();
    text.chars().take(400).collect()
}
