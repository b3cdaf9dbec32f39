//! The state `deploy start` leaves for `deploy finish` in the same job.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fields::Fields;
use crate::ci::{CiFacts, Field};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployState {
    pub workflow_name: String,
    pub unique_id: String,
    pub started_at: DateTime<FixedOffset>,
    pub repo_url: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub run_url: Option<String>,
    pub actor: Option<String>,
}

impl DeployState {
    /// The state as fallback fields for `finish` (flags still win).
    pub fn as_fields(&self, path: &Path) -> Fields {
        let src = format!("state of deploy start ({})", path.display());
        let field = |v: &Option<String>| v.as_ref().map(|v| Field::new(v, &src));
        Fields {
            repo_url: field(&self.repo_url),
            workflow: Some(Field::new(&self.workflow_name, &src)),
            branch: field(&self.branch),
            commit: field(&self.commit),
            run_id: Some(Field::new(&self.unique_id, &src)),
            run_url: field(&self.run_url),
            actor: field(&self.actor),
        }
    }
}

/// Where the state of this job's deployment of `workflow` lives: `--state-file`, else a file in
/// the job's temp dir named by a hash of the CI job and the workflow, so parallel jobs (and two
/// workflows in one job) never share one.
pub fn path(explicit: Option<&Path>, facts: &CiFacts, workflow: &str) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    let job = match &facts.job_key {
        Some(key) => format!("{}:{key}", facts.provider.as_deref().unwrap_or("ci")),
        None => format!(
            "local:{}",
            std::env::current_dir().unwrap_or_default().display()
        ),
    };
    let digest = Sha256::new()
        .chain_update(job.as_bytes())
        .chain_update([0])
        .chain_update(workflow.as_bytes())
        .finalize();
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    facts
        .temp_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("mwctl-deploy-{name}.json"))
}

pub fn load(path: &Path) -> anyhow::Result<Option<DeployState>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not a deploy state file; delete it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Written atomically so a concurrent `finish` never reads half a file.
pub fn save(path: &Path, state: &DeployState) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(state)?)?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_workflows_get_their_own_file() {
        let mut a = CiFacts {
            provider: Some("gitlab".into()),
            job_key: Some("1".into()),
            ..CiFacts::default()
        };
        let first = path(None, &a, "deploy");
        assert_eq!(first, path(None, &a, "deploy"));
        assert_ne!(first, path(None, &a, "migrate"));
        a.job_key = Some("2".into());
        assert_ne!(first, path(None, &a, "deploy"));
        let explicit = PathBuf::from("/x/state.json");
        assert_eq!(path(Some(&explicit), &a, "deploy"), explicit);
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("s.json");
        assert!(load(&file).expect("absent is fine").is_none());
        let state = DeployState {
            workflow_name: "deploy".into(),
            unique_id: "42-1".into(),
            started_at: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("valid"),
            repo_url: Some("https://github.com/a/b".into()),
            branch: Some("main".into()),
            commit: None,
            run_url: None,
            actor: None,
        };
        save(&file, &state).expect("saves");
        let loaded = load(&file).expect("reads").expect("present");
        assert_eq!(loaded.unique_id, "42-1");
        std::fs::write(&file, "garbage").expect("writes");
        assert!(load(&file).is_err());
    }
}
