//! `--rejects FILE`: every run set aside, one JSON object per line, with why.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::input::Reject;
use crate::protocol::{FieldError, RawRun};

/// One line of the rejects file.
#[derive(Serialize)]
struct Line<'a> {
    record: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    /// `validation` (mwctl's checks) or `server` (the server rejected the run's batch).
    rejected_by: &'static str,
    errors: &'a [FieldError],
    /// The record as read (for exports, `mapped` is the run it became).
    input: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    mapped: Option<&'a RawRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
}

pub struct RejectsFile {
    path: PathBuf,
    out: BufWriter<File>,
    pub count: u64,
}

impl RejectsFile {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> anyhow::Result<RejectsFile> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the rejects file {}", path.display()))?;
        Ok(RejectsFile {
            path: path.to_owned(),
            out: BufWriter::new(file),
            count: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A record that failed mwctl's validation.
    pub fn invalid(&mut self, reject: &Reject) -> anyhow::Result<()> {
        self.write(&Line {
            record: reject.record,
            line: reject.line,
            rejected_by: "validation",
            errors: &reject.errors,
            input: &reject.input,
            mapped: reject.mapped.as_ref(),
            event_id: None,
        })
    }

    /// A run whose batch the server rejected; `run` is its JSON as sent.
    pub fn refused(
        &mut self,
        record: u64,
        errors: &[FieldError],
        run: &str,
        event_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let input: Box<RawValue> = serde_json::from_str(run)
            .or_else(|_| RawValue::from_string(serde_json::Value::from(run).to_string()))
            .context("cannot record a rejected run")?;
        self.write(&Line {
            record,
            line: None,
            rejected_by: "server",
            errors,
            input: &input,
            mapped: None,
            event_id,
        })
    }

    fn write(&mut self, line: &Line<'_>) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .with_context(|| format!("cannot write to {}", self.path.display()))?;
        self.count += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write to {}", self.path.display()))
    }
}
