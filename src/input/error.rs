//! Why an input cannot be read: where (line and column, or record number) and how to fix it.

use std::fmt;

use serde_json::error::Category;

/// A problem with the input file itself (not with one run): reading stops here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What is wrong and where.
    pub what: String,
    /// How to fix it.
    pub fix: String,
}

impl InputError {
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> InputError {
        InputError {
            what: what.into(),
            fix: fix.into(),
        }
    }

    pub(crate) fn io(name: &str, e: &std::io::Error) -> InputError {
        InputError::new(
            format!("cannot read {name}: {e}"),
            "check that the file exists and is readable",
        )
    }

    /// A serde_json error at `place` (e.g. "record 12", "line 7, column 3").
    pub(crate) fn json_at(name: &str, place: &str, e: &serde_json::Error) -> InputError {
        let message = strip_position(e);
        let fix = match e.classify() {
            Category::Eof => {
                "the file ends in the middle of a value: it was cut short (an interrupted export or download?); export it again"
                    .to_owned()
            }
            Category::Syntax => format!(
                "fix the JSON at that spot (`jq . {name}` reports the same place), or pass --format if the file is in another format"
            ),
            Category::Data => {
                "expected a JSON array of runs, {\"workflow_runs\": [...]}, NDJSON, or a GitHub / GitLab export (see --format)"
                    .to_owned()
            }
            Category::Io => "check the file or the command that pipes it in".to_owned(),
        };
        InputError::new(format!("{name}: {place}: {message}"), fix)
    }
}

/// serde_json's message without its " at line L column C" suffix (we say where ourselves).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  to fix: {}", self.what, self.fix)
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_say_where_and_how_to_fix() {
        let e = serde_json::from_str::<serde_json::Value>("[\n{\"a\": }]").expect_err("bad");
        let err = InputError::json_at("runs.json", "line 2, column 7", &e);
        assert!(
            err.what
                .starts_with("runs.json: line 2, column 7: expected value"),
            "{}",
            err.what
        );
        assert!(err.fix.contains("jq"), "{}", err.fix);
        let e = serde_json::from_str::<serde_json::Value>("[{").expect_err("cut");
        assert!(
            InputError::json_at("f", "record 3", &e)
                .fix
                .contains("cut short")
        );
    }
}
