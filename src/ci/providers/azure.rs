//! Azure Pipelines. <https://learn.microsoft.com/en-us/azure/devops/pipelines/build/variables>
//! (`System.PipelineStartTime` is described under expressions' `pipeline.startTime`:
//! <https://learn.microsoft.com/en-us/azure/devops/pipelines/process/expressions#counter>)

use std::path::PathBuf;

use super::{CiFacts, Field, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    facts.workflow = vars.field("BUILD_DEFINITIONNAME");
    // May name the user (`https://acme@dev.azure.com/…`); credentials are stripped later.
    facts.repo_url = vars.field("BUILD_REPOSITORY_URI");
    facts.actor = vars.first(&["BUILD_REQUESTEDFOR", "BUILD_REQUESTEDFOREMAIL"]);
    // A re-run of failed jobs keeps the build id and counts up the job's attempt.
    facts.attempt = vars.field("SYSTEM_JOBATTEMPT");
    // `ci_env` reads BUILD_SOURCEBRANCHNAME, only the last segment (`release/1.2` → `1.2`).
    if vars.get("SYSTEM_PULLREQUEST_SOURCEBRANCH").is_none()
        && let Some(full) = vars.field("BUILD_SOURCEBRANCH")
        && let Some(branch) = full.value.strip_prefix("refs/heads/")
    {
        facts.branch = Some(Field::new(branch, full.source.clone()));
    }
    facts.started_at = vars.field("SYSTEM_PIPELINESTARTTIME");
    // Succeeded, SucceededWithIssues, Failed, Canceled: readable by --status as they are.
    facts.status = vars.field("AGENT_JOBSTATUS");
    facts.job_key = vars.key(&["BUILD_BUILDID", "SYSTEM_JOBID", "SYSTEM_JOBATTEMPT"]);
    // "A temporary folder that is cleaned after each pipeline job."
    facts.temp_dir = vars.get("AGENT_TEMPDIRECTORY").map(PathBuf::from);
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};
    use super::*;

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::Azure,
            &[
                ("BUILD_DEFINITIONNAME", "shop-release"),
                (
                    "BUILD_REPOSITORY_URI",
                    "https://acme@dev.azure.com/acme/shop/_git/shop",
                ),
                ("BUILD_REQUESTEDFOR", "Frank Lee"),
                ("SYSTEM_JOBATTEMPT", "3"),
                ("BUILD_SOURCEBRANCH", "refs/heads/release/1.2"),
                ("SYSTEM_PIPELINESTARTTIME", "2025-02-03 08:15:00+00:00"),
                ("AGENT_JOBSTATUS", "SucceededWithIssues"),
                ("BUILD_BUILDID", "9001"),
                ("SYSTEM_JOBID", "12f1170f-54f2-53f3-20dd-22fc7dff55f9"),
                ("AGENT_TEMPDIRECTORY", "/home/vsts/work/_temp"),
            ],
        );
        assert_eq!(value(&f.workflow), Some("shop-release"));
        assert_eq!(
            value(&f.repo_url),
            Some("https://acme@dev.azure.com/acme/shop/_git/shop")
        );
        assert_eq!(value(&f.actor), Some("Frank Lee"));
        assert_eq!(value(&f.attempt), Some("3"));
        assert_eq!(value(&f.branch), Some("release/1.2"));
        let started = f.started_at.as_ref().expect("start time");
        assert_eq!(
            crate::ci::parse_started_at(started).map(|t| t.to_rfc3339()),
            Some("2025-02-03T08:15:00+00:00".to_owned())
        );
        assert_eq!(value(&f.status), Some("SucceededWithIssues"));
        assert_eq!(f.temp_dir, Some(PathBuf::from("/home/vsts/work/_temp")));
    }
}
