//! Property tests (fuzzing on a fixed budget) of the two parsers that read untrusted input:
//! the validator the server runs on every request body (`protocol::parse_batch`), and the
//! reader mwctl runs on a runs file (`src/input`).
//!
//! Properties: neither panics on any input; every rejection says what is wrong and how to fix
//! it, pointing at runs that exist; whatever the validator accepts is within the protocol's
//! limits and reads back the same; and mwctl's local check agrees with the server's: what
//! mwctl sends of a file `mwctl validate` passes is never refused for its content, and mwctl
//! refuses nothing the server takes but runs naming several repositories (its own rule).
//!
//! Budget: `MW_FUZZ_CASES` cases per property (default 300; CI runs the default, a few seconds).

use chrono::{DateTime, TimeZone, Utc};
use mwctl::protocol::validate::one_repository;
use mwctl::protocol::{
    ExceptionType, Incident, MAX_RUNS_PER_BATCH, Rejection, Run, parse_batch, parse_incident_batch,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Map, Value, json};

/// The input reader's public entry point: the runs of a file (as mwctl would send them,
/// read back with the protocol's rules), or the reason it cannot be read.
fn read_file(bytes: &[u8], now: DateTime<Utc>) -> Result<ReadFile, String> {
    use mwctl::input::{Checker, Input, InputError, Overrides};
    use mwctl::protocol::validate::validate_element;
    use std::ops::ControlFlow;

    let input = Input::from_reader(
        "runs.json",
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        None,
    )
    .map_err(|e| e.to_string())?;
    let mut checker = Checker::new("runs.json", input.format(), Overrides::default(), now);
    let mut file = ReadFile {
        runs: Vec::new(),
        sent: Vec::new(),
        invalid: 0,
    };
    let mut failure: Option<InputError> = None;
    input
        .read_batches(MAX_RUNS_PER_BATCH, |batch| match checker.check(batch) {
            Ok(checked) => {
                file.invalid += checked
                    .rejects
                    .iter()
                    .map(|r| r.errors.len())
                    .sum::<usize>();
                for run in checked.runs {
                    let element = serde_json::from_str(&run.json).expect("a valid run is JSON");
                    file.sent
                        .push(serde_json::from_str(&run.json).expect("JSON"));
                    let mut errors = Vec::new();
                    let run = validate_element(element, 0, now, &mut errors)
                        .expect("what the reader passed, the rules pass");
                    file.runs.push(run);
                }
                ControlFlow::Continue(())
            }
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        })
        .map_err(|e| e.to_string())?;
    match failure {
        Some(e) => Err(e.to_string()),
        None => Ok(file),
    }
}

struct ReadFile {
    runs: Vec<Run>,
    /// The runs as mwctl sends them.
    sent: Vec<Value>,
    /// Problems found in individual runs.
    invalid: usize,
}

fn config() -> Config {
    let cases = std::env::var("MW_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..Config::default()
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

// ------------------------------------------------------------------ generators

/// Any string of up to `max` characters (any Unicode scalar, control characters included).
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any_text(16).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any_text(8), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn text_field() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => "[a-z][a-z0-9 _./-]{0,20}".prop_map(|s| Some(json!(s))),
        1 => Just(None),
        1 => Just(Some(json!(""))),
        1 => Just(Some(json!("x".repeat(257)))),
        1 => any_text(30).prop_map(|s| Some(json!(s))),
        1 => any_json().prop_map(Some),
    ]
}

/// A run whose every field is valid, or not, or missing, or of the wrong type.
fn run_soup() -> impl Strategy<Value = Value> {
    let repo_urls = prop_oneof![
        4 => Just(Some(json!(["https://github.com/acme/shop"]))),
        1 => Just(Some(json!(["git@gitlab.com:group/sub/app.git", "https://github.com/acme/shop"]))),
        1 => Just(Some(json!(["git@GitHub.com:acme/shop.git", "https://u:tok@www.github.com/acme/shop/"]))),
        1 => Just(Some(json!(["ssh://git@gitlab.com:2222/group/app.git"]))),
        1 => Just(Some(json!([]))),
        1 => Just(Some(json!(["ftp://example.com/a/b"]))),
        1 => any_text(30).prop_map(|s| Some(json!([s]))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let repo_names = prop_oneof![
        4 => Just(None),
        1 => Just(Some(json!(["acme/shop"]))),
        1 => any_text(20).prop_map(|s| Some(json!([s]))),
        1 => any_json().prop_map(Some),
    ];
    let unique_id = prop_oneof![
        3 => "[a-z0-9-]{1,12}".prop_map(|s| Some(json!(s))),
        1 => any::<u32>().prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!(-1.5))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let status = prop_oneof![
        4 => prop::sample::select(vec!["SUCCESS", "failure", "Pending", "CANCELLED", "canceled"])
            .prop_map(|s| Some(json!(s))),
        1 => any_text(10).prop_map(|s| Some(json!(s))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let conducted_at = prop_oneof![
        3 => (0i64..1_760_000_000).prop_map(|t| Some(json!(Utc.timestamp_opt(t, 0).single().map(|d| d.to_rfc3339()).unwrap_or_default()))),
        1 => Just(Some(json!("2025-06-01T12:00:00+02:00"))),
        1 => Just(Some(json!("2025-05-01T12:00:00.123456789Z"))),
        1 => Just(Some(json!("2025-05-01 12:00:00+0530"))),
        1 => Just(Some(json!("2025-06-01T12:00:00"))),
        1 => Just(Some(json!("2025-06-09T12:00:00Z"))),
        1 => any_text(25).prop_map(|s| Some(json!(s))),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let duration = prop_oneof![
        3 => Just(None),
        2 => (0i64..100_000).prop_map(|n| Some(json!(n))),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!("120"))),
        1 => Just(Some(json!(12.5))),
        1 => any_json().prop_map(Some),
    ];
    let html_url = prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!("https://ci.example.com/run/1"))),
        1 => Just(Some(json!("https://ci:tok@ci.example.com/run/1"))),
        1 => Just(Some(json!("javascript:alert(1)"))),
        1 => any_text(20).prop_map(|s| Some(json!(s))),
    ];
    let commit_sha = prop_oneof![
        3 => Just(None),
        1 => "[0-9a-fA-F]{7,40}".prop_map(|s| Some(json!(s))),
        1 => any_text(12).prop_map(|s| Some(json!(s))),
    ];
    let meta = prop_oneof![
        3 => Just(None),
        1 => any_json().prop_map(Some),
    ];
    let extra = prop::collection::btree_map("[a-z_]{1,10}", any_json(), 0..2);
    (
        (
            text_field(),
            repo_urls,
            repo_names,
            text_field(),
            text_field(),
        ),
        (unique_id, status, conducted_at, duration),
        (html_url, commit_sha, meta, extra),
    )
        .prop_map(
            |(
                (workflow_name, repo_urls, repo_names, event_actor, head_branch),
                (unique_id, status, conducted_at, duration),
                (html_url, commit_sha, meta, extra),
            )| {
                let mut run: Map<String, Value> = extra.into_iter().collect();
                for (name, value) in [
                    ("workflow_name", workflow_name),
                    ("repo_urls", repo_urls),
                    ("repo_names", repo_names),
                    ("event_actor", event_actor),
                    ("head_branch", head_branch),
                    ("workflow_run_unique_id", unique_id),
                    ("status", status),
                    ("workflow_run_conducted_at", conducted_at),
                    ("duration", duration),
                    ("html_url", html_url),
                    ("commit_sha", commit_sha),
                    ("meta", meta),
                ] {
                    if let Some(value) = value {
                        run.insert(name.to_owned(), value);
                    }
                }
                Value::Object(run)
            },
        )
}

/// A run with every field valid (the soup alone would almost never make a valid batch).
fn valid_run() -> impl Strategy<Value = Value> {
    (
        "[a-z][a-z0-9 _-]{0,15}",
        "[a-z0-9-]{1,12}",
        prop::sample::select(vec!["SUCCESS", "failure", "Pending", "CANCELLED", "canceled"]),
        (0i64..1_740_000_000),
        prop::option::of(0i64..100_000),
    )
        .prop_map(|(name, id, status, at, duration)| {
            let mut run = json!({
                "workflow_name": name,
                "repo_urls": ["https://github.com/acme/shop"],
                "event_actor": "alice",
                "head_branch": "main",
                "workflow_run_unique_id": id,
                "status": status,
                "workflow_run_conducted_at": Utc.timestamp_opt(at, 0).single().map(|d| d.to_rfc3339()),
            });
            if let Some(duration) = duration {
                run["duration"] = json!(duration);
            }
            run
        })
}

/// Mostly valid runs, often broken ones, sometimes anything else.
fn elements() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        prop_oneof![6 => valid_run(), 3 => run_soup(), 1 => any_json()],
        0..8,
    )
}

/// An incident whose every field is valid, or not, or missing, or of the wrong type.
fn incident_soup() -> impl Strategy<Value = Value> {
    let date = || {
        prop_oneof![
            3 => (1_700_000_000i64..1_740_000_000).prop_map(|t| Some(json!(Utc.timestamp_opt(t, 0).single().map(|d| d.to_rfc3339()).unwrap_or_default()))),
            1 => Just(Some(json!("2025-06-01T12:00:00"))),
            1 => any_text(25).prop_map(|s| Some(json!(s))),
            2 => Just(None),
            1 => any_json().prop_map(Some),
        ]
    };
    let status = prop_oneof![
        4 => prop::sample::select(vec!["TRIGGERED", "acknowledged", "Resolved"]).prop_map(|s| Some(json!(s))),
        1 => any_text(10).prop_map(|s| Some(json!(s))),
        1 => any_json().prop_map(Some),
    ];
    let repos = prop_oneof![
        4 => Just(Some(json!(["https://github.com/acme/shop"]))),
        1 => Just(Some(json!([]))),
        1 => any_json().prop_map(Some),
    ];
    let deployment = prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!({"workflow_name": "deploy", "workflow_run_unique_id": 7}))),
        1 => any_json().prop_map(Some),
    ];
    let assignees = prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!(["alice"]))),
        1 => any_json().prop_map(Some),
    ];
    (
        (text_field(), text_field(), status, text_field()),
        (date(), date(), date(), date()),
        (repos, deployment, assignees, text_field()),
    )
        .prop_map(
            |(
                (key, provider, status, title),
                (created, acked, resolved, reopened),
                (repos, deployment, assignees, kind),
            )| {
                let mut incident = Map::new();
                for (name, value) in [
                    ("incident_key", key),
                    ("provider", provider),
                    ("status", status),
                    ("title", title),
                    ("creation_date", created),
                    ("acknowledged_date", acked),
                    ("resolved_date", resolved),
                    ("reopened_date", reopened),
                    ("repo_urls", repos),
                    ("deployment", deployment),
                    ("assignees", assignees),
                    ("incident_type", kind),
                ] {
                    if let Some(value) = value {
                        incident.insert(name.to_owned(), value);
                    }
                }
                Value::Object(incident)
            },
        )
}

/// An incident with every field valid (the soup alone would almost never make a valid batch).
fn valid_incident() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z0-9-]{1,12}",
        prop::sample::select(vec!["TRIGGERED", "acknowledged", "Resolved"]),
        (1_700_000_000i64..1_740_000_000),
        (0i64..100_000),
        prop::option::of(prop::sample::select(vec!["alert", "INCIDENT"])),
    )
        .prop_map(|(key, status, created, after, kind)| {
            let at = |t: i64| Utc.timestamp_opt(t, 0).single().map(|d| d.to_rfc3339());
            let mut incident = json!({
                "incident_key": key,
                "provider": "PagerDuty",
                "status": status,
                "title": "checkout down",
                "creation_date": at(created),
                "repo_names": ["acme/shop"],
            });
            if status == "Resolved" {
                incident["resolved_date"] = json!(at(created + after));
            }
            if let Some(kind) = kind {
                incident["incident_type"] = json!(kind);
            }
            incident
        })
}

/// A valid body, then damaged: bytes flipped, inserted, deleted, or the end cut off.
fn damaged_body() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..6);
    (
        elements(),
        edits,
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(runs, edits, cut, truncate)| {
            let mut bytes =
                serde_json::to_vec(&json!({ "workflow_runs": runs })).unwrap_or_default();
            for (at, op, byte) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    2 => {
                        bytes.remove(i);
                    }
                    _ => bytes[i] ^= 0x80,
                }
            }
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        })
}

// ------------------------------------------------------------------ properties

/// What every answer of the validator must satisfy; on success, the runs it returns.
fn check_answer(
    body: &[u8],
    answer: &Result<Vec<Run>, Rejection>,
    count: Option<usize>,
) -> Result<(), TestCaseError> {
    match answer {
        Ok(runs) => {
            prop_assert!(!runs.is_empty() && runs.len() <= MAX_RUNS_PER_BATCH);
            // What was accepted reads back the same, and stays accepted.
            let again = serde_json::to_vec(&json!({ "workflow_runs": runs }))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let reparsed = parse_batch(&again, now()).map_err(|r| {
                TestCaseError::fail(format!("accepted runs re-rejected: {}", r.error))
            })?;
            prop_assert_eq!(
                serde_json::to_value(&reparsed).ok(),
                serde_json::to_value(runs).ok()
            );
            for run in runs {
                prop_assert!(!run.workflow_name.trim().is_empty());
                prop_assert!(!run.workflow_run_unique_id.is_empty());
                prop_assert!(run.duration.is_none_or(|d| d >= 0));
                prop_assert!(!(run.repo_urls.is_empty() && run.repo_names.is_empty()));
            }
        }
        Err(rejection) => {
            prop_assert_eq!(rejection.exception_type, ExceptionType::InvalidPayload);
            prop_assert!(!rejection.error.trim().is_empty());
            prop_assert!(!rejection.resolution.trim().is_empty());
            if let Some(count) = count {
                for e in &rejection.errors {
                    prop_assert!(e.index < count, "error on run {} of {count}", e.index);
                    prop_assert!(!e.field.is_empty() && !e.message.is_empty());
                }
            }
            let _ = body;
        }
    }
    Ok(())
}

fn check_incidents(
    answer: &Result<Vec<Incident>, Rejection>,
    count: Option<usize>,
) -> Result<(), TestCaseError> {
    if let Err(rejection) = answer {
        prop_assert_eq!(rejection.exception_type, ExceptionType::InvalidPayload);
        prop_assert!(!rejection.error.trim().is_empty() && !rejection.resolution.trim().is_empty());
        for e in &rejection.errors {
            prop_assert!(
                count.is_none_or(|n| e.index < n),
                "error on incident {}",
                e.index
            );
            prop_assert!(!e.field.is_empty() && !e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_incident_validator_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let answer = parse_incident_batch(&body, now());
        check_incidents(&answer, None)?;
    }

    /// Whatever it accepts, sent on, is accepted again as the same incidents.
    #[test]
    fn the_incident_validator_takes_any_batch(items in prop::collection::vec(
        prop_oneof![6 => valid_incident(), 3 => incident_soup(), 1 => any_json()], 0..6)) {
        let body = serde_json::to_vec(&json!({ "incidents": &items })).expect("json");
        let answer = parse_incident_batch(&body, now());
        check_incidents(&answer, Some(items.len()))?;
        if let Ok(incidents) = answer {
            let again = serde_json::to_vec(&json!({ "incidents": &incidents })).expect("json");
            prop_assert_eq!(parse_incident_batch(&again, now()).ok(), Some(incidents));
        }
    }

    #[test]
    fn the_validator_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let answer = parse_batch(&body, now());
        check_answer(&body, &answer, None)?;
    }

    #[test]
    fn the_validator_takes_any_batch_of_runs(runs in elements()) {
        let body = serde_json::to_vec(&json!({ "workflow_runs": &runs })).expect("json");
        let answer = parse_batch(&body, now());
        check_answer(&body, &answer, Some(runs.len()))?;
        if runs.is_empty() {
            prop_assert!(answer.is_err());
        }
    }

    #[test]
    fn the_validator_takes_damaged_bodies(body in damaged_body()) {
        let answer = parse_batch(&body, now());
        check_answer(&body, &answer, None)?;
    }

    #[test]
    fn the_reader_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_file(&body, now());
    }

    #[test]
    fn the_reader_takes_damaged_files(body in damaged_body()) {
        if let Ok(file) = read_file(&body, now()) {
            prop_assert!(file.runs.iter().all(|r| !r.workflow_name.trim().is_empty()));
        }
    }

    /// mwctl's local check and the server agree: what mwctl sends of a file with no problems
    /// is a batch the validator accepts (the same runs), and whatever the validator accepts of
    /// the file as it is, mwctl sends too, unless a run names several repositories.
    #[test]
    fn the_reader_and_the_validator_agree(runs in elements(), wrapped in any::<bool>()) {
        let file = if wrapped {
            serde_json::to_vec(&json!({ "workflow_runs": &runs }))
        } else {
            serde_json::to_vec(&runs)
        }
        .expect("json");
        let body = serde_json::to_vec(&json!({ "workflow_runs": &runs })).expect("json");
        let local = read_file(&file, now());
        let server = parse_batch(&body, now());
        // mwctl's own rule on top of the protocol's: one repository per run.
        let sendable = |accepted: &[Run]| -> (Vec<Run>, usize) {
            let mut several = 0;
            let runs = accepted
                .iter()
                .cloned()
                .filter_map(|mut run| match one_repository(&mut run) {
                    Ok(_) => Some(run),
                    Err(_) => {
                        several += 1;
                        None
                    }
                })
                .collect();
            (runs, several)
        };
        match (&local, &server) {
            (Ok(file), _) if file.invalid == 0 && !file.sent.is_empty() => {
                let sent = serde_json::to_vec(&json!({ "workflow_runs": &file.sent })).expect("json");
                let taken = parse_batch(&sent, now()).map_err(|r| {
                    TestCaseError::fail(format!("the server refused what mwctl sends: {}", r.error))
                })?;
                prop_assert_eq!(
                    serde_json::to_value(&taken).ok(),
                    serde_json::to_value(&file.runs).ok()
                );
                if let Ok(accepted) = &server {
                    let (accepted, several) = sendable(accepted);
                    prop_assert_eq!(several, 0);
                    prop_assert_eq!(
                        serde_json::to_value(&accepted).ok(),
                        serde_json::to_value(&file.runs).ok()
                    );
                }
            }
            (Ok(file), Ok(accepted)) => {
                let (_, several) = sendable(accepted);
                prop_assert_eq!(
                    file.invalid, several,
                    "mwctl refuses runs the server takes, beyond those naming several repositories"
                );
            }
            (Ok(file), Err(rejection)) => {
                // Only the batch-level rule differs: a file may hold no runs at all.
                prop_assert!(
                    file.invalid > 0 || runs.is_empty(),
                    "mwctl found nothing wrong but the server said: {}",
                    rejection.error
                );
            }
            (Err(e), _) => prop_assert!(false, "a JSON array of values is a readable file: {}", e),
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    for depth in [200, 10_000, 100_000] {
        let body = format!(
            "{{\"workflow_runs\": [{{\"meta\": {}{}}}]}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let rejection = parse_batch(body.as_bytes(), now()).expect_err("refused");
        assert_eq!(rejection.exception_type, ExceptionType::InvalidPayload);
        assert!(read_file(body.as_bytes(), now()).is_err());
    }
}
