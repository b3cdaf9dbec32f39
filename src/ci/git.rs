//! Git as the last source of repo URL, branch, commit and author, for fields the CI (or the
//! lack of one) leaves open. Each git process costs a millisecond or two, so each runs only
//! when a field needs it, and each answers one question: the commit (`git rev-parse`) and the
//! branch (`git symbolic-ref`) are separate, so neither can be mistaken for the other.

use std::cell::OnceCell;
use std::process::{Command, Stdio};

use super::Field;
use crate::protocol::strip_credentials;

/// Lazily asked, remembered answers from the git checkout in the working directory.
#[derive(Default)]
pub struct Git {
    branch: OnceCell<Option<String>>,
    commit: OnceCell<Option<String>>,
}

impl Git {
    /// `git remote get-url origin`, without credentials.
    pub fn repo_url(&self) -> Option<Field> {
        git(&["remote", "get-url", "origin"])
            .map(|url| Field::new(strip_credentials(&url), "git remote get-url origin"))
    }

    /// The checked-out branch: none on a detached HEAD or outside a repository. A repository
    /// without commits yet is on its (unborn) branch.
    pub fn branch(&self) -> Option<Field> {
        self.branch
            .get_or_init(|| git(&["symbolic-ref", "--short", "-q", "HEAD"]))
            .clone()
            .map(|b| Field::new(b, "git symbolic-ref --short HEAD"))
    }

    /// The commit checked out: none before the first commit or outside a repository.
    pub fn commit(&self) -> Option<Field> {
        self.commit
            .get_or_init(|| {
                // `--verify` prints the object name or fails: never the argument back.
                git(&["rev-parse", "--verify", "-q", "HEAD^{commit}"])
                    .filter(|sha| sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
            })
            .clone()
            .map(|c| Field::new(c, "git rev-parse HEAD"))
    }

    /// Why git names no branch, when it names a commit: the checkout is on a detached HEAD
    /// (as CIs and `git checkout <sha>` leave it).
    pub fn no_branch_reason(&self) -> Option<String> {
        if self.branch().is_some() {
            return None;
        }
        let commit = self.commit()?;
        Some(format!(
            "the git checkout is on a detached HEAD (commit {}), which names no branch",
            &commit.value[..commit.value.len().min(12)]
        ))
    }

    /// The author of the commit checked out: in a CI that does not say who started the run,
    /// the closest to a person responsible.
    pub fn author(&self) -> Option<Field> {
        git(&["log", "-1", "--format=%an"]).map(|a| Field::new(a, "git log -1 --format=%an"))
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
