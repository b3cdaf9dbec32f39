//! Drone (<https://docs.drone.io/pipeline/environment/reference/>) and its fork Woodpecker
//! (<https://woodpecker-ci.org/docs/usage/environment>). Each step is a container of its own;
//! only the workspace is shared, so the deploy state lives there.

use std::path::PathBuf;

use super::{CiFacts, Field, Vars};

pub(super) fn drone(facts: &mut CiFacts, vars: &Vars) {
    facts.repo_url = vars.first(&["DRONE_REPO_LINK", "DRONE_GIT_HTTP_URL"]);
    // DRONE_BUILD_TRIGGER is the user who started the build, or `@hook` / `@cron`.
    facts.actor = vars
        .field("DRONE_BUILD_TRIGGER")
        .filter(|f| !f.value.starts_with('@'))
        .or_else(|| vars.field("DRONE_COMMIT_AUTHOR"));
    facts.workflow = vars.field("DRONE_STAGE_NAME");
    facts.started_at = vars
        .unix_time("DRONE_STAGE_STARTED", false)
        .or_else(|| vars.unix_time("DRONE_BUILD_STARTED", false));
    // `success` or `failure` so far.
    facts.status = vars.field("DRONE_BUILD_STATUS");
    facts.job_key = vars.key(&["DRONE_REPO", "DRONE_BUILD_NUMBER", "DRONE_STAGE_NUMBER"]);
    facts.temp_dir = vars.get("DRONE_WORKSPACE").map(PathBuf::from);
}

pub(super) fn woodpecker(facts: &mut CiFacts, vars: &Vars) {
    facts.repo_url = vars.first(&["CI_REPO_URL", "CI_REPO_CLONE_URL"]);
    facts.actor = vars.field("CI_COMMIT_AUTHOR");
    facts.workflow = vars.field("CI_WORKFLOW_NAME");
    facts.started_at = vars.unix_time("CI_PIPELINE_STARTED", false);
    facts.status = vars.field("CI_PIPELINE_STATUS");
    facts.job_key = vars.key(&["CI_REPO", "CI_PIPELINE_NUMBER", "CI_WORKFLOW_NAME"]);
    facts.temp_dir = vars.get("CI_WORKSPACE").map(PathBuf::from);
    // Woodpecker's `CI_COMMIT_BRANCH` is the target branch for pull requests, which `ci_env`
    // prefers the source branch over; outside pull requests they agree.
    if facts.branch.is_none() {
        facts.branch = vars.field("CI_COMMIT_REF").and_then(|f| {
            f.value
                .strip_prefix("refs/heads/")
                .map(|b| Field::new(b, f.source.clone()))
        });
    }
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};
    use super::*;

    #[test]
    fn drone_documented_variables() {
        let f = extras_for(
            CiProvider::Drone,
            &[
                ("DRONE_REPO_LINK", "https://github.com/octocat/hello-world"),
                ("DRONE_BUILD_TRIGGER", "@hook"),
                ("DRONE_COMMIT_AUTHOR", "octocat"),
                ("DRONE_STAGE_NAME", "deploy"),
                ("DRONE_BUILD_STARTED", "1561421746"),
                ("DRONE_BUILD_STATUS", "success"),
                ("DRONE_REPO", "octocat/hello-world"),
                ("DRONE_BUILD_NUMBER", "22"),
                ("DRONE_STAGE_NUMBER", "1"),
                ("DRONE_WORKSPACE", "/drone/src"),
            ],
        );
        assert_eq!(
            value(&f.repo_url),
            Some("https://github.com/octocat/hello-world")
        );
        assert_eq!(value(&f.actor), Some("octocat"), "@hook is not a person");
        assert_eq!(value(&f.workflow), Some("deploy"));
        assert_eq!(value(&f.started_at), Some("2019-06-25T00:15:46Z"));
        assert_eq!(value(&f.status), Some("success"));
        assert_eq!(f.job_key.as_deref(), Some("octocat/hello-world/22/1"));
        assert_eq!(f.temp_dir, Some(PathBuf::from("/drone/src")));
    }

    #[test]
    fn woodpecker_documented_variables() {
        let f = extras_for(
            CiProvider::Woodpecker,
            &[
                ("CI_REPO_URL", "https://git.example.com/john-doe/my-repo"),
                ("CI_COMMIT_AUTHOR", "john-doe"),
                ("CI_WORKFLOW_NAME", "release"),
                ("CI_PIPELINE_STARTED", "1722617519"),
                ("CI_PIPELINE_STATUS", "failure"),
                ("CI_REPO", "john-doe/my-repo"),
                ("CI_PIPELINE_NUMBER", "8"),
                (
                    "CI_WORKSPACE",
                    "/woodpecker/src/git.example.com/john-doe/my-repo",
                ),
                ("CI_COMMIT_REF", "refs/heads/main"),
            ],
        );
        assert_eq!(
            value(&f.repo_url),
            Some("https://git.example.com/john-doe/my-repo")
        );
        assert_eq!(value(&f.actor), Some("john-doe"));
        assert_eq!(value(&f.workflow), Some("release"));
        assert_eq!(value(&f.started_at), Some("2024-08-02T16:51:59Z"));
        assert_eq!(value(&f.status), Some("failure"));
        assert_eq!(value(&f.branch), Some("main"));
        assert_eq!(f.job_key.as_deref(), Some("john-doe/my-repo/8/release"));
    }
}
