//! What the CI environment says about the current run: `ci_env` for the provider and the
//! fields it knows (branch, commit, run id, run URL), plus what it lacks (repo URL, actor,
//! workflow name, attempt, start time, job status), read from each provider's documented
//! variables; git as the last resort.

pub mod git;
mod providers;

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::Serialize;

use crate::protocol::strip_credentials;

/// A value and where it came from, for `--explain` and `-v`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    pub value: String,
    pub source: String,
}

impl Field {
    pub fn new(value: impl Into<String>, source: impl Into<String>) -> Field {
        Field {
            value: value.into(),
            source: source.into(),
        }
    }
}

/// Everything the environment tells about the run, each field with its source.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CiFacts {
    /// `ci_env`'s provider id (`github-actions`, `gitlab`...), absent outside CI.
    pub provider: Option<String>,
    pub repo_url: Option<Field>,
    pub branch: Option<Field>,
    pub commit: Option<Field>,
    pub run_id: Option<Field>,
    /// The CI's attempt number where a re-run keeps the run id (GitHub, Azure, Buildkite,
    /// Bitbucket); it becomes part of the unique id, so a re-run is a new deployment.
    pub attempt: Option<Field>,
    pub run_url: Option<Field>,
    pub actor: Option<Field>,
    pub workflow: Option<Field>,
    /// When the job or pipeline started (RFC 3339), when the CI says.
    pub started_at: Option<Field>,
    /// How the job went, for `deploy finish` without `--status` (GitLab's `CI_JOB_STATUS`,
    /// CodeBuild's `CODEBUILD_BUILD_SUCCEEDING`...), as a word `--status` accepts.
    pub status: Option<Field>,
    /// Identifies the job, so parallel jobs on one machine keep separate deploy state.
    pub job_key: Option<String>,
    /// A directory private to the job (e.g. `$RUNNER_TEMP`), or shared by its steps where
    /// each step is a container of its own (the Drone/Woodpecker workspace).
    pub temp_dir: Option<PathBuf>,
}

/// Reads the process environment.
pub fn detect() -> CiFacts {
    // `ci_env` collects the environment with `std::env::vars()`, which panics on a
    // variable that is not UTF-8: without the crate's view, mwctl still works from flags
    // and git, and says why.
    if std::env::vars_os().any(|(k, v)| k.to_str().is_none() || v.to_str().is_none()) {
        eprintln!(
            "warning: an environment variable is not valid UTF-8, so the CI provider was not \
             detected; pass the run's fields as flags (see `mwctl deploy start --help`)"
        );
        return CiFacts::default();
    }
    let get = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    match ci_env::get_environment() {
        Some(env) => from_environment(env, &get),
        None => CiFacts::default(),
    }
}

/// `ci_env`'s view of the run, completed by the provider's own variables.
fn from_environment(env: ci_env::CiEnvironment, get: &dyn Fn(&str) -> Option<String>) -> CiFacts {
    let provider = env.provider.to_string();
    let src = |what: &str| format!("{provider} ({what})");
    let mut facts = CiFacts {
        branch: non_empty(env.branch).map(|v| Field::new(v, src("branch"))),
        commit: non_empty(env.revision).map(|v| Field::new(v, src("commit"))),
        run_id: non_empty(env.id).map(|v| Field::new(v, src("run id"))),
        run_url: env
            .url
            .and_then(non_empty)
            .map(|v| Field::new(v, src("run URL"))),
        ..CiFacts::default()
    };
    facts.provider = Some(provider);
    providers::add_extras(&mut facts, env.provider, get);
    // Clone URLs may carry a token (`https://x-access-token:…@host/…`): never send one on.
    for url in [&mut facts.repo_url, &mut facts.run_url]
        .into_iter()
        .flatten()
    {
        url.value = strip_credentials(&url.value);
    }
    if let Some(branch) = &mut facts.branch {
        branch.value = short_branch(&branch.value);
    }
    facts
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `refs/heads/main` → `main`: some CIs give the full ref, Middleware wants the branch.
pub fn short_branch(branch: &str) -> String {
    branch
        .strip_prefix("refs/heads/")
        .unwrap_or(branch)
        .to_owned()
}

/// Unix seconds (or milliseconds, when `millis`) as RFC 3339, for CIs that give start times
/// that way.
fn unix_to_rfc3339(value: &str, millis: bool) -> Option<String> {
    let n: i64 = value.trim().parse().ok()?;
    let at = if millis {
        DateTime::<Utc>::from_timestamp_millis(n)?
    } else {
        DateTime::<Utc>::from_timestamp(n, 0)?
    };
    // 0 means "not started" in some CIs.
    (n > 0).then(|| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A start time in any of the shapes CIs use, as a timestamp.
pub fn parse_started_at(field: &Field) -> Option<DateTime<FixedOffset>> {
    crate::protocol::validate::parse_timestamp(&field.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_and_times() {
        assert_eq!(short_branch("refs/heads/release/1.2"), "release/1.2");
        assert_eq!(short_branch("main"), "main");
        assert_eq!(
            unix_to_rfc3339("1722617519", false).as_deref(),
            Some("2024-08-02T16:51:59Z")
        );
        assert_eq!(
            unix_to_rfc3339("1722617519000", true).as_deref(),
            Some("2024-08-02T16:51:59Z")
        );
        assert_eq!(unix_to_rfc3339("0", false), None);
        assert_eq!(unix_to_rfc3339("soon", false), None);
    }

    #[test]
    fn credentials_never_leave_the_environment() {
        let env = ci_env::CiEnvironment {
            provider: ci_env::CiProvider::Jenkins,
            id: "7".into(),
            ..ci_env::CiEnvironment::default()
        };
        let get = |k: &str| {
            (k == "GIT_URL").then(|| "https://bot:s3cret@git.example.com/acme/shop.git".to_owned())
        };
        let facts = from_environment(env, &get);
        assert_eq!(
            facts.repo_url.map(|f| f.value).as_deref(),
            Some("https://git.example.com/acme/shop.git")
        );
    }
}
