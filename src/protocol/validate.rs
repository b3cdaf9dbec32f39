//! The protocol's validation rules, run by the server on ingest and by `mwctl send`/`validate`
//! before sending. Every problem of a batch is collected, each with its run index and field.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::answer::{ExceptionType, FieldError, Rejection};
use super::repo::{RepoName, RepoRef};
use super::run::{RawRun, Run, RunElement, RunStatus, json_type};

/// Most runs in one request.
pub const MAX_RUNS_PER_BATCH: usize = 500;
/// Longest `workflow_name`, `event_actor`, `head_branch` and `workflow_run_unique_id`, in chars.
pub const MAX_TEXT_CHARS: usize = 256;
/// Longest `html_url` and repo URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Largest `meta` object, serialised, in bytes.
pub const MAX_META_BYTES: usize = 16 * 1024;
/// Most entries in `repo_urls` plus `repo_names`.
pub const MAX_REPOS_PER_RUN: usize = 20;
/// Largest `duration`: ten years, in seconds.
pub const MAX_DURATION_SECS: i64 = 10 * 366 * 24 * 3600;
/// How far in the future `workflow_run_conducted_at` may be (clock skew, time zones).
pub const MAX_FUTURE: TimeDelta = TimeDelta::days(1);

/// Where a client can read the field rules.
pub const RULES_HINT: &str = "see docs/protocol.md for the field rules";

/// Validates one run. `index` is its position in the batch, used in errors.
pub fn validate_run(
    raw: RawRun,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Run> {
    let before = errors.len();
    let mut c = Checker { index, errors };

    let workflow_name = c.text("workflow_name", raw.workflow_name);
    let repo_urls = c.list("repo_urls", raw.repo_urls, |s| {
        if s.len() > MAX_URL_LEN {
            return Err(format!("longer than {MAX_URL_LEN} bytes"));
        }
        RepoRef::parse_url(s).map(|_| ())
    });
    let repo_names = c.list("repo_names", raw.repo_names, |s| {
        RepoName::parse(s).map(|_| ())
    });
    let event_actor = c.text("event_actor", raw.event_actor);
    let head_branch = c.text("head_branch", raw.head_branch);
    let unique_id = c.unique_id(raw.workflow_run_unique_id);
    let status = c.status(raw.status);
    let conducted_at = c.conducted_at(raw.workflow_run_conducted_at, now);
    let duration = c.duration(raw.duration);
    let html_url = c.html_url(raw.html_url);
    let commit_sha = c.commit_sha(raw.commit_sha);
    let meta = c.meta(raw.meta);

    if let (Some(urls), Some(names)) = (&repo_urls, &repo_names) {
        if urls.is_empty() && names.is_empty() {
            c.error(
                "repo_urls",
                "give repo_urls (e.g. [\"https://github.com/org/name\"]) or repo_names (e.g. [\"org/name\"])",
            );
        } else if urls.len() + names.len() > MAX_REPOS_PER_RUN {
            c.error(
                "repo_urls",
                format!("at most {MAX_REPOS_PER_RUN} repositories per run"),
            );
        }
    }

    if errors.len() > before {
        return None;
    }
    Some(Run {
        workflow_name: workflow_name?,
        repo_urls: repo_urls?,
        repo_names: repo_names?,
        event_actor: event_actor?,
        head_branch: head_branch?,
        workflow_run_unique_id: unique_id?,
        status: status?,
        workflow_run_conducted_at: conducted_at?,
        duration: duration?,
        html_url: html_url?,
        commit_sha: commit_sha?,
        meta: meta?,
    })
}

/// Checks a run built in code (e.g. by `mwctl deploy`) with exactly the rules a received run
/// gets, by passing it through its wire form.
pub fn check_built_run(run: &Run, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match serde_json::to_value(run).and_then(serde_json::from_value::<RawRun>) {
        Ok(raw) => {
            validate_run(raw, 0, now, &mut errors);
        }
        Err(e) => errors.push(FieldError {
            index: 0,
            field: "workflow_runs".to_owned(),
            message: e.to_string(),
        }),
    }
    errors
}

/// Validates one element of a `workflow_runs` array.
pub fn validate_element(
    element: RunElement,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Run> {
    match element {
        RunElement::Object(raw) => validate_run(*raw, index, now, errors),
        RunElement::NotAnObject(kind) => {
            errors.push(FieldError {
                index,
                field: "workflow_runs".to_owned(),
                message: format!("expected a run object, got {kind}"),
            });
            None
        }
    }
}

/// Remembers `(workflow_name, workflow_run_unique_id)` pairs to catch repeats within a batch,
/// borrowing them from the runs (copying every id cost as much as the rest of the check).
#[derive(Default)]
pub struct DuplicateCheck<'a> {
    seen: HashSet<(&'a str, &'a str)>,
}

impl<'a> DuplicateCheck<'a> {
    /// Returns an error message when this run's id was already seen for its workflow.
    pub fn check(&mut self, run: &'a Run) -> Option<String> {
        let key = (
            run.workflow_name.as_str(),
            run.workflow_run_unique_id.as_str(),
        );
        if self.seen.insert(key) {
            None
        } else {
            Some(format!(
                "{:?} appears more than once for workflow {:?}; each run needs its own id (send updates of a run in separate requests)",
                run.workflow_run_unique_id, run.workflow_name
            ))
        }
    }
}

/// Validates a whole batch: the count, every run, and repeated ids.
pub fn validate_batch(
    elements: Vec<RunElement>,
    now: DateTime<Utc>,
) -> Result<Vec<Run>, Rejection> {
    if elements.is_empty() {
        return Err(Rejection::new(
            ExceptionType::InvalidPayload,
            "workflow_runs is empty",
            "send between 1 and 500 runs in workflow_runs",
        ));
    }
    if elements.len() > MAX_RUNS_PER_BATCH {
        return Err(Rejection::new(
            ExceptionType::InvalidPayload,
            format!(
                "{} runs in one request; at most {MAX_RUNS_PER_BATCH} are allowed",
                elements.len()
            ),
            format!(
                "split the runs into batches of at most {MAX_RUNS_PER_BATCH} (mwctl send does this for you)"
            ),
        ));
    }
    let total = elements.len();
    let mut errors = Vec::new();
    let mut runs = Vec::with_capacity(total);
    for (index, element) in elements.into_iter().enumerate() {
        if let Some(run) = validate_element(element, index, now, &mut errors) {
            runs.push((index, run));
        }
    }
    let mut duplicates = DuplicateCheck::default();
    for (index, run) in &runs {
        if let Some(message) = duplicates.check(run) {
            errors.push(FieldError {
                index: *index,
                field: "workflow_run_unique_id".to_owned(),
                message,
            });
        }
    }
    if errors.is_empty() {
        return Ok(runs.into_iter().map(|(_, run)| run).collect());
    }
    // By run, each run's problems in field order (stable sort).
    errors.sort_by_key(|e| e.index);
    let bad: HashSet<usize> = errors.iter().map(|e| e.index).collect();
    let mut rejection = Rejection::new(
        ExceptionType::InvalidPayload,
        format!(
            "{} of {total} runs are invalid; the batch was not stored",
            bad.len()
        ),
        format!("fix the runs listed in errors and send the batch again; {RULES_HINT}"),
    );
    rejection.errors = errors;
    Err(rejection)
}

#[derive(Deserialize)]
struct Batch {
    workflow_runs: Option<Vec<RunElement>>,
}

/// Parses and validates an ingest body: `{"workflow_runs": [run, ...]}`.
pub fn parse_batch(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Run>, Rejection> {
    let resolution = "send a JSON object {\"workflow_runs\": [run, ...]} with 1 to 500 runs";
    let batch: Batch = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the body is not valid JSON"
        } else {
            "the body is not a workflow_runs object"
        };
        Rejection::new(
            ExceptionType::InvalidPayload,
            format!("{what}: {e}"),
            resolution,
        )
    })?;
    let elements = batch.workflow_runs.ok_or_else(|| {
        Rejection::new(
            ExceptionType::InvalidPayload,
            "the body has no workflow_runs array",
            resolution,
        )
    })?;
    validate_batch(elements, now)
}

/// Collects errors for one run.
struct Checker<'a> {
    index: usize,
    errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            index: self.index,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn wrong_type(&mut self, field: &str, expected: &str, got: &Value) {
        self.error(
            field,
            format!("expected {expected}, got {}", json_type(got)),
        );
    }

    /// A required string of 1 to 256 chars.
    fn text(&mut self, field: &str, value: Option<Value>) -> Option<String> {
        match value {
            None | Some(Value::Null) => {
                self.error(field, "is required");
                None
            }
            Some(Value::String(s)) => self.check_len(field, s),
            Some(other) => {
                self.wrong_type(field, "a string", &other);
                None
            }
        }
    }

    fn check_len(&mut self, field: &str, s: String) -> Option<String> {
        if s.trim().is_empty() {
            self.error(field, "must not be empty");
            return None;
        }
        let chars = s.chars().count();
        if chars > MAX_TEXT_CHARS {
            self.error(
                field,
                format!("is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"),
            );
            return None;
        }
        Some(s)
    }

    /// A string, or a whole number (CI run ids often are), as 1 to 256 chars.
    fn unique_id(&mut self, value: Option<Value>) -> Option<String> {
        const FIELD: &str = "workflow_run_unique_id";
        match value {
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
            Some(Value::Number(_)) => {
                self.error(FIELD, "expected a string or a whole number");
                None
            }
            other => self.text(FIELD, other),
        }
    }

    /// An optional array of strings, each checked by `check`. Absent means empty.
    fn list(
        &mut self,
        field: &str,
        value: Option<Value>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let items = match value {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.wrong_type(field, "an array of strings", &other);
                return None;
            }
        };
        if items.len() > MAX_REPOS_PER_RUN {
            self.error(
                field,
                format!(
                    "has {} entries; at most {MAX_REPOS_PER_RUN} are allowed",
                    items.len()
                ),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(s) => match check(&s) {
                    Ok(()) => out.push(s),
                    Err(message) => {
                        self.error(&format!("{field}[{i}]"), message);
                        ok = false;
                    }
                },
                other => {
                    self.wrong_type(&format!("{field}[{i}]"), "a string", &other);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn status(&mut self, value: Option<Value>) -> Option<RunStatus> {
        let s = self.text("status", value)?;
        let status = RunStatus::parse(&s);
        if status.is_none() {
            self.error(
                "status",
                format!("{s:?} is not a status; use SUCCESS, FAILURE, PENDING or CANCELLED"),
            );
        }
        status
    }

    fn conducted_at(
        &mut self,
        value: Option<Value>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<FixedOffset>> {
        const FIELD: &str = "workflow_run_conducted_at";
        let s = self.text(FIELD, value)?;
        let Some(at) = parse_timestamp(&s) else {
            self.error(
                FIELD,
                format!(
                    "{s:?} is not an ISO 8601 timestamp with an offset; use e.g. 2024-05-01T12:30:00Z or 2024-05-01T14:30:00+02:00"
                ),
            );
            return None;
        };
        if at.with_timezone(&Utc) > now + MAX_FUTURE {
            self.error(
                FIELD,
                format!("{s} is more than a day in the future; check the clock and the time zone"),
            );
            return None;
        }
        Some(at)
    }

    fn duration(&mut self, value: Option<Value>) -> Option<Option<i64>> {
        const FIELD: &str = "duration";
        let secs = match value {
            None | Some(Value::Null) => return Some(None),
            Some(Value::Number(n)) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            }),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(other) => {
                self.wrong_type(FIELD, "whole seconds as a number", &other);
                return None;
            }
        };
        match secs {
            Some(secs) if (0..=MAX_DURATION_SECS).contains(&secs) => Some(Some(secs)),
            Some(secs) if secs < 0 => {
                self.error(
                    FIELD,
                    format!("{secs} is negative; give whole seconds >= 0"),
                );
                None
            }
            Some(secs) => {
                self.error(
                    FIELD,
                    format!("{secs} seconds is more than ten years; give the duration in seconds, not milliseconds"),
                );
                None
            }
            None => {
                self.error(FIELD, "expected whole seconds (e.g. 42 or \"42\")");
                None
            }
        }
    }

    fn optional_string(&mut self, field: &str, value: Option<Value>) -> Option<Option<String>> {
        match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(other) => {
                self.wrong_type(field, "a string", &other);
                None
            }
        }
    }

    fn html_url(&mut self, value: Option<Value>) -> Option<Option<String>> {
        let Some(url) = self.optional_string("html_url", value)? else {
            return Some(None);
        };
        if url.len() > MAX_URL_LEN {
            self.error(
                "html_url",
                format!(
                    "is {} bytes long; at most {MAX_URL_LEN} are allowed",
                    url.len()
                ),
            );
            return None;
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !host.contains(char::is_whitespace)
        });
        if !host_ok || url.contains(char::is_whitespace) {
            self.error("html_url", format!("{url:?} is not an http(s) URL"));
            return None;
        }
        Some(Some(url))
    }

    fn commit_sha(&mut self, value: Option<Value>) -> Option<Option<String>> {
        let Some(sha) = self.optional_string("commit_sha", value)? else {
            return Some(None);
        };
        if !(7..=64).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.error(
                "commit_sha",
                format!("{sha:?} is not a commit hash; give 7 to 64 hex digits"),
            );
            return None;
        }
        Some(Some(sha.to_ascii_lowercase()))
    }

    fn meta(&mut self, value: Option<Value>) -> Option<Option<serde_json::Map<String, Value>>> {
        match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::Object(map)) => {
                let size = serde_json::to_vec(&map).map_or(usize::MAX, |v| v.len());
                if size > MAX_META_BYTES {
                    self.error(
                        "meta",
                        format!("is {size} bytes as JSON; at most {MAX_META_BYTES} are allowed"),
                    );
                    return None;
                }
                Some(Some(map))
            }
            Some(other) => {
                self.wrong_type("meta", "a JSON object", &other);
                None
            }
        }
    }
}

/// Parses an ISO 8601 / RFC 3339 timestamp that carries an offset (`Z` or `±hh:mm`, `±hhmm`).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %z"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-10T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn good() -> Value {
        json!({
            "workflow_name": "deploy",
            "repo_urls": ["https://github.com/acme/shop"],
            "event_actor": "alice",
            "head_branch": "main",
            "workflow_run_unique_id": "run-1",
            "status": "success",
            "workflow_run_conducted_at": "2025-01-09T10:00:00+02:00",
            "duration": "42",
            "html_url": "https://ci.example.com/run/1",
            "commit_sha": "ABCDEF1",
            "meta": {"env": "prod"}
        })
    }

    fn check(value: Value) -> Result<Run, Vec<FieldError>> {
        let raw: RawRun = serde_json::from_value(value).expect("object");
        let mut errors = Vec::new();
        validate_run(raw, 0, now(), &mut errors).ok_or(errors)
    }

    fn fields(value: Value) -> Vec<String> {
        check(value)
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn with(key: &str, v: Value) -> Value {
        let mut run = good();
        run[key] = v;
        run
    }

    fn without(key: &str) -> Value {
        let mut run = good();
        run.as_object_mut().expect("object").remove(key);
        run
    }

    #[test]
    fn a_good_run_is_normalised() {
        let run = check(good()).expect("valid");
        assert_eq!(run.status, RunStatus::Success);
        assert_eq!(run.duration, Some(42));
        assert_eq!(run.commit_sha.as_deref(), Some("abcdef1"));
        assert_eq!(
            run.workflow_run_conducted_at.to_rfc3339(),
            "2025-01-09T10:00:00+02:00"
        );
    }

    #[test]
    fn optional_fields_may_be_null_or_absent() {
        for key in ["duration", "html_url", "commit_sha", "meta"] {
            assert!(check(with(key, Value::Null)).is_ok(), "{key}");
            assert!(check(without(key)).is_ok(), "{key}");
        }
        let mut by_name = with("repo_urls", Value::Null);
        by_name["repo_names"] = json!(["acme/shop"]);
        assert!(check(by_name).is_ok());
    }

    #[test]
    fn every_required_field_is_required() {
        for key in [
            "workflow_name",
            "event_actor",
            "head_branch",
            "workflow_run_unique_id",
            "status",
            "workflow_run_conducted_at",
        ] {
            assert_eq!(fields(without(key)), [key], "{key}");
            assert_eq!(fields(with(key, json!(""))), [key], "{key}");
        }
        assert_eq!(fields(without("repo_urls")), ["repo_urls"]);
    }

    #[test]
    fn wrong_types_are_named() {
        let errs = check(with("event_actor", json!(7))).expect_err("invalid");
        assert_eq!(errs[0].message, "expected a string, got a number");
        assert_eq!(fields(with("meta", json!([1]))), ["meta"]);
        assert_eq!(
            fields(with("repo_urls", json!("https://github.com/a/b"))),
            ["repo_urls"]
        );
        assert_eq!(fields(with("repo_urls", json!([1]))), ["repo_urls[0]"]);
        assert_eq!(fields(with("duration", json!(true))), ["duration"]);
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(fields(with("status", json!("done"))), ["status"]);
        assert!(check(with("status", json!("Canceled"))).is_ok());
        assert_eq!(fields(with("duration", json!(-1))), ["duration"]);
        assert_eq!(fields(with("duration", json!(1.5))), ["duration"]);
        assert_eq!(fields(with("duration", json!("12s"))), ["duration"]);
        assert_eq!(
            fields(with("duration", json!(1_700_000_000_000_i64))),
            ["duration"]
        );
        assert!(check(with("duration", json!(12.0))).is_ok());
        assert_eq!(fields(with("html_url", json!("ftp://x/y"))), ["html_url"]);
        assert_eq!(fields(with("html_url", json!("https://"))), ["html_url"]);
        assert_eq!(fields(with("commit_sha", json!("xyz1234"))), ["commit_sha"]);
        assert_eq!(fields(with("commit_sha", json!("abc"))), ["commit_sha"]);
        assert_eq!(
            fields(with("repo_urls", json!(["not a url"]))),
            ["repo_urls[0]"]
        );
        assert_eq!(fields(with("repo_urls", json!([]))), ["repo_urls"]);
        assert_eq!(
            fields(with("repo_names", json!(["a b"]))),
            ["repo_names[0]"]
        );
        assert_eq!(
            fields(with("workflow_name", json!("x".repeat(257)))),
            ["workflow_name"]
        );
        assert!(check(with("workflow_name", json!("é".repeat(256)))).is_ok());
        assert_eq!(
            fields(with("meta", json!({"k": "x".repeat(17_000)}))),
            ["meta"]
        );
        assert_eq!(
            fields(with("workflow_run_unique_id", json!(1.5))),
            ["workflow_run_unique_id"]
        );
        assert_eq!(
            check(with("workflow_run_unique_id", json!(123)))
                .expect("valid")
                .workflow_run_unique_id,
            "123"
        );
    }

    #[test]
    fn timestamps() {
        assert!(parse_timestamp("2025-01-09T10:00:00Z").is_some());
        assert!(parse_timestamp("2025-01-09T10:00:00.123+0530").is_some());
        assert!(parse_timestamp("2025-01-09 10:00:00+00:00").is_some());
        assert!(
            parse_timestamp("2025-01-09T10:00:00").is_none(),
            "offset required"
        );
        assert!(parse_timestamp("yesterday").is_none());
        let field = "workflow_run_conducted_at";
        assert_eq!(fields(with(field, json!("2025-01-09"))), [field]);
        assert!(check(with(field, json!("2025-01-10T23:00:00Z"))).is_ok());
        assert_eq!(fields(with(field, json!("2025-01-11T01:00:00Z"))), [field]);
        assert_eq!(fields(with(field, json!(1736467200))), [field]);
    }

    #[test]
    fn all_errors_of_a_run_are_reported() {
        let errs = check(json!({"status": 3})).expect_err("invalid");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "workflow_name",
                "event_actor",
                "head_branch",
                "workflow_run_unique_id",
                "status",
                "workflow_run_conducted_at",
                "repo_urls"
            ]
        );
    }

    fn batch(runs: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({ "workflow_runs": runs })).expect("serialises")
    }

    #[test]
    fn batches() {
        assert_eq!(
            parse_batch(&batch(vec![good()]), now())
                .expect("valid")
                .len(),
            1
        );

        let rejection = parse_batch(
            &batch(vec![good(), json!("x"), with("status", json!(1))]),
            now(),
        )
        .expect_err("invalid");
        assert_eq!(rejection.exception_type, ExceptionType::InvalidPayload);
        let at: Vec<_> = rejection
            .errors
            .iter()
            .map(|e| (e.index, e.field.as_str()))
            .collect();
        assert_eq!(at, [(1, "workflow_runs"), (2, "status")]);
        assert!(
            rejection.error.starts_with("2 of 3 runs"),
            "{}",
            rejection.error
        );

        let dup = parse_batch(&batch(vec![good(), good()]), now()).expect_err("dup");
        assert_eq!(dup.errors[0].index, 1);
        assert_eq!(dup.errors[0].field, "workflow_run_unique_id");

        assert!(parse_batch(&batch(vec![]), now()).is_err());
        assert!(
            parse_batch(&batch(vec![good(); 501]), now())
                .expect_err("too many")
                .error
                .contains("501")
        );
        for body in [
            &b"{"[..],
            b"[]",
            b"{}",
            b"{\"workflow_runs\": 1}",
            b"null",
            b"\xff",
        ] {
            let r = parse_batch(body, now()).expect_err("bad body");
            assert_eq!(r.exception_type, ExceptionType::InvalidPayload);
            assert!(!r.resolution.is_empty());
        }
    }
}
