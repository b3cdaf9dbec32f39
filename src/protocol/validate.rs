//! The protocol's validation rules, run by the server on ingest and by `mwctl send`/`validate`
//! before sending. Every problem of a batch is collected, each with its run index and field.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::answer::{ExceptionType, FieldError, Rejection};
use super::repo::{RepoName, RepoRef, strip_credentials};
use super::run::{RawRun, Run, RunElement, RunStatus, json_type, wire_time};

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
    validate_run_for_wire(raw, index, now, errors).map(|(run, _)| run)
}

/// How a valid run's wire form compares with what was received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireForm {
    /// The same: the received JSON can be sent as it is.
    AsReceived,
    /// Only `workflow_run_conducted_at` is spelled otherwise (e.g. `…Z` for `…+00:00`): the
    /// received string.
    TimeOnly(String),
    /// Anything else differs: a repository URL not in canonical form, a numeric id, a status
    /// spelled another way, a duration that is not a whole number, credentials in `html_url`.
    Rewritten,
}

/// [`validate_run`], also saying how the run's wire form compares with what was received.
/// `mwctl send` sends a record's own text when it is the same (re-encoding costs as much as
/// parsing), and the run re-encoded when not.
pub fn validate_run_for_wire(
    raw: RawRun,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<(Run, WireForm)> {
    let before = errors.len();
    let mut c = Checker::new(index, errors);

    let workflow_name = c.text("workflow_name", raw.workflow_name);
    let repos = c.repos(raw.repo_urls, raw.repo_names);
    let event_actor = c.text("event_actor", raw.event_actor);
    let head_branch = c.text("head_branch", raw.head_branch);
    let unique_id = c.unique_id(raw.workflow_run_unique_id);
    let status = c.status(raw.status);
    let conducted_at = c.timestamp(
        "workflow_run_conducted_at",
        raw.workflow_run_conducted_at,
        now,
    );
    let duration = c.duration(raw.duration);
    let html_url = c.http_url("html_url", raw.html_url);
    let commit_sha = c.commit_sha(raw.commit_sha);
    let meta = c.meta(raw.meta);
    let (repo_urls, repo_names) = repos.unzip();

    let wire = match (c.rewritten, c.time_as_received.take()) {
        (true, _) => WireForm::Rewritten,
        (false, Some(time)) => WireForm::TimeOnly(time),
        (false, None) => WireForm::AsReceived,
    };
    if errors.len() > before {
        return None;
    }
    let run = Run {
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
    };
    Some((run, wire))
}

/// mwctl's own rule for what it sends, stricter than the protocol's: one repository per run.
/// Upstream Middleware resolves every `repo_urls` entry in its worker, after answering
/// "accepted", and fails the whole request when one is not linked; so a run that names two
/// repositories is refused here, before anything is sent, with how to split it. `repo_names`
/// that designate the run's URL's repository are redundant and dropped. Returns whether the
/// run changed.
pub fn one_repository(run: &mut Run) -> Result<bool, String> {
    let Some(url) = run.repo_urls.first() else {
        return match run.repo_names.len() {
            0 | 1 => Ok(false),
            n => Err(several(n, &run.repo_names)),
        };
    };
    // The common case, decided without parsing the URL again.
    if run.repo_urls.len() == 1 && run.repo_names.is_empty() {
        return Ok(false);
    }
    let Ok(repo) = RepoRef::parse_url(url) else {
        return Ok(false);
    };
    let mut others: Vec<String> = run.repo_urls[1..].to_vec();
    for name in &run.repo_names {
        let same = RepoName::parse(name).is_ok_and(|n| repo.matches_name(&n));
        if !same {
            others.push(name.clone());
        }
    }
    if !others.is_empty() {
        let mut all = vec![url.clone()];
        all.extend(others);
        return Err(several(all.len(), &all));
    }
    let changed = !run.repo_names.is_empty();
    run.repo_names.clear();
    Ok(changed)
}

fn several(n: usize, repos: &[String]) -> String {
    format!(
        "names {n} repositories ({}); mwctl sends one repository per run, since upstream Middleware fails the whole request when one of them is not linked: write one run per repository, each with the same workflow_run_unique_id (e.g. jq '[.[] | . as $r | $r.repo_urls[] | $r + {{repo_urls: [.]}}]')",
        repos.join(", ")
    )
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
    validate_element_for_wire(element, index, now, errors).map(|(run, _)| run)
}

/// [`validate_element`] with [`validate_run_for_wire`]'s verdict on the wire form.
pub fn validate_element_for_wire(
    element: RunElement,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<(Run, WireForm)> {
    match element {
        RunElement::Object(raw) => validate_run_for_wire(*raw, index, now, errors),
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

/// The repositories a run designates, as keys that compare the way the server resolves them
/// (host, org and name, ignoring case; `repo_names` entries as written, ignoring case).
pub fn repo_keys(run: &Run) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    let urls = run.repo_urls.iter().map(|url| {
        let url = url.strip_prefix("https://").unwrap_or(url);
        lowercase(url)
    });
    let names = run
        .repo_names
        .iter()
        .map(|name| lowercase(name.trim().trim_matches('/')));
    urls.chain(names)
}

/// `s` in lower case, borrowed when it already is (canonical URLs are): a copy per run was a
/// tenth of checking a batch for repeats.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Remembers `(repository, workflow_name, workflow_run_unique_id)`, the run's identity on the
/// server, to catch repeats within a batch: the same id in two repositories is two runs.
#[derive(Default)]
pub struct DuplicateCheck<'a> {
    seen: HashSet<(Cow<'a, str>, &'a str, &'a str)>,
}

impl<'a> DuplicateCheck<'a> {
    /// Room for `runs` runs of one repository each, so that the set never grows.
    pub fn with_capacity(runs: usize) -> Self {
        DuplicateCheck {
            seen: HashSet::with_capacity(runs),
        }
    }

    /// Returns an error message when this run's id was already seen for its workflow in one of
    /// its repositories.
    pub fn check(&mut self, run: &'a Run) -> Option<String> {
        let mut repeated = None;
        for repo in repo_keys(run) {
            let key = (
                repo,
                run.workflow_name.as_str(),
                run.workflow_run_unique_id.as_str(),
            );
            if self.seen.contains(&key) {
                repeated.get_or_insert(key.0);
            } else {
                self.seen.insert(key);
            }
        }
        repeated.map(|repo| {
            format!(
                "{:?} appears more than once for workflow {:?} of {repo}; each run needs its own id (send updates of a run in separate requests)",
                run.workflow_run_unique_id, run.workflow_name
            )
        })
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
    let mut duplicates = DuplicateCheck::with_capacity(runs.len());
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

/// Collects errors for one record (a run, an incident): the field checks both share.
pub(super) struct Checker<'a> {
    pub(super) index: usize,
    pub(super) errors: &'a mut Vec<FieldError>,
    /// The wire form differs from what was received (see [`validate_run_for_wire`]) ...
    pub(super) rewritten: bool,
    /// ... or only the time does: as received.
    pub(super) time_as_received: Option<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(index: usize, errors: &'a mut Vec<FieldError>) -> Self {
        Checker {
            index,
            errors,
            rewritten: false,
            time_as_received: None,
        }
    }

    pub(super) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            index: self.index,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn wrong_type(&mut self, field: &str, expected: &str, got: &Value) {
        self.error(
            field,
            format!("expected {expected}, got {}", json_type(got)),
        );
    }

    /// A required string of 1 to 256 chars.
    pub(super) fn text(&mut self, field: &str, value: Option<Value>) -> Option<String> {
        self.text_up_to(field, value, MAX_TEXT_CHARS)
    }

    /// A required string of 1 to `max` chars.
    pub(super) fn text_up_to(
        &mut self,
        field: &str,
        value: Option<Value>,
        max: usize,
    ) -> Option<String> {
        match value {
            None | Some(Value::Null) => {
                self.error(field, "is required");
                None
            }
            Some(Value::String(s)) => self.check_len(field, s, max),
            Some(other) => {
                self.wrong_type(field, "a string", &other);
                None
            }
        }
    }

    fn check_len(&mut self, field: &str, s: String, max: usize) -> Option<String> {
        // `trim().is_empty()`, without looking at both ends.
        if s.chars().all(char::is_whitespace) {
            self.error(field, "must not be empty");
            return None;
        }
        // A string of at most `max` bytes has at most `max` chars: counted only when longer.
        let chars = if s.len() > max { s.chars().count() } else { 0 };
        if chars > max {
            self.error(
                field,
                format!("is {chars} characters long; at most {max} are allowed"),
            );
            return None;
        }
        Some(s)
    }

    /// `repo_urls` and `repo_names`, at least one repository in all and at most
    /// [`MAX_REPOS_PER_RUN`]; each URL once, in its canonical form (two spellings of one
    /// repository are one).
    pub(super) fn repos(
        &mut self,
        urls: Option<Value>,
        names: Option<Value>,
    ) -> Option<(Vec<String>, Vec<String>)> {
        // Each URL with its canonical form, when it is not spelled so already.
        let urls = self.list("repo_urls", urls, |s| {
            if s.len() > MAX_URL_LEN {
                return Err(format!("longer than {MAX_URL_LEN} bytes"));
            }
            RepoRef::with_parsed(s, |repo| (!repo.is_url(s)).then(|| repo.url()))
        });
        let names = self.list("repo_names", names, |s| RepoName::parse(s).map(|_| ()));
        let (urls, names) = (urls?, names?);
        // Two canonical URLs name one repository when they are equal ignoring case (as
        // `RepoRef::same_as` compares): hosts are lower case, and the name follows the last `/`.
        let mut unique: Vec<String> = Vec::with_capacity(urls.len());
        for (original, canonical) in urls {
            if canonical.is_some() {
                self.rewritten = true;
            }
            let url = canonical.unwrap_or(original);
            if unique.iter().any(|u| u.eq_ignore_ascii_case(&url)) {
                self.rewritten = true;
                continue;
            }
            unique.push(url);
        }
        if unique.is_empty() && names.is_empty() {
            self.error(
                "repo_urls",
                "give repo_urls (e.g. [\"https://github.com/org/name\"]) or repo_names (e.g. [\"org/name\"])",
            );
            return None;
        }
        if unique.len() + names.len() > MAX_REPOS_PER_RUN {
            self.error(
                "repo_urls",
                format!("at most {MAX_REPOS_PER_RUN} repositories per run"),
            );
            return None;
        }
        Some((unique, names.into_iter().map(|(s, ())| s).collect()))
    }

    /// A string, or a whole number (CI run ids often are), as 1 to 256 chars.
    fn unique_id(&mut self, value: Option<Value>) -> Option<String> {
        const FIELD: &str = "workflow_run_unique_id";
        match value {
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => {
                // Sent as a string: upstream Middleware compares ids as strings.
                self.rewritten = true;
                Some(n.to_string())
            }
            Some(Value::Number(_)) => {
                self.error(FIELD, "expected a string or a whole number");
                None
            }
            other => self.text(FIELD, other),
        }
    }

    /// An optional array of strings, each checked by `check`; each kept with what `check`
    /// made of it. Absent means empty.
    pub(super) fn list<T>(
        &mut self,
        field: &str,
        value: Option<Value>,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<(String, T)>> {
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
                    Ok(checked) => out.push((s, checked)),
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
        if let Some(status) = status
            && s != status.as_str()
        {
            self.rewritten = true;
        }
        if status.is_none() {
            self.error(
                "status",
                format!("{s:?} is not a status; use SUCCESS, FAILURE, PENDING or CANCELLED"),
            );
        }
        status
    }

    /// A required ISO 8601 time with an offset, at most [`MAX_FUTURE`] ahead of `now`.
    pub(super) fn timestamp(
        &mut self,
        field: &str,
        value: Option<Value>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<FixedOffset>> {
        let s = self.text(field, value)?;
        let Some(at) = parse_timestamp(&s) else {
            self.error(
                field,
                format!(
                    "{s:?} is not an ISO 8601 timestamp with an offset; use e.g. 2024-05-01T12:30:00Z or 2024-05-01T14:30:00+02:00"
                ),
            );
            return None;
        };
        if at.with_timezone(&Utc) > now + MAX_FUTURE {
            self.error(
                field,
                format!("{s} is more than a day in the future; check the clock and the time zone"),
            );
            return None;
        }
        // The wire form never ends in `Z`: no need to format it to know it differs.
        if s.ends_with('Z') || s != wire_time(&at) {
            self.time_as_received = Some(s);
        }
        Some(at)
    }

    fn duration(&mut self, value: Option<Value>) -> Option<Option<i64>> {
        const FIELD: &str = "duration";
        if !matches!(&value, None | Some(Value::Null))
            && !value.as_ref().is_some_and(|v| v.is_i64() || v.is_u64())
        {
            // "42" or 42.0: sent as 42.
            self.rewritten = true;
        }
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

    pub(super) fn optional_string(
        &mut self,
        field: &str,
        value: Option<Value>,
    ) -> Option<Option<String>> {
        match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(other) => {
                self.wrong_type(field, "a string", &other);
                None
            }
        }
    }

    /// An optional http(s) URL, credentials stripped.
    pub(super) fn http_url(&mut self, field: &str, value: Option<Value>) -> Option<Option<String>> {
        let Some(url) = self.optional_string(field, value)? else {
            return Some(None);
        };
        if url.len() > MAX_URL_LEN {
            self.error(
                field,
                format!(
                    "is {} bytes long; at most {MAX_URL_LEN} are allowed",
                    url.len()
                ),
            );
            return None;
        }
        if !is_http_url(&url) {
            self.error(
                field,
                format!("{:?} is not an http(s) URL", strip_credentials(&url)),
            );
            return None;
        }
        // A token in a link (`https://ci:token@…`) goes no further. (Without `@` there is
        // none: the URL is kept without a copy.)
        if url.contains('@') {
            let stripped = strip_credentials(&url);
            if stripped != url {
                self.rewritten = true;
                return Some(Some(stripped));
            }
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
        let mut sha = sha;
        sha.make_ascii_lowercase();
        Some(Some(sha))
    }

    fn meta(&mut self, value: Option<Value>) -> Option<Option<serde_json::Map<String, Value>>> {
        match value {
            None | Some(Value::Null) => Some(None),
            Some(Value::Object(map)) => {
                let size = json_len(&map);
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

/// Whether `url` is an http(s) URL with a host, as the `url` crate parses it, and without
/// whitespace (which the crate would encode or drop).
fn is_http_url(url: &str) -> bool {
    plain_http_url(url)
        || !url.contains(char::is_whitespace)
            && url::Url::parse(url).is_ok_and(|parsed| {
                matches!(parsed.scheme(), "http" | "https")
                    && parsed.host_str().is_some_and(|h| !h.is_empty())
            })
}

/// The common spelling of a CI link, recognised without parsing (a parse was a twentieth of
/// ingest): `http(s)://` and a host name of letters, digits, `-` and `.`, then nothing or
/// printable ASCII after a `/`, `?` or `#`. The `url` crate accepts all of these; anything else
/// is left to it: ports, user info, IP addresses (a last label that is a number), empty
/// labels, `xn--` labels (punycode it checks), other characters.
fn plain_http_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let last_label = host.rsplit('.').next().unwrap_or("");
    let numeric = last_label.bytes().all(|b| b.is_ascii_digit())
        || last_label
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    host.split('.').all(|label| !label.is_empty())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !numeric
        && !host
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"xn--"))
        && tail.bytes().all(|b| b.is_ascii_graphic())
}

/// How many bytes `value` takes as compact JSON, counted without writing it anywhere.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
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
        // `{"k":"…"}`: 8 bytes around the value, counted as compact JSON.
        let at_limit = json!({ "k": "x".repeat(MAX_META_BYTES - 8) });
        assert!(check(with("meta", at_limit)).is_ok());
        let over = check(with("meta", json!({ "k": "x".repeat(MAX_META_BYTES - 7) })));
        assert_eq!(
            over.expect_err("one byte over")[0].message,
            format!(
                "is {} bytes as JSON; at most {MAX_META_BYTES} are allowed",
                MAX_META_BYTES + 1
            )
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
    fn repository_urls_are_canonical_and_credentials_dropped() {
        let run = check(with(
            "repo_urls",
            json!([
                "git@GitHub.com:acme/shop.git",
                "https://WWW.github.com/acme/shop/",
                "https://gitlab.com/g/sub/app.git"
            ]),
        ))
        .expect("valid");
        assert_eq!(
            run.repo_urls,
            [
                "https://github.com/acme/shop",
                "https://gitlab.com/g/sub/app"
            ]
        );
        // Org and name compare ignoring case; the first spelling is kept.
        let run = check(with(
            "repo_urls",
            json!([
                "https://github.com/ACME/Shop",
                "git@github.com:acme/shop.git"
            ]),
        ))
        .expect("valid");
        assert_eq!(run.repo_urls, ["https://github.com/ACME/Shop"]);
        let run =
            check(with("html_url", json!("https://ci:tok@ci.example.com/r/1"))).expect("valid");
        assert_eq!(run.html_url.as_deref(), Some("https://ci.example.com/r/1"));
        let errs = check(with("html_url", json!("ftp://u:secret@x/y"))).expect_err("invalid");
        assert!(!errs[0].message.contains("secret"), "{}", errs[0].message);
    }

    #[test]
    fn plain_http_urls_are_ones_the_url_crate_accepts() {
        for url in [
            "https://ci.example.com/r/1",
            "http://Jenkins-01.corp/job/deploy/42/?x=%zz#top",
            "https://gitlab.com",
        ] {
            assert!(plain_http_url(url), "{url}");
        }
        // Left to the url crate: it refuses the first ones, and decides the others.
        for url in [
            "https://999.1.1.1/x",
            "https://a.0x1g/x",
            "https://xn--zz/x",
            "https://a..b/x",
            "https://.a/x",
            "https://a./x",
            "https:///x",
            "https://a:80/x",
            "https://u@a/x",
            "https://é.example/x",
            "ftp://a/x",
        ] {
            assert!(!plain_http_url(url), "{url}");
        }
        assert!(!is_http_url("https://999.1.1.1/x"));
        assert!(!is_http_url("https://xn--zz/x"));
        assert!(is_http_url("https://a:80/x"));
        assert!(is_http_url("https://1.2.3.4/x"));
        assert!(!is_http_url("https://a:80/x y"));
        assert!(!is_http_url("https://a/\tx"));
    }

    proptest::proptest! {
        /// The shortcut never accepts what the url crate refuses.
        #[test]
        fn plain_http_urls_parse(
            url in "https?://[a-zA-Z0-9.-]{0,14}([/?#][ -~]{0,12})?|https?://(xn--|[0-9]{1,4}[.]|0x)[a-f0-9.]{0,8}"
        ) {
            if plain_http_url(&url) {
                let parsed = url::Url::parse(&url);
                proptest::prop_assert!(
                    parsed.as_ref().is_ok_and(|p| p.host_str().is_some_and(|h| !h.is_empty())),
                    "{url}: {parsed:?}"
                );
            }
        }
    }

    #[test]
    fn one_repository_per_run() {
        let mut run = check(good()).expect("valid");
        run.repo_names = vec!["Acme/Shop".to_owned()];
        assert_eq!(
            one_repository(&mut run),
            Ok(true),
            "a redundant name is dropped"
        );
        assert!(run.repo_names.is_empty());
        run.repo_names = vec!["acme/other".to_owned()];
        let message = one_repository(&mut run).expect_err("two repositories");
        assert!(
            message.contains("https://github.com/acme/shop, acme/other"),
            "{message}"
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
                "repo_urls",
                "event_actor",
                "head_branch",
                "workflow_run_unique_id",
                "status",
                "workflow_run_conducted_at",
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
        // Another spelling of the same repository is the same run.
        let scp = with("repo_urls", json!(["git@GitHub.com:ACME/shop.git"]));
        assert!(parse_batch(&batch(vec![good(), scp]), now()).is_err());
        // The same id in another repository is another run (per-repo build numbers).
        let other = with("repo_urls", json!(["https://github.com/acme/other"]));
        assert_eq!(
            parse_batch(&batch(vec![good(), other]), now())
                .expect("two runs")
                .len(),
            2
        );

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
