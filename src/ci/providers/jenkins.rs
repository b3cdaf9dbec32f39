//! Jenkins, with the Git plugin's variables.
//! <https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables>,
//! <https://plugins.jenkins.io/git/#plugin-content-environment-variables>

use std::path::PathBuf;

use super::{CiFacts, Field, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    facts.workflow = vars.field("JOB_NAME");
    facts.repo_url = vars.first(&["GIT_URL", "GIT_URL_1"]);
    // Multibranch pipelines name the branch in BRANCH_NAME (`PR-12` for pull requests,
    // whose branch is CHANGE_BRANCH); freestyle jobs only have the Git plugin's GIT_BRANCH,
    // which carries the remote (`origin/main`).
    let branch = if vars.get("CHANGE_ID").is_some() {
        vars.field("CHANGE_BRANCH")
    } else {
        vars.field("BRANCH_NAME")
    };
    facts.branch = branch.or_else(|| {
        vars.field("GIT_BRANCH").map(|f| {
            let short = f.value.strip_prefix("origin/").unwrap_or(&f.value);
            Field::new(short, f.source)
        })
    });
    // Who started the build needs the Build User Vars plugin; else who wrote the change.
    facts.actor = vars.first(&[
        "BUILD_USER_ID",
        "CHANGE_AUTHOR",
        "GIT_AUTHOR_NAME",
        "GIT_COMMITTER_NAME",
    ]);
    // Parallel branches of one build run on different executors and workspaces.
    facts.job_key = vars.key(&["BUILD_TAG", "NODE_NAME", "EXECUTOR_NUMBER"]);
    // "A temporary directory near the workspace" (Jenkins 2.x).
    facts.temp_dir = vars.get("WORKSPACE_TMP").map(PathBuf::from);
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};
    use super::*;

    #[test]
    fn freestyle_job_with_the_git_plugin() {
        let f = extras_for(
            CiProvider::Jenkins,
            &[
                ("JOB_NAME", "shop/deploy-prod"),
                ("BUILD_TAG", "jenkins-shop-deploy-prod-87"),
                ("EXECUTOR_NUMBER", "1"),
                ("NODE_NAME", "built-in"),
                ("GIT_URL", "https://github.com/acme/shop.git"),
                ("GIT_BRANCH", "origin/main"),
                ("GIT_COMMITTER_NAME", "Dana"),
                ("WORKSPACE_TMP", "/var/jenkins/workspace/deploy-prod@tmp"),
            ],
        );
        assert_eq!(value(&f.workflow), Some("shop/deploy-prod"));
        assert_eq!(value(&f.repo_url), Some("https://github.com/acme/shop.git"));
        assert_eq!(value(&f.branch), Some("main"));
        assert_eq!(value(&f.actor), Some("Dana"));
        assert_eq!(
            f.job_key.as_deref(),
            Some("jenkins-shop-deploy-prod-87/built-in/1")
        );
        assert_eq!(
            f.temp_dir,
            Some(PathBuf::from("/var/jenkins/workspace/deploy-prod@tmp"))
        );
    }

    #[test]
    fn multibranch_pull_request() {
        let f = extras_for(
            CiProvider::Jenkins,
            &[
                ("BRANCH_NAME", "PR-12"),
                ("CHANGE_ID", "12"),
                ("CHANGE_BRANCH", "feature/login"),
                ("CHANGE_AUTHOR", "erin"),
                ("GIT_BRANCH", "PR-12"),
            ],
        );
        assert_eq!(value(&f.branch), Some("feature/login"));
        assert_eq!(value(&f.actor), Some("erin"));
    }
}
