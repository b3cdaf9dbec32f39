//! Validation while streaming: each batch of records is parsed (and mapped, for exports) and
//! checked with the protocol's rules, and ids already seen earlier in the input are caught.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Decoder, Format, InputError, Overrides, RecordBatch};
use crate::protocol::validate::validate_element;
use crate::protocol::{FieldError, RawRun, Run};

/// A valid run, as it will be sent.
#[derive(Debug)]
pub struct CheckedRun {
    /// Its record number in the input (from 0).
    pub record: u64,
    /// The run as JSON: the record's own text for runs files (the server applies the same
    /// rules, and re-encoding would cost as much as parsing), the mapped run for exports.
    pub json: Box<str>,
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
    /// For exports: the run it was mapped to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<RawRun>,
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
}

/// How many (workflow, id) pairs the repeat check remembers. The table is allocated once
/// (about 19 MiB: 2^21 slots of 8 bytes plus control bytes), so memory does not grow with
/// the input; past this many runs, later runs are still checked against the ones remembered.
pub const REMEMBERED_IDS: usize = 1_835_008;

/// Checks batches in input order, remembering the (workflow, id) pairs seen so far.
pub struct Checker {
    name: String,
    decoder: Decoder,
    now: DateTime<Utc>,
    /// 64-bit hashes, not the ids: 8 bytes a run whatever the ids' length. A collision (about
    /// one chance in 10^7 for a million runs) would report a run as a repeat.
    seen: HashSet<u64>,
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
            seen: HashSet::new(),
            unremembered: 0,
        }
    }

    /// Runs past [`REMEMBERED_IDS`], whose own ids later runs were not checked against.
    pub fn unremembered(&self) -> u64 {
        self.unremembered
    }

    /// Whether this run's (workflow, id) came earlier in the input; remembers it.
    fn repeated(&mut self, run: &Run) -> bool {
        if self.seen.capacity() == 0 {
            self.seen.reserve(REMEMBERED_IDS);
        }
        let hash = id_hash(run);
        if self.seen.contains(&hash) {
            return true;
        }
        // Within the capacity reserved, the table never grows.
        if self.seen.len() < REMEMBERED_IDS {
            self.seen.insert(hash);
        } else {
            self.unremembered += 1;
        }
        false
    }

    pub fn check(&mut self, batch: RecordBatch) -> Result<Checked, InputError> {
        let first_record = batch.records.first().map_or(0, |r| r.number);
        let mut checked = Checked {
            index: batch.index,
            first_record,
            records: batch.records.len() as u64,
            runs: Vec::with_capacity(batch.records.len()),
            rejects: Vec::new(),
        };
        for record in batch.records {
            let element = self.decoder.decode(&record.text).map_err(|e| {
                let place = match record.line {
                    Some(line) => format!("line {line}, column {}", e.column()),
                    None => format!("record {}", record.number),
                };
                InputError::json_at(&self.name, &place, &e)
            })?;
            let index = usize::try_from(record.number).unwrap_or(usize::MAX);
            let mut errors = Vec::new();
            let run = validate_element(element, index, self.now, &mut errors);
            if let Some(run) = &run
                && self.repeated(run)
            {
                errors.push(FieldError {
                    index,
                    field: "workflow_run_unique_id".to_owned(),
                    message: format!(
                        "{:?} was already used by an earlier run of workflow {:?} in this input; each run needs its own id",
                        run.workflow_run_unique_id, run.workflow_name
                    ),
                });
            }
            match run {
                Some(run) if errors.is_empty() => {
                    let json = match self.decoder.format {
                        Format::Json | Format::Ndjson => record.text,
                        Format::Github | Format::Gitlab => encode(&run)?,
                    };
                    checked.runs.push(CheckedRun {
                        record: record.number,
                        json,
                    });
                }
                _ => {
                    for error in &mut errors {
                        self.decoder.explain(error);
                    }
                    checked.rejects.push(self.reject(
                        record.number,
                        record.line,
                        errors,
                        record.text,
                    ));
                }
            }
        }
        Ok(checked)
    }

    fn reject(
        &self,
        record: u64,
        line: Option<u64>,
        errors: Vec<FieldError>,
        text: Box<str>,
    ) -> Reject {
        // Rare: decoding again is cheaper than keeping a copy of every record just in case.
        let mapped = match self.decoder.format {
            Format::Json | Format::Ndjson => None,
            Format::Github | Format::Gitlab => match self.decoder.decode(&text) {
                Ok(crate::protocol::Element::Object(raw)) => Some(*raw),
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

fn id_hash(run: &Run) -> u64 {
    // DefaultHasher::new() has fixed keys: the same ids hash the same way for the whole input.
    let mut hasher = DefaultHasher::new();
    (&run.workflow_name, &run.workflow_run_unique_id).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Record;

    const RUN: &str = r#"{"workflow_name":"d","repo_urls":["https://github.com/a/b"],"event_actor":"x","head_branch":"main","workflow_run_unique_id":"1","status":"SUCCESS","workflow_run_conducted_at":"2024-01-01T00:00:00Z"}"#;

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
                .is_some_and(|m| m.repo_urls.is_some())
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
