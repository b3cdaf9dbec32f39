//! Reading runs files: a JSON array of runs, or `{"workflow_runs": [...]}`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::protocol::validate::{DuplicateCheck, validate_element};
use crate::protocol::{FieldError, Run, RunElement};

/// Reads a file, or stdin for `-`.
pub fn read_source(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct Wrapper {
    workflow_runs: Vec<RunElement>,
}

/// Parses the runs of a file, whichever of the two shapes it has.
pub fn parse_elements(bytes: &[u8], name: &str) -> anyhow::Result<Vec<RunElement>> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = match first {
        Some(b'[') => serde_json::from_slice::<Vec<RunElement>>(bytes),
        Some(b'{') => serde_json::from_slice::<Wrapper>(bytes).map(|w| w.workflow_runs),
        None => {
            bail!("{name} is empty; expected a JSON array of runs or {{\"workflow_runs\": [...]}}")
        }
        Some(_) => bail!(
            "{name} does not start with [ or {{; expected a JSON array of runs or {{\"workflow_runs\": [...]}}"
        ),
    };
    parsed.map_err(|e| {
        anyhow::anyhow!(
            "{name}: line {}, column {}: {e}\n  fix the JSON (e.g. find the spot with `jq . {name}`); the file must be a JSON array of runs or {{\"workflow_runs\": [...]}}",
            e.line(),
            e.column()
        )
    })
}

/// Every run of a file, validated with the protocol's rules, and every problem found
/// (indexes are record numbers in the file, from 0).
pub struct FileCheck {
    pub runs: Vec<Run>,
    pub errors: Vec<FieldError>,
    pub read: usize,
}

impl FileCheck {
    pub fn invalid_runs(&self) -> usize {
        let mut indexes: Vec<usize> = self.errors.iter().map(|e| e.index).collect();
        indexes.dedup();
        indexes.len()
    }
}

pub fn check(elements: Vec<RunElement>, now: DateTime<Utc>) -> FileCheck {
    let read = elements.len();
    let mut errors = Vec::new();
    let mut runs = Vec::with_capacity(read);
    let mut duplicates = DuplicateCheck::default();
    for (index, element) in elements.into_iter().enumerate() {
        if let Some(run) = validate_element(element, index, now, &mut errors) {
            match duplicates.check(&run) {
                Some(message) => errors.push(FieldError {
                    index,
                    field: "workflow_run_unique_id".to_owned(),
                    message,
                }),
                None => runs.push(run),
            }
        }
    }
    FileCheck { runs, errors, read }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"{"workflow_name":"d","repo_urls":["https://github.com/a/b"],"event_actor":"x","head_branch":"main","workflow_run_unique_id":"1","status":"SUCCESS","workflow_run_conducted_at":"2024-01-01T00:00:00Z"}"#;

    #[test]
    fn both_shapes() {
        let array = format!("[{RUN}]");
        assert_eq!(
            parse_elements(array.as_bytes(), "f").expect("array").len(),
            1
        );
        let wrapped = format!(" {{\"other\": 1, \"workflow_runs\": [{RUN}, {RUN}]}}");
        assert_eq!(
            parse_elements(wrapped.as_bytes(), "f")
                .expect("wrapped")
                .len(),
            2
        );
    }

    #[test]
    fn errors_name_the_place() {
        let err = parse_elements(b"[\n{\"a\": }]", "runs.json").expect_err("bad");
        assert!(err.to_string().contains("line 2, column"), "{err}");
        assert!(parse_elements(b"", "f").is_err());
        assert!(parse_elements(b"\"x\"", "f").is_err());
        assert!(parse_elements(b"{\"runs\": []}", "f").is_err());
    }

    #[test]
    fn duplicates_in_a_file_are_errors() {
        let array = format!("[{RUN}, {RUN}, 5]");
        let elements = parse_elements(array.as_bytes(), "f").expect("parses");
        let checked = check(elements, Utc::now());
        assert_eq!(checked.read, 3);
        assert_eq!(checked.runs.len(), 1);
        let at: Vec<_> = checked
            .errors
            .iter()
            .map(|e| (e.index, e.field.as_str()))
            .collect();
        assert_eq!(at, [(1, "workflow_run_unique_id"), (2, "workflow_runs")]);
        assert_eq!(checked.invalid_runs(), 2);
    }
}
