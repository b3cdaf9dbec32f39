//! Git as the last source of repo URL, branch and commit, for runs outside CI.

use std::process::{Command, Stdio};

use super::Field;
use crate::protocol::strip_credentials;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `git remote get-url origin`, without credentials.
pub fn repo_url() -> Option<Field> {
    git(&["remote", "get-url", "origin"])
        .map(|url| Field::new(strip_credentials(&url), "git remote get-url origin"))
}

/// The checked-out branch; none on a detached HEAD.
pub fn branch() -> Option<Field> {
    git(&["rev-parse", "--abbrev-ref", "HEAD"])
        .filter(|b| b != "HEAD")
        .map(|b| Field::new(b, "git rev-parse --abbrev-ref HEAD"))
}

pub fn commit() -> Option<Field> {
    git(&["rev-parse", "HEAD"]).map(|c| Field::new(c, "git rev-parse HEAD"))
}
