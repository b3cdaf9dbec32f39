//! Reporting where CI users look: GitHub Actions annotations, job summary and step outputs;
//! GitLab collapsible sections; plain lines elsewhere.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::inert;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiReporter {
    GithubActions {
        summary: Option<PathBuf>,
        output: Option<PathBuf>,
    },
    Gitlab,
    Plain,
}

impl CiReporter {
    pub fn detect() -> CiReporter {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            CiReporter::GithubActions {
                summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
                output: var("GITHUB_OUTPUT").map(PathBuf::from),
            }
        } else if var("GITLAB_CI").is_some() {
            CiReporter::Gitlab
        } else {
            CiReporter::Plain
        }
    }

    /// A warning people will see: an annotation on GitHub, a plain `warning:` line elsewhere.
    /// The message may quote a server: it is made inert (GitHub's log renders ANSI colours).
    pub fn warning(&self, title: &str, message: &str) {
        let (title, message) = (inert::cell(title), inert::text(message));
        match self {
            CiReporter::GithubActions { .. } => eprintln!(
                "::warning title={}::{}",
                escape_property(&title),
                escape_data(&message)
            ),
            _ => eprintln!("warning: {title}: {message}"),
        }
    }

    /// An error annotation (used with --strict).
    pub fn error(&self, title: &str, message: &str) {
        let (title, message) = (inert::cell(title), inert::text(message));
        match self {
            CiReporter::GithubActions { .. } => eprintln!(
                "::error title={}::{}",
                escape_property(&title),
                escape_data(&message)
            ),
            _ => eprintln!("error: {title}: {message}"),
        }
    }

    /// Sets a step output (`steps.<id>.outputs.<name>`) on GitHub Actions.
    pub fn set_output(&self, name: &str, value: &str) {
        if let CiReporter::GithubActions {
            output: Some(path), ..
        } = self
        {
            // Values are ids we generate, but a newline would forge another output: drop it.
            let value = value.replace(['\n', '\r'], " ");
            append(path, &format!("{name}={value}\n"));
        }
    }

    /// Appends Markdown to the job summary on GitHub Actions.
    pub fn summary(&self, markdown: &str) {
        if let CiReporter::GithubActions {
            summary: Some(path),
            ..
        } = self
        {
            append(path, markdown);
        }
    }

    /// Opens a collapsible log section (GitLab) or group (GitHub).
    pub fn section_start(&self, id: &str, title: &str) {
        let title = inert::cell(title);
        match self {
            CiReporter::Gitlab => eprintln!(
                "\x1b[0Ksection_start:{}:{id}[collapsed=true]\r\x1b[0K{title}",
                chrono::Utc::now().timestamp()
            ),
            CiReporter::GithubActions { .. } => eprintln!("::group::{}", escape_data(&title)),
            CiReporter::Plain => {}
        }
    }

    pub fn section_end(&self, id: &str) {
        match self {
            CiReporter::Gitlab => eprintln!(
                "\x1b[0Ksection_end:{}:{id}\r\x1b[0K",
                chrono::Utc::now().timestamp()
            ),
            CiReporter::GithubActions { .. } => eprintln!("::endgroup::"),
            CiReporter::Plain => {}
        }
    }
}

fn append(path: &PathBuf, text: &str) {
    let result = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = result {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
}

/// Escapes a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Escapes text for a Markdown table cell (control characters made visible, as on a terminal).
pub fn markdown_cell(s: &str) -> String {
    inert::text(s)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(markdown_cell("a|b\nc"), "a\\|b c");
        assert_eq!(markdown_cell("x\u{1b}[2J\u{202e}"), "x\\u{1b}[2J\\u{202e}");
    }

    #[test]
    fn outputs_and_summary_are_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reporter = CiReporter::GithubActions {
            summary: Some(dir.path().join("summary.md")),
            output: Some(dir.path().join("output")),
        };
        reporter.set_output("event_id", "evt_1\nforged=1");
        reporter.set_output("run_id", "r");
        reporter.summary("| a |\n");
        let output = std::fs::read_to_string(dir.path().join("output")).expect("written");
        assert_eq!(output, "event_id=evt_1 forged=1\nrun_id=r\n");
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).expect("written");
        assert_eq!(summary, "| a |\n");
    }
}
