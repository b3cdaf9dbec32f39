//! What `incident open` remembers for `incident ack` and `incident resolve`: the protocol wants
//! the title and creation time with every report, and an alert hook that resolves an incident
//! knows only its key. One small JSON file per user (incidents outlive CI jobs), listing the
//! open incidents by (provider, key).

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::commands::step::state_file;
use crate::protocol::incident::DeploymentRef;

/// Most incidents remembered: the oldest are forgotten first.
const MAX_REMEMBERED: usize = 200;

/// One opened incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenedIncident {
    pub provider: String,
    pub incident_key: String,
    pub title: String,
    pub creation_date: DateTime<FixedOffset>,
    pub repo_url: Option<String>,
    pub service: Option<String>,
    pub url: Option<String>,
    pub incident_type: Option<String>,
    pub deployment: Option<DeploymentRef>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    incidents: Vec<OpenedIncident>,
}

/// `--incident-state`, else `<state dir>/mwctl/incidents.json`.
pub fn path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join("mwctl").join("incidents.json"))
}

fn load(path: &Path) -> anyhow::Result<StateFile> {
    state_file::load(
        path,
        "incident state; delete it (incident open writes a new one)",
    )
}

/// The incident `open` remembered under this key: of `provider` when given, else the latest
/// with this key.
pub fn find(
    path: &Path,
    provider: Option<&str>,
    key: &str,
) -> anyhow::Result<Option<OpenedIncident>> {
    Ok(load(path)?
        .incidents
        .into_iter()
        .rev()
        .find(|i| i.incident_key == key && provider.is_none_or(|p| i.provider == p)))
}

/// Remembers an opened incident, replacing an earlier one of the same identity.
pub fn save(path: &Path, incident: &OpenedIncident) -> anyhow::Result<()> {
    // A damaged file is replaced: open must leave something resolve can use.
    let mut file = load(path).unwrap_or_default();
    file.incidents
        .retain(|i| !(i.provider == incident.provider && i.incident_key == incident.incident_key));
    file.incidents.push(incident.clone());
    let excess = file.incidents.len().saturating_sub(MAX_REMEMBERED);
    file.incidents.drain(..excess);
    state_file::store(path, &file, false)
}

/// Forgets a resolved incident; the file goes with the last one.
pub fn remove(path: &Path, provider: &str, key: &str) -> anyhow::Result<()> {
    let mut file = load(path)?;
    file.incidents
        .retain(|i| !(i.provider == provider && i.incident_key == key));
    state_file::store(path, &file, file.incidents.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(provider: &str, key: &str, title: &str) -> OpenedIncident {
        OpenedIncident {
            provider: provider.into(),
            incident_key: key.into(),
            title: title.into(),
            creation_date: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("valid"),
            repo_url: None,
            service: None,
            url: None,
            incident_type: None,
            deployment: None,
        }
    }

    #[test]
    fn open_then_resolve_finds_and_forgets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub").join("incidents.json");
        assert_eq!(find(&file, None, "A").expect("absent is fine"), None);
        save(&file, &opened("custom", "A", "first")).expect("saves");
        save(&file, &opened("pagerduty", "A", "other tool")).expect("saves");
        save(&file, &opened("custom", "A", "again")).expect("replaces");
        let title = |p: Option<&str>| find(&file, p, "A").expect("reads").map(|i| i.title);
        assert_eq!(title(Some("custom")).as_deref(), Some("again"));
        assert_eq!(title(Some("pagerduty")).as_deref(), Some("other tool"));
        assert_eq!(title(None).as_deref(), Some("again"), "else the latest");
        assert_eq!(title(Some("opsgenie")), None, "a named provider must match");
        remove(&file, "custom", "A").expect("removes");
        assert_eq!(title(None).as_deref(), Some("other tool"));
        remove(&file, "pagerduty", "A").expect("removes");
        assert!(!file.exists(), "the last one takes the file with it");
    }

    #[test]
    fn damage_is_reported_then_replaced_and_the_file_stays_small() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("incidents.json");
        std::fs::write(&file, "garbage").expect("writes");
        let err = find(&file, None, "A").expect_err("damaged");
        assert!(format!("{err:#}").contains("delete it"), "{err:#}");
        for i in 0..MAX_REMEMBERED + 5 {
            save(&file, &opened("custom", &i.to_string(), "t")).expect("saves");
        }
        assert_eq!(
            find(&file, None, "0").expect("reads"),
            None,
            "oldest forgotten"
        );
        assert!(find(&file, None, "204").expect("reads").is_some());
    }
}
