//! Streaming readers for runs files and CI exports, in constant memory whatever their size:
//! a JSON array of runs, `{"workflow_runs": [...]}`, NDJSON, a GitHub Actions runs export and a
//! GitLab pipelines export; and incidents files (a JSON array, `{"incidents": [...]}`, NDJSON)
//! and PagerDuty / Opsgenie exports, from a file or stdin. The format is detected from the first bytes
//! unless forced.
//!
//! Reading yields batches of records (each record's JSON text and its number); [`Checker`]
//! then parses, maps and validates them with the protocol's rules.

mod check;
mod detect;
mod error;
mod github;
mod gitlab;
mod json;
mod ndjson;
mod opsgenie;
mod pagerduty;
mod source;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use check::{
    Checked, CheckedRun, Checker, LISTED_REPOSITORIES, REMEMBERED_IDS, Reject, Repositories,
    RepositoryUse,
};
pub use error::InputError;
pub use source::{FileIdentity, MAX_RECORD_BYTES, Meter};

use crate::protocol::RunElement;
use crate::protocol::incident::IncidentElement;
use source::Source;

/// Most bytes of record text in one batch, so that requests stay well under the server's body
/// limit (8 MiB by default) whatever the runs carry.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// What the records are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Runs: a JSON array, or `{"workflow_runs": [...]}`.
    Json,
    /// Runs, one JSON object per line.
    Ndjson,
    /// GitHub Actions workflow runs, as `gh api repos/O/R/actions/runs --paginate` prints them.
    Github,
    /// GitLab pipelines (or jobs), as the pipelines (jobs) API lists them.
    Gitlab,
    /// Incidents: a JSON array, `{"incidents": [...]}`, or one per line.
    Incidents,
    /// PagerDuty incidents, as `GET /incidents` pages list them.
    Pagerduty,
    /// Opsgenie alerts, as `GET /v2/alerts` pages list them.
    Opsgenie,
}

/// What the records of a format are sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Runs,
    Incidents,
}

impl Kind {
    /// The request body's array.
    pub fn body_key(self) -> &'static str {
        match self {
            Kind::Runs => "workflow_runs",
            Kind::Incidents => "incidents",
        }
    }

    /// How messages name the records.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Runs => "runs",
            Kind::Incidents => "incidents",
        }
    }

    /// One record: "run", "incident".
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Runs => "run",
            Kind::Incidents => "incident",
        }
    }

    /// "1 run", "2 runs", "1 incident"...
    pub fn count(self, n: u64) -> String {
        if n == 1 {
            format!("1 {}", self.singular())
        } else {
            format!("{n} {}", self.noun())
        }
    }

    /// The ingest endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Runs => crate::protocol::INGEST_PATH,
            Kind::Incidents => crate::protocol::incident::INCIDENTS_PATH,
        }
    }
}

impl Format {
    /// How messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Json => "JSON runs",
            Format::Ndjson => "NDJSON runs",
            Format::Github => "GitHub Actions runs export",
            Format::Gitlab => "GitLab pipelines export",
            Format::Incidents => "incidents",
            Format::Pagerduty => "PagerDuty incidents export",
            Format::Opsgenie => "Opsgenie alerts export",
        }
    }

    /// Its `--format` value.
    pub fn flag(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Github => "github",
            Format::Gitlab => "gitlab",
            Format::Incidents => "incidents",
            Format::Pagerduty => "pagerduty",
            Format::Opsgenie => "opsgenie",
        }
    }

    /// Whether records are exports that are mapped to runs or incidents.
    pub fn is_export(self) -> bool {
        matches!(
            self,
            Format::Github | Format::Gitlab | Format::Pagerduty | Format::Opsgenie
        )
    }

    /// What its records are sent as.
    pub fn kind(self) -> Kind {
        match self {
            Format::Json | Format::Ndjson | Format::Github | Format::Gitlab => Kind::Runs,
            Format::Incidents | Format::Pagerduty | Format::Opsgenie => Kind::Incidents,
        }
    }
}

/// How records are laid out in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    /// Arrays, or objects with a `workflow_runs` array, one or several after another.
    Json,
    /// An array of pages: objects with a `workflow_runs` array, or arrays
    /// (`gh api --paginate --slurp`).
    Pages,
    /// One record per line.
    Lines,
}

/// What an export lacks, or what should replace it, for every run.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub repo: Option<String>,
    pub workflow_name: Option<String>,
}

impl Overrides {
    fn repo_urls(&self) -> Option<Value> {
        self.repo
            .as_ref()
            .map(|url| Value::Array(vec![Value::from(url.as_str())]))
    }

    fn workflow_name(&self) -> Option<Value> {
        self.workflow_name.as_deref().map(Value::from)
    }
}

/// One record of the input: its JSON text and where it is.
#[derive(Debug)]
pub struct Record {
    /// Position among the input's records, from 0 (as `jq '.[N]'` counts).
    pub number: u64,
    /// Its line, when the format has one record per line.
    pub line: Option<u64>,
    pub text: Box<str>,
}

/// Consecutive records: the unit of validation, of sending and of checkpoints.
#[derive(Debug)]
pub struct RecordBatch {
    /// Position of the batch in the input, from 0.
    pub index: u64,
    pub records: Vec<Record>,
}

/// An opened input whose format is known.
pub struct Input {
    source: Source,
    format: Format,
    container: Container,
}

impl Input {
    /// Opens a file, or stdin for `-`, and detects its format unless `forced`.
    pub fn open(path: &Path, forced: Option<Format>) -> Result<Input, InputError> {
        let source = Source::open(path)?;
        let (format, container) = detect::detect(&source.prefix, forced, &source.name)?;
        Ok(Input {
            source,
            format,
            container,
        })
    }

    /// Reads from any reader (named `name` in messages), detecting the format unless `forced`.
    /// Such an input has no identity, so no checkpoint.
    pub fn from_reader(
        name: &str,
        reader: Box<dyn std::io::Read + Send>,
        forced: Option<Format>,
    ) -> Result<Input, InputError> {
        let source = Source::from_reader(name, reader)?;
        let (format, container) = detect::detect(&source.prefix, forced, &source.name)?;
        Ok(Input {
            source,
            format,
            container,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// The file's identity (`None` for stdin).
    pub fn identity(&self) -> Option<&FileIdentity> {
        self.source.identity.as_ref()
    }

    /// Size in bytes, when known.
    pub fn size(&self) -> Option<u64> {
        self.source.size()
    }

    /// Bytes read so far, for progress.
    pub fn meter(&self) -> Arc<Meter> {
        Arc::clone(&self.source.meter)
    }

    /// Reads every record, in batches of at most `batch_size` records and
    /// [`MAX_BATCH_BYTES`], handing each batch to `sink` until the input ends or `sink` breaks.
    /// The batches depend only on the input and `batch_size`, so a second reading of the same
    /// file yields the same batches.
    pub fn read_batches(
        self,
        batch_size: usize,
        mut sink: impl FnMut(RecordBatch) -> ControlFlow<()>,
    ) -> Result<(), InputError> {
        let name = self.source.name.clone();
        let container = self.container;
        let (reader, _meter) = self.source.into_reader();
        let mut batcher = Batcher {
            batch_size: batch_size.max(1),
            index: 0,
            bytes: 0,
            records: Vec::new(),
            stopped: false,
        };
        let mut on_record = |record: Record| batcher.push(record, &mut sink);
        match container {
            Container::Json => json::read(reader, &name, false, &mut on_record)?,
            Container::Pages => json::read(reader, &name, true, &mut on_record)?,
            Container::Lines => {
                let reader = std::io::BufReader::with_capacity(256 * 1024, reader);
                ndjson::read(reader, &name, &mut on_record)?;
            }
        }
        // The last, partial batch (nothing when the consumer stopped).
        let _ = batcher.flush(&mut sink);
        Ok(())
    }
}

/// Groups records into batches.
struct Batcher {
    batch_size: usize,
    index: u64,
    bytes: usize,
    records: Vec<Record>,
    stopped: bool,
}

impl Batcher {
    fn push(
        &mut self,
        record: Record,
        sink: &mut impl FnMut(RecordBatch) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.records.is_empty() && self.bytes + record.text.len() > MAX_BATCH_BYTES {
            self.flush(sink)?;
        }
        self.bytes += record.text.len();
        self.records.push(record);
        if self.records.len() >= self.batch_size {
            self.flush(sink)?;
        }
        ControlFlow::Continue(())
    }

    fn flush(&mut self, sink: &mut impl FnMut(RecordBatch) -> ControlFlow<()>) -> ControlFlow<()> {
        if self.stopped {
            return ControlFlow::Break(());
        }
        if self.records.is_empty() {
            return ControlFlow::Continue(());
        }
        let batch = RecordBatch {
            index: self.index,
            records: std::mem::replace(&mut self.records, Vec::with_capacity(self.batch_size)),
        };
        self.index += 1;
        self.bytes = 0;
        let flow = sink(batch);
        if flow.is_break() {
            self.stopped = true;
        }
        flow
    }
}

/// Turns a record's text into a run to validate: parsed as is, or mapped from an export.
struct Decoder {
    format: Format,
    overrides: Overrides,
}

impl Decoder {
    /// A record of a runs format as a run (an incidents format is not one: `None`).
    fn decode(&self, text: &str) -> serde_json::Result<Option<RunElement>> {
        Ok(Some(match self.format {
            Format::Json | Format::Ndjson => serde_json::from_str(text)?,
            Format::Github => github::map(serde_json::from_str(text)?, &self.overrides),
            Format::Gitlab => gitlab::map(serde_json::from_str(text)?, &self.overrides),
            Format::Incidents | Format::Pagerduty | Format::Opsgenie => return Ok(None),
        }))
    }

    /// A record of an incidents format as an incident (a runs format is not one: `None`).
    fn decode_incident(&self, text: &str) -> serde_json::Result<Option<IncidentElement>> {
        Ok(Some(match self.format {
            Format::Incidents => serde_json::from_str(text)?,
            Format::Pagerduty => pagerduty::map(serde_json::from_str(text)?, &self.overrides),
            Format::Opsgenie => opsgenie::map(serde_json::from_str(text)?, &self.overrides),
            Format::Json | Format::Ndjson | Format::Github | Format::Gitlab => return Ok(None),
        }))
    }

    /// Says where a wrong field of a mapped record came from in the export.
    fn explain(&self, error: &mut crate::protocol::FieldError) {
        let source = match self.format {
            Format::Json | Format::Ndjson | Format::Incidents => None,
            Format::Github => github::source_of(&error.field),
            Format::Gitlab => gitlab::source_of(&error.field),
            Format::Pagerduty => pagerduty::source_of(&error.field),
            Format::Opsgenie => opsgenie::source_of(&error.field),
        };
        if let Some(source) = source {
            error.message = format!("{} (from {source})", error.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"{"workflow_name":"d","repo_urls":["https://github.com/a/b"],"event_actor":"x","head_branch":"main","workflow_run_unique_id":"1","status":"SUCCESS","workflow_run_conducted_at":"2024-01-01T00:00:00Z"}"#;

    fn write(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("input");
        std::fs::write(&path, content).expect("write");
        (dir, path)
    }

    /// (format, batches of record texts) or the error.
    fn read(content: &[u8], batch_size: usize) -> Result<(Format, Vec<Vec<String>>), InputError> {
        let (_dir, path) = write(content);
        let input = Input::open(&path, None)?;
        let format = input.format();
        let mut batches = Vec::new();
        let mut next = 0;
        input.read_batches(batch_size, |batch| {
            assert_eq!(batch.index, batches.len() as u64);
            let texts = batch
                .records
                .into_iter()
                .map(|r| {
                    assert_eq!(r.number, next);
                    next += 1;
                    r.text.into_string()
                })
                .collect();
            batches.push(texts);
            ControlFlow::Continue(())
        })?;
        Ok((format, batches))
    }

    #[test]
    fn every_layout_streams_records_in_batches() {
        let array = format!("[{RUN}, {RUN},\n {RUN}]");
        let (format, batches) = read(array.as_bytes(), 2).expect("array");
        assert_eq!(format, Format::Json);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(batches[0][0], RUN, "records keep their text");

        let wrapped = format!(
            r#"{{"meta": {{"x": [1, {{"y": 2}}]}}, "workflow_runs": [{RUN}], "after": "z"}}"#
        );
        assert_eq!(read(wrapped.as_bytes(), 500).expect("wrapped").1, [[RUN]]);

        let lines = format!("{RUN}\n\n{RUN}\n");
        let (format, batches) = read(lines.as_bytes(), 500).expect("ndjson");
        assert_eq!(format, Format::Ndjson);
        assert_eq!(batches[0].len(), 2);

        assert_eq!(read(b"[]", 500).expect("empty array").1.len(), 0);
    }

    #[test]
    fn paginated_exports_are_one_stream() {
        let gh =
            r#"{"id":1,"name":"ci","head_sha":"abc1234","run_started_at":"2024-01-01T00:00:00Z"}"#;
        let pages = format!(
            "{{\"total_count\":3,\"workflow_runs\":[{gh},{gh}]}}\n{{\"total_count\":3,\"workflow_runs\":[{gh}]}}"
        );
        let (format, batches) = read(pages.as_bytes(), 500).expect("pages");
        assert_eq!(format, Format::Github);
        assert_eq!(batches[0].len(), 3);

        // `gh api --paginate --slurp`: the same pages in an array.
        let slurped = format!(
            "[{{\"total_count\":3,\"workflow_runs\":[{gh},{gh}]}},\n{{\"total_count\":3,\"workflow_runs\":[{gh}]}}]"
        );
        let (format, batches) = read(slurped.as_bytes(), 2).expect("slurped");
        assert_eq!(format, Format::Github);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);

        // Our own runs in GitHub's wrapper are our runs.
        let wrapped = format!("{{\"total_count\": 2, \"workflow_runs\": [{RUN},{RUN}]}}");
        let (format, batches) = read(wrapped.as_bytes(), 500).expect("wrapped runs");
        assert_eq!(format, Format::Json);
        assert_eq!(batches[0], [RUN, RUN]);
    }

    #[test]
    fn batches_are_bounded_in_bytes() {
        let big = format!(
            r#"{{"pad": "{}"}}"#,
            "x".repeat(MAX_RECORD_BYTES as usize - 100)
        );
        let array = format!("[{big},{big},{big},{big},{big},{big}]");
        let (_, batches) = read(array.as_bytes(), 500).expect("reads");
        assert!(batches.len() >= 2, "{}", batches.len());
        assert!(
            batches
                .iter()
                .all(|b| b.iter().map(String::len).sum::<usize>() <= MAX_BATCH_BYTES)
        );
    }

    #[test]
    fn broken_inputs_say_where() {
        for (content, says) in [
            (
                &b"[{\"a\": 1},"[..],
                "line 1, column 11: the input ends inside an array",
            ),
            (b"[{\"a\": 1}] x", "line 1, column 12"),
            (b"{\"runs\": []}", "no workflow_runs"),
            (b"{\"workflow_runs\": 5}", "workflow_runs"),
            (b"[1, 2", "line 1, column 6: the input ends inside an array"),
        ] {
            let err = read(content, 500).expect_err("broken");
            assert!(
                err.what.contains(says),
                "{:?}: {}",
                String::from_utf8_lossy(content),
                err.what
            );
            assert!(!err.fix.is_empty());
        }
        let deep = format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        // Deep nesting is one (not-a-run) record, read without recursion.
        assert_eq!(read(deep.as_bytes(), 500).expect("reads").1[0].len(), 1);
        let huge = format!("[\"{}\"]", "x".repeat(2 * MAX_RECORD_BYTES as usize));
        let err = read(huge.as_bytes(), 500).expect_err("too large");
        assert!(err.what.contains("record 0 is larger"), "{}", err.what);
    }

    #[test]
    fn the_consumer_can_stop() {
        let array = format!("[{RUN},{RUN},{RUN}]");
        let (_dir, path) = write(array.as_bytes());
        let mut seen = 0;
        Input::open(&path, None)
            .expect("opens")
            .read_batches(1, |_| {
                seen += 1;
                ControlFlow::Break(())
            })
            .expect("stops cleanly");
        assert_eq!(seen, 1);
    }
}
