//! The state `deploy start` leaves for `deploy finish` in the same job: one small JSON file
//! per CI job (parallel jobs never share one), listing the deployments started in it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fields::Fields;
use crate::ci::{CiFacts, Field};
use crate::commands::step::state_file;

/// One started deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    deployments: Vec<DeployState>,
}

impl DeployState {
    /// What `start` resolved, to save.
    pub fn new(fields: &Fields, started_at: DateTime<FixedOffset>) -> Option<DeployState> {
        let value = |f: &Option<Field>| f.as_ref().map(|f| f.value.clone());
        Some(DeployState {
            workflow_name: value(&fields.workflow)?,
            unique_id: value(&fields.run_id)?,
            started_at,
            repo_url: value(&fields.repo_url),
            branch: value(&fields.branch),
            commit: value(&fields.commit),
            run_url: value(&fields.run_url),
            actor: value(&fields.actor),
        })
    }

    /// The state as fields for `finish` (flags still win).
    pub fn as_fields(&self, path: &Path) -> Fields {
        let src = format!("deploy start's state ({})", path.display());
        let field = |v: &Option<String>| v.as_ref().map(|v| Field::new(v, &src));
        Fields {
            repo_url: field(&self.repo_url),
            workflow: Some(Field::new(&self.workflow_name, &src)),
            branch: field(&self.branch),
            commit: field(&self.commit),
            run_id: Some(Field::new(&self.unique_id, &src)),
            run_url: field(&self.run_url),
            actor: field(&self.actor),
            no_branch: None,
        }
    }
}

/// Where this job's state lives: `--state-file`, else a file in the job's temp dir named by
/// a hash of the CI job, so parallel jobs on one machine never share one.
pub fn path(explicit: Option<&Path>, facts: &CiFacts) -> PathBuf {
    // An empty MW_STATE_FILE is unset, not a file named "".
    if let Some(path) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return path.to_owned();
    }
    let job = match &facts.job_key {
        Some(key) => format!("{}:{key}", facts.provider.as_deref().unwrap_or("ci")),
        // Outside CI, one state per working directory.
        None => format!(
            "local:{}",
            std::env::current_dir().unwrap_or_default().display()
        ),
    };
    let digest = Sha256::digest(job.as_bytes());
    let name = hex::encode(&digest[..8]);
    facts
        .temp_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!(".mwctl-deploy-{name}.json"))
}

fn load_file(path: &Path) -> anyhow::Result<StateFile> {
    state_file::load(
        path,
        "deploy state; delete it (deploy start writes a new one)",
    )
}

/// The deployment `finish` continues: the one of `workflow` when the user named one;
/// otherwise the one whose workflow the CI names, else the latest started.
pub fn find(
    path: &Path,
    workflow: Option<&str>,
    ci_workflow: Option<&str>,
) -> anyhow::Result<Option<DeployState>> {
    let file = load_file(path)?;
    let by_name = |name: &str| {
        file.deployments
            .iter()
            .rev()
            .find(|d| d.workflow_name == name)
            .cloned()
    };
    Ok(match workflow {
        Some(name) => by_name(name),
        None => ci_workflow
            .and_then(by_name)
            .or_else(|| file.deployments.last().cloned()),
    })
}

/// Records a started deployment, replacing an earlier start of the same workflow.
pub fn save(path: &Path, state: &DeployState) -> anyhow::Result<()> {
    // A damaged file is replaced: start must leave something finish can use.
    let mut file = load_file(path).unwrap_or_default();
    file.deployments
        .retain(|d| d.workflow_name != state.workflow_name);
    file.deployments.push(state.clone());
    state_file::store(path, &file, false)
}

/// Forgets a finished deployment; the file goes with the last one.
pub fn remove(path: &Path, state: &DeployState) -> anyhow::Result<()> {
    let mut file = load_file(path)?;
    file.deployments.retain(|d| d != state);
    state_file::store(path, &file, file.deployments.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(workflow: &str, id: &str) -> DeployState {
        DeployState {
            workflow_name: workflow.into(),
            unique_id: id.into(),
            started_at: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("valid"),
            repo_url: Some("https://github.com/a/b".into()),
            branch: Some("main".into()),
            commit: None,
            run_url: None,
            actor: None,
        }
    }

    #[test]
    fn each_job_gets_its_own_file() {
        let mut a = CiFacts {
            provider: Some("gitlab".into()),
            job_key: Some("1".into()),
            ..CiFacts::default()
        };
        let first = path(None, &a);
        assert_eq!(first, path(None, &a));
        a.job_key = Some("2".into());
        assert_ne!(first, path(None, &a));
        a.temp_dir = Some(PathBuf::from("/runner/tmp"));
        assert!(path(None, &a).starts_with("/runner/tmp"));
        let explicit = PathBuf::from("/x/state.json");
        assert_eq!(path(Some(&explicit), &a), explicit);
    }

    #[test]
    fn finish_finds_the_right_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("s.json");
        assert_eq!(find(&file, None, None).expect("absent is fine"), None);

        save(&file, &state("api", "1")).expect("saves");
        save(&file, &state("web", "2")).expect("saves");
        save(&file, &state("api", "3")).expect("a new start replaces the old");

        let found = |w: Option<&str>, ci: Option<&str>| {
            find(&file, w, ci).expect("reads").map(|s| s.unique_id)
        };
        assert_eq!(found(Some("web"), None).as_deref(), Some("2"));
        assert_eq!(found(Some("db"), None), None, "a named workflow must match");
        assert_eq!(found(None, Some("web")).as_deref(), Some("2"));
        assert_eq!(found(None, None).as_deref(), Some("3"), "else the latest");

        remove(&file, &state("api", "3")).expect("removes");
        assert_eq!(found(None, None).as_deref(), Some("2"));
        remove(&file, &state("web", "2")).expect("removes");
        assert!(!file.exists(), "the last one takes the file with it");
    }

    #[test]
    fn damage_is_reported_then_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("s.json");
        std::fs::write(&file, "garbage").expect("writes");
        let err = find(&file, None, None).expect_err("damaged");
        assert!(format!("{err:#}").contains("delete it"), "{err:#}");
        save(&file, &state("api", "1")).expect("start overwrites");
        assert!(find(&file, None, None).expect("reads").is_some());
    }
}
