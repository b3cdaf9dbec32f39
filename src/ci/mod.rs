//! What the CI environment says about the current run: `ci_env` for the provider and the
//! fields it knows (branch, commit, run id, run URL), plus what it lacks (repo URL, actor,
//! workflow name, attempt, start time), read from each provider's documented variables.

pub mod git;
mod providers;

use std::path::PathBuf;

use serde::Serialize;

use crate::protocol::strip_credentials;

/// A value and where it came from, for `--dry-run` and `-v`.
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
    pub attempt: Option<Field>,
    pub run_url: Option<Field>,
    pub actor: Option<Field>,
    pub workflow: Option<Field>,
    /// When the job or pipeline started (RFC 3339), when the CI says.
    pub started_at: Option<Field>,
    /// Identifies the job, so parallel jobs on one machine keep separate deploy state.
    pub job_key: Option<String>,
    /// A directory private to the job (e.g. `$RUNNER_TEMP`).
    pub temp_dir: Option<PathBuf>,
}

/// Reads the process environment.
pub fn detect() -> CiFacts {
    let get = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let mut facts = CiFacts::default();
    if let Some(env) = ci_env::get_environment() {
        let provider = env.provider.to_string();
        let src = |what: &str| format!("{provider} ({what})");
        facts.branch = non_empty(env.branch).map(|v| Field::new(v, src("branch")));
        facts.commit = non_empty(env.revision).map(|v| Field::new(v, src("commit")));
        facts.run_id = non_empty(env.id).map(|v| Field::new(v, src("run id")));
        facts.run_url = env
            .url
            .and_then(non_empty)
            .map(|v| Field::new(v, src("run URL")));
        facts.provider = Some(provider);
        providers::add_extras(&mut facts, env.provider, &get);
    }
    if let Some(url) = &mut facts.repo_url {
        url.value = strip_credentials(&url.value);
    }
    facts
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}
