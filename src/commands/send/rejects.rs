//! `--rejects FILE`: every run set aside, one JSON object per line, with why.
//!
//! Written to a private temp file next to FILE (mode 0600: runs can carry names and links
//! people did not mean to share) and renamed over FILE at the end, after an fsync: FILE is
//! never half-written, and an earlier rejects file is replaced only by a complete one.
//! Credentials in URLs (`https://user:token@…`) are removed from everything written.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::input::Reject;
use crate::protocol::FieldError;
use crate::protocol::repo::strip_credentials_in_text;

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
    mapped: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
}

pub struct RejectsFile {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    pub count: u64,
}

impl RejectsFile {
    /// Starts the file (FILE itself is replaced by [`RejectsFile::finish`]).
    pub fn create(path: &Path) -> anyhow::Result<RejectsFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map_or_else(|| "rejects".into(), |n| n.to_string_lossy());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&tmp)
            .with_context(|| format!("cannot create the rejects file {}", path.display()))?;
        Ok(RejectsFile {
            path: path.to_owned(),
            tmp,
            out: BufWriter::new(file),
            count: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A record that failed mwctl's validation.
    pub fn invalid(&mut self, reject: &Reject) -> anyhow::Result<()> {
        let input = scrubbed(&reject.input)?;
        let mapped = match &reject.mapped {
            Some(raw) => Some(scrubbed_run(raw)?),
            None => None,
        };
        self.write(&Line {
            record: reject.record,
            line: reject.line,
            rejected_by: "validation",
            errors: &scrub_errors(&reject.errors),
            input: &input,
            mapped: mapped.as_ref(),
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
            .or_else(|_| RawValue::from_string(Value::from(run).to_string()))
            .context("cannot record a rejected run")?;
        self.write(&Line {
            record,
            line: None,
            rejected_by: "server",
            errors: &scrub_errors(errors),
            input: &scrubbed(&input)?,
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

    /// Flushes, syncs and puts the file in place.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let done = self
            .out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path));
        done.map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            anyhow::Error::new(e).context(format!("cannot write {}", self.path.display()))
        })
    }
}

/// `value` with credentials removed from every URL in it.
fn scrubbed(value: &RawValue) -> anyhow::Result<Box<RawValue>> {
    let text = value.get();
    if !text.contains('@') {
        return Ok(value.to_owned());
    }
    let mut parsed: Value = serde_json::from_str(text).context("cannot record a rejected run")?;
    scrub(&mut parsed);
    Ok(serde_json::value::to_raw_value(&parsed)?)
}

fn scrubbed_run(run: &Value) -> anyhow::Result<Value> {
    let mut value = run.clone();
    scrub(&mut value);
    Ok(value)
}

fn scrub(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('@') && s.contains("://") => {
            *s = strip_credentials_in_text(s);
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        _ => {}
    }
}

fn scrub_errors(errors: &[FieldError]) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| FieldError {
            message: strip_credentials_in_text(&e.message),
            ..e.clone()
        })
        .collect()
}
