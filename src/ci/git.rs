//! Git as the last source of repo URL, branch, commit and author, for fields the CI (or the
//! lack of one) leaves open. Each git process costs a millisecond or two, so each runs only
//! when a field needs it, and branch and commit share one.

use std::cell::OnceCell;
use std::process::{Command, Stdio};

use super::Field;
use crate::protocol::strip_credentials;

/// Lazily asked, remembered answers from the git checkout in the working directory.
#[derive(Default)]
pub struct Git {
    head: OnceCell<(Option<String>, Option<String>)>,
}

impl Git {
    /// `git remote get-url origin`, without credentials.
    pub fn repo_url(&self) -> Option<Field> {
        git(&["remote", "get-url", "origin"])
            .map(|url| Field::new(strip_credentials(&url), "git remote get-url origin"))
    }

    /// The checked-out branch; none on a detached HEAD.
    pub fn branch(&self) -> Option<Field> {
        self.head()
            .0
            .clone()
            .map(|b| Field::new(b, "git rev-parse --abbrev-ref HEAD"))
    }

    pub fn commit(&self) -> Option<Field> {
        self.head()
            .1
            .clone()
            .map(|c| Field::new(c, "git rev-parse HEAD"))
    }

    /// The author of the commit checked out: in a CI that does not say who started the run,
    /// the closest to a person responsible.
    pub fn author(&self) -> Option<Field> {
        git(&["log", "-1", "--format=%an"]).map(|a| Field::new(a, "git log -1 --format=%an"))
    }

    /// Branch and commit from one `git rev-parse`.
    fn head(&self) -> &(Option<String>, Option<String>) {
        self.head.get_or_init(|| {
            let Some(out) = git(&["rev-parse", "--abbrev-ref", "HEAD", "HEAD"]) else {
                return (None, None);
            };
            let mut lines = out.lines().map(str::trim);
            let branch = lines
                .next()
                .filter(|b| !b.is_empty() && *b != "HEAD")
                .map(str::to_owned);
            let commit = lines.next().filter(|c| !c.is_empty()).map(str::to_owned);
            (branch, commit)
        })
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        // Never wait for a password or a lock: these are read-only questions.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
