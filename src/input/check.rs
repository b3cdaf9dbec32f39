//! Validation while streaming: each batch of records is parsed (and mapped, for exports) and
//! checked with the protocol's rules, and ids already seen earlier in the input are caught.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use memchr::memmem;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Decoder, Format, InputError, Kind, Overrides, Record, RecordBatch};
use crate::protocol::incident::{Incident, validate_incident_element};
use crate::protocol::run::wire_time;
use crate::protocol::validate::{WireForm, one_repository, repo_keys, validate_element_for_wire};
use crate::protocol::{FieldError, Run};

/// A valid run, as it will be sent.
#[derive(Debug)]
pub struct CheckedRun {
    /// Its record number in the input (from 0).
    pub record: u64,
    /// The run as JSON, in its wire form: the record's own text for a run of a runs file that
    /// is already in it (re-encoding would cost as much as parsing), else the run re-encoded
    /// (canonical repository URL, id as a string...), and the mapped run for exports.
    pub json: Box<str>,
}

/// How many repositories [`Repositories`] lists (memory stays bounded whatever the input).
pub const LISTED_REPOSITORIES: usize = 1000;

/// The repositories the valid runs name, in the canonical form mwctl sends, with how many runs
/// each and how the input spelled them when it differs: what `validate` and `send` show.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Repositories {
    pub listed: BTreeMap<String, RepositoryUse>,
    /// Runs of repositories past the first [`LISTED_REPOSITORIES`].
    #[serde(skip_serializing_if = "is_zero")]
    pub unlisted_runs: u64,
    /// Runs that give only `repo_names` (upstream Middleware refuses them), and the first one.
    #[serde(skip_serializing_if = "is_zero")]
    pub names_only_runs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_names_only: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RepositoryUse {
    pub runs: u64,
    /// Other spellings in the input (the first few), e.g. `git@github.com:acme/shop.git`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub written_as: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Repositories {
    /// Adds what `other` (a later batch's) counted.
    pub fn merge(&mut self, other: Repositories) {
        self.unlisted_runs += other.unlisted_runs;
        self.names_only_runs += other.names_only_runs;
        if self.first_names_only.is_none() {
            self.first_names_only = other.first_names_only;
        }
        for (url, used) in other.listed {
            if !self.listed.contains_key(&url) && self.listed.len() >= LISTED_REPOSITORIES {
                self.unlisted_runs += used.runs;
                continue;
            }
            let entry = self.listed.entry(url).or_default();
            entry.runs += used.runs;
            for spelled in used.written_as {
                if entry.written_as.len() < 3 && !entry.written_as.contains(&spelled) {
                    entry.written_as.push(spelled);
                }
            }
        }
    }

    fn add(&mut self, record: u64, url: Option<&String>, spelled: Option<&str>) {
        let Some(url) = url else {
            self.names_only_runs += 1;
            self.first_names_only.get_or_insert(record);
            return;
        };
        // Looked up before inserting: most runs name a repository already listed, and the
        // key is not copied for them.
        if !self.listed.contains_key(url) {
            if self.listed.len() >= LISTED_REPOSITORIES {
                self.unlisted_runs += 1;
                return;
            }
            self.listed.insert(url.clone(), RepositoryUse::default());
        }
        let Some(entry) = self.listed.get_mut(url) else {
            return;
        };
        entry.runs += 1;
        if let Some(spelled) = spelled
            .filter(|spelled| spelled != url)
            .map(crate::protocol::strip_credentials)
            && spelled != *url
            && entry.written_as.len() < 3
            && !entry.written_as.contains(&spelled)
        {
            entry.written_as.push(spelled);
        }
    }
}

/// A record that is not a valid run, and why.
#[derive(Debug, Serialize)]
pub struct Reject {
    pub record: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub errors: Vec<FieldError>,
    /// The record as read.
    pub input: Box<RawValue>,
    /// For exports: the run (or incident) it was mapped to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<serde_json::Value>,
}

/// One batch after validation.
#[derive(Debug)]
pub struct Checked {
    pub index: u64,
    /// Number of the batch's first record; it has `records` of them.
    pub first_record: u64,
    pub records: u64,
    pub runs: Vec<CheckedRun>,
    pub rejects: Vec<Reject>,
    /// The repositories of this batch's valid runs.
    pub repositories: Repositories,
}

impl Checked {
    /// Nothing checked yet of `batch`.
    fn new(batch: &RecordBatch) -> Checked {
        Checked {
            index: batch.index,
            first_record: batch.records.first().map_or(0, |r| r.number),
            records: batch.records.len() as u64,
            runs: Vec::with_capacity(batch.records.len()),
            rejects: Vec::new(),
            repositories: Repositories::default(),
        }
    }
}

/// How many (repository, workflow, id) triples the repeat check remembers. The table is allocated once
/// (about 19 MiB: 2^21 slots of 8 bytes plus control bytes), so memory does not grow with
/// the input; past this many runs, later runs are still checked against the ones remembered.
pub const REMEMBERED_IDS: usize = 1_835_008;

/// Checks batches in input order, remembering the (repository, workflow, id) triples seen so
/// far: the run's identity on the server, where the same id in two repositories is two runs.
pub struct Checker {
    name: String,
    decoder: Decoder,
    now: DateTime<Utc>,
    /// 64-bit hashes, not the ids: 8 bytes a run whatever the ids' length. A collision (about
    /// one chance in 10^7 for a million runs) would report a run as a repeat.
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    /// Runs whose ids did not fit in `seen`.
    unremembered: u64,
}

impl Checker {
    /// `name` is how errors name the input.
    pub fn new(name: &str, format: Format, overrides: Overrides, now: DateTime<Utc>) -> Checker {
        Checker {
            name: name.to_owned(),
            decoder: Decoder { format, overrides },
            now,
            seen: HashSet::default(),
            unremembered: 0,
        }
    }

    /// Runs past [`REMEMBERED_IDS`], whose own ids later runs were not checked against.
    pub fn unremembered(&self) -> u64 {
        self.unremembered
    }

    /// The repository of this run that already had its (workflow, id) earlier in the input;
    /// remembers them.
    fn repeated(&mut self, run: &Run) -> Option<String> {
        if self.seen.capacity() == 0 {
            self.seen.reserve(REMEMBERED_IDS);
        }
        let mut repeated = None;
        for repo in repo_keys(run) {
            let hash = id_hash(&repo, run);
            if self.seen.contains(&hash) {
                repeated.get_or_insert(repo.into_owned());
                continue;
            }
            // Within the capacity reserved, the table never grows.
            if self.seen.len() < REMEMBERED_IDS {
                self.seen.insert(hash);
            } else {
                self.unremembered += 1;
            }
        }
        repeated
    }

    pub fn check(&mut self, batch: RecordBatch) -> Result<Checked, InputError> {
        if self.decoder.format.kind() == Kind::Incidents {
            return self.check_incidents(batch);
        }
        let mut checked = Checked::new(&batch);
        for record in batch.records {
            let Some(element) = self
                .decoder
                .decode(&record.text)
                .map_err(|e| self.json_error(&record, &e))?
            else {
                continue;
            };
            let index = usize::try_from(record.number).unwrap_or(usize::MAX);
            let spelled = first_repo_url(&element);
            let mut errors = Vec::new();
            let mut run = validate_element_for_wire(element, index, self.now, &mut errors);
            if let Some((run, wire)) = &mut run {
                match one_repository(run) {
                    Ok(true) => *wire = WireForm::Rewritten,
                    Ok(false) => {}
                    Err(message) => errors.push(FieldError {
                        index,
                        field: "repo_urls".to_owned(),
                        message,
                    }),
                }
            }
            if let Some((run, _)) = &run
                && errors.is_empty()
                && let Some(repo) = self.repeated(run)
            {
                errors.push(FieldError {
                    index,
                    field: "workflow_run_unique_id".to_owned(),
                    message: format!(
                        "{:?} was already used by an earlier run of workflow {:?} of {repo} in this input; each run needs its own id",
                        run.workflow_run_unique_id, run.workflow_name
                    ),
                });
            }
            match run {
                Some((run, wire)) if errors.is_empty() => {
                    checked.repositories.add(
                        record.number,
                        run.repo_urls.first(),
                        spelled.as_deref(),
                    );
                    let json = match (self.decoder.format, wire) {
                        (Format::Json | Format::Ndjson, WireForm::AsReceived) => record.text,
                        (Format::Json | Format::Ndjson, WireForm::TimeOnly(received)) => {
                            match with_time(&record.text, &received, &run) {
                                Some(text) => text,
                                None => encode(&run)?,
                            }
                        }
                        _ => encode(&run)?,
                    };
                    checked.runs.push(CheckedRun {
                        record: record.number,
                        json,
                    });
                }
                _ => checked.rejects.push(self.reject(record, errors)),
            }
        }
        Ok(checked)
    }

    /// [`Checker::check`] for incidents: the protocol's rules, one repository each, and an
    /// identity (provider, key) once in the input (the server refuses a batch that repeats one).
    fn check_incidents(&mut self, batch: RecordBatch) -> Result<Checked, InputError> {
        let mut checked = Checked::new(&batch);
        for record in batch.records {
            let Some(element) = self
                .decoder
                .decode_incident(&record.text)
                .map_err(|e| self.json_error(&record, &e))?
            else {
                continue;
            };
            let index = usize::try_from(record.number).unwrap_or(usize::MAX);
            let spelled = match &element {
                crate::protocol::Element::Object(raw) => first_url(raw.repo_urls.as_ref()),
                crate::protocol::Element::NotAnObject(_) => None,
            };
            let mut errors = Vec::new();
            let incident = validate_incident_element(element, index, self.now, &mut errors);
            if let Some(incident) = &incident
                && errors.is_empty()
            {
                if incident.repo_urls.len() + incident.repo_names.len() > 1 {
                    errors.push(FieldError {
                        index,
                        field: "repo_urls".to_owned(),
                        message: "mwctl sends one repository per incident; name only the \
                                  affected one"
                            .to_owned(),
                    });
                } else if self.repeated_incident(incident) {
                    errors.push(FieldError {
                        index,
                        field: "incident_key".to_owned(),
                        message: format!(
                            "{:?} of provider {:?} was already in an earlier record of this \
                             input; keep one record per incident (its latest state)",
                            incident.incident_key, incident.provider
                        ),
                    });
                }
            }
            match incident {
                Some(mut incident) if errors.is_empty() => {
                    if let Some(url) = incident.repo_urls.first_mut()
                        && let Ok(canonical) = crate::protocol::repo::canonical_repo_url(url)
                    {
                        *url = canonical;
                    }
                    checked.repositories.add(
                        record.number,
                        incident.repo_urls.first(),
                        spelled.as_deref(),
                    );
                    let json = serde_json::to_string(&incident)
                        .map(String::into_boxed_str)
                        .map_err(|e| {
                            InputError::new(
                                format!("cannot encode an incident: {e}"),
                                "report this as a bug",
                            )
                        })?;
                    checked.runs.push(CheckedRun {
                        record: record.number,
                        json,
                    });
                }
                _ => checked.rejects.push(self.reject(record, errors)),
            }
        }
        Ok(checked)
    }

    /// Whether this incident's identity was seen earlier in the input; remembers it.
    fn repeated_incident(&mut self, incident: &Incident) -> bool {
        let mut hasher = DefaultHasher::new();
        (&incident.provider, &incident.incident_key).hash(&mut hasher);
        let hash = hasher.finish();
        if self.seen.contains(&hash) {
            return true;
        }
        if self.seen.len() < REMEMBERED_IDS {
            self.seen.insert(hash);
        } else {
            self.unremembered += 1;
        }
        false
    }

    fn json_error(&self, record: &super::Record, e: &serde_json::Error) -> InputError {
        let place = match record.line {
            Some(line) => format!("line {line}, column {}", e.column()),
            None => format!("record {}", record.number),
        };
        InputError::json_at(&self.name, &place, e)
    }

    /// A record set aside: its errors told in the export's own field names, with the record as
    /// read (and, for exports, as mapped).
    fn reject(&self, record: Record, mut errors: Vec<FieldError>) -> Reject {
        for error in &mut errors {
            self.decoder.explain(error);
        }
        let Record {
            number: record,
            line,
            text,
        } = record;
        // Rare: decoding again is cheaper than keeping a copy of every record just in case.
        let mapped = match self.decoder.format {
            Format::Json | Format::Ndjson | Format::Incidents => None,
            Format::Github | Format::Gitlab => match self.decoder.decode(&text) {
                Ok(Some(crate::protocol::Element::Object(raw))) => serde_json::to_value(*raw).ok(),
                _ => None,
            },
            Format::Pagerduty | Format::Opsgenie => match self.decoder.decode_incident(&text) {
                Ok(Some(crate::protocol::Element::Object(raw))) => serde_json::to_value(*raw).ok(),
                _ => None,
            },
        };
        let input = RawValue::from_string(text.into_string()).unwrap_or_else(|e| {
            RawValue::from_string(serde_json::Value::from(e.to_string()).to_string())
                .unwrap_or_default()
        });
        Reject {
            record,
            line,
            errors,
            input,
            mapped,
        }
    }
}

fn encode(run: &Run) -> Result<Box<str>, InputError> {
    serde_json::to_string(run)
        .map(String::into_boxed_str)
        .map_err(|e| InputError::new(format!("cannot encode a run: {e}"), "report this as a bug"))
}

/// `text` with its `workflow_run_conducted_at` string (`received`) in wire form, when it is
/// spelled plainly and only once (no escapes, no same key in `meta`); `None` otherwise. Most
/// runs files write times with `Z`: this keeps them from being re-encoded whole.
fn with_time(text: &str, received: &str, run: &Run) -> Option<Box<str>> {
    const KEY: &str = "\"workflow_run_conducted_at\"";
    // One searcher for the whole input: `str::find` sets one up per call, which cost more
    // than the search (a tenth of checking a million runs).
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(KEY));
    let at = FINDER.find(text.as_bytes())?;
    let after_key = at + KEY.len();
    if FINDER.find(&text.as_bytes()[after_key..]).is_some() {
        return None;
    }
    let rest = &text[after_key..];
    let value = rest.trim_start().strip_prefix(':')?.trim_start();
    let literal = value.strip_prefix('"')?.strip_prefix(received)?;
    if !literal.starts_with('"') {
        return None;
    }
    let start = text.len() - value.len() + 1;
    let end = start + received.len();
    let wire = wire_time(&run.workflow_run_conducted_at);
    let mut out = String::with_capacity(text.len() + wire.len());
    out.push_str(&text[..start]);
    out.push_str(&wire);
    out.push_str(&text[end..]);
    Some(out.into_boxed_str())
}

/// The hasher of a set of [`id_hash`]es: they are SipHash values already, and hashing them
/// again was a twentieth of checking a backfill.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; any other key still gets a hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

fn id_hash(repo: &str, run: &Run) -> u64 {
    // DefaultHasher::new() has fixed keys: the same ids hash the same way for the whole input.
    let mut hasher = DefaultHasher::new();
    (repo, &run.workflow_name, &run.workflow_run_unique_id).hash(&mut hasher);
    hasher.finish()
}

/// The first repository URL of a record as the input spells it (for showing the canonical
/// form next to it).
fn first_repo_url(element: &crate::protocol::RunElement) -> Option<String> {
    match element {
        crate::protocol::Element::Object(raw) => first_url(raw.repo_urls.as_ref()),
        crate::protocol::Element::NotAnObject(_) => None,
    }
}

/// The first of a record's `repo_urls` as written, when it is a string.
fn first_url(repo_urls: Option<&serde_json::Value>) -> Option<String> {
    repo_urls?.as_array()?.first()?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Record;

    const RUN: &str = r#"{"workflow_name":"d","repo_urls":["https://github.com/a/b"],"event_actor":"x","head_branch":"main","workflow_run_unique_id":"1","status":"SUCCESS","workflow_run_conducted_at":"2024-01-01T00:00:00+00:00"}"#;

    fn batch(index: u64, first: u64, texts: &[&str]) -> RecordBatch {
        RecordBatch {
            index,
            records: texts
                .iter()
                .enumerate()
                .map(|(i, t)| Record {
                    number: first + i as u64,
                    line: None,
                    text: (*t).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn valid_runs_keep_their_text_and_problems_are_listed_by_record() {
        let mut checker = Checker::new("f", Format::Json, Overrides::default(), Utc::now());
        let other = RUN.replace("\"1\"", "\"2\"");
        let checked = checker
            .check(batch(0, 0, &[RUN, "5", &other]))
            .expect("checks");
        assert_eq!(checked.records, 3);
        let records: Vec<_> = checked.runs.iter().map(|r| r.record).collect();
        assert_eq!(records, [0, 2]);
        assert_eq!(&*checked.runs[0].json, RUN);
        assert_eq!(checked.rejects.len(), 1);
        assert_eq!(checked.rejects[0].record, 1);
        assert_eq!(checked.rejects[0].errors[0].index, 1);
        assert_eq!(checked.rejects[0].input.get(), "5");

        // The same id again, in a later batch, is a repeat.
        let again = checker.check(batch(1, 3, &[RUN])).expect("checks");
        assert!(again.runs.is_empty());
        assert_eq!(again.rejects[0].record, 3);
        assert!(again.rejects[0].errors[0].message.contains("already used"));
    }

    #[test]
    fn runs_not_in_wire_form_are_re_encoded() {
        let mut checker = Checker::new("f", Format::Json, Overrides::default(), Utc::now());
        let odd = r#"{"workflow_name":"d","repo_urls":["git@GitHub.com:a/b.git","https://github.com/A/B/"],"repo_names":["a/b"],"event_actor":"x","head_branch":"main","workflow_run_unique_id":42,"status":"canceled","workflow_run_conducted_at":"2024-01-01T02:00:00.5+0200","duration":"7","html_url":"https://u:tok@ci.example.com/1"}"#;
        let checked = checker.check(batch(0, 0, &[odd])).expect("checks");
        assert!(checked.rejects.is_empty(), "{:?}", checked.rejects);
        let sent: serde_json::Value = serde_json::from_str(&checked.runs[0].json).expect("json");
        assert_eq!(
            sent,
            serde_json::json!({
                "workflow_name": "d",
                "repo_urls": ["https://github.com/a/b"],
                "event_actor": "x",
                "head_branch": "main",
                "workflow_run_unique_id": "42",
                "status": "CANCELLED",
                "workflow_run_conducted_at": "2024-01-01T02:00:00.500000+02:00",
                "duration": 7,
                "html_url": "https://ci.example.com/1"
            })
        );
        let repos = &checked.repositories;
        assert_eq!(repos.listed["https://github.com/a/b"].runs, 1);
        assert_eq!(
            repos.listed["https://github.com/a/b"].written_as,
            ["git@GitHub.com:a/b.git"]
        );
    }

    #[test]
    fn a_time_spelled_otherwise_is_rewritten_in_place() {
        let mut checker = Checker::new("f", Format::Json, Overrides::default(), Utc::now());
        let zulu = RUN
            .replace("+00:00", "Z")
            .replace("\"main\"", "\"main\", \"extra\": {\"kept\": true}");
        let spaced = zulu.replace(
            "\"workflow_run_conducted_at\":",
            "\"workflow_run_conducted_at\" :  ",
        );
        let in_meta = zulu.replace(
            "\"extra\"",
            "\"meta\": {\"workflow_run_conducted_at\": \"2024-01-01T00:00:00Z\"}, \"extra\"",
        );
        let checked = checker
            .check(batch(
                0,
                0,
                &[
                    &zulu,
                    &spaced.replace("\"1\"", "\"2\""),
                    &in_meta.replace("\"1\"", "\"3\""),
                ],
            ))
            .expect("checks");
        assert!(checked.rejects.is_empty(), "{:?}", checked.rejects);
        // In place: the rest of the record, unknown fields included, as it was.
        assert_eq!(
            &*checked.runs[0].json,
            zulu.replace("00:00Z", "00:00+00:00")
        );
        assert!(
            checked.runs[1]
                .json
                .contains("\"workflow_run_conducted_at\" :  \"2024-01-01T00:00:00+00:00\"")
        );
        // The key twice: re-encoded (without the unknown field).
        assert!(
            !checked.runs[2].json.contains("extra"),
            "{}",
            checked.runs[2].json
        );
        assert!(
            checked.runs[2]
                .json
                .contains("\"workflow_run_conducted_at\":\"2024-01-01T00:00:00+00:00\"")
        );
    }

    #[test]
    fn one_repository_per_run_and_ids_per_repository() {
        let mut checker = Checker::new("f", Format::Json, Overrides::default(), Utc::now());
        let in_repo = |url: &str| RUN.replace("https://github.com/a/b", url);
        let two = RUN.replace(
            r#"["https://github.com/a/b"]"#,
            r#"["https://github.com/a/b","https://github.com/a/c"]"#,
        );
        let checked = checker
            .check(batch(
                0,
                0,
                &[
                    RUN,
                    &in_repo("https://github.com/a/c"),
                    &in_repo("git@github.com:A/C.git"),
                    &two,
                ],
            ))
            .expect("checks");
        let valid: Vec<_> = checked.runs.iter().map(|r| r.record).collect();
        assert_eq!(
            valid,
            [0, 1],
            "the same id in another repository is another run"
        );
        assert!(
            checked.rejects[0].errors[0]
                .message
                .contains("already used"),
            "{:?}",
            checked.rejects[0]
        );
        assert!(
            checked.rejects[1].errors[0]
                .message
                .contains("mwctl sends one repository per run"),
            "{:?}",
            checked.rejects[1]
        );
    }

    #[test]
    fn export_problems_name_the_export_field() {
        let mut checker = Checker::new("f", Format::Gitlab, Overrides::default(), Utc::now());
        let pipeline = r#"{"id":1,"status":"success","ref":"main","sha":"abcdef1","web_url":"https://gitlab.com/a/b/-/pipelines/1","created_at":"2024-01-01T00:00:00Z","user":{"username":"u"}}"#;
        let checked = checker.check(batch(0, 0, &[pipeline])).expect("checks");
        let reject = &checked.rejects[0];
        assert_eq!(reject.errors[0].field, "workflow_name");
        assert!(
            reject.errors[0].message.contains("--workflow-name"),
            "{:?}",
            reject.errors
        );
        assert!(
            reject
                .mapped
                .as_ref()
                .is_some_and(|m| m.get("repo_urls").is_some())
        );
    }

    #[test]
    fn unparsable_lines_stop_with_their_place() {
        let mut checker = Checker::new(
            "runs.ndjson",
            Format::Ndjson,
            Overrides::default(),
            Utc::now(),
        );
        let mut b = batch(0, 0, &["{\"a\": }"]);
        b.records[0].line = Some(7);
        let err = checker.check(b).expect_err("bad line");
        assert!(
            err.what.starts_with("runs.ndjson: line 7, column 7:"),
            "{}",
            err.what
        );
    }
}
