//! GitHub Actions, and Gitea / Forgejo Actions, which set the same variables.
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/variables#default-environment-variables>

use std::path::PathBuf;

use super::{CiFacts, Field, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    let server = vars
        .get("GITHUB_SERVER_URL")
        .unwrap_or_else(|| "https://github.com".to_owned());
    if let Some(repo) = vars.get("GITHUB_REPOSITORY") {
        facts.repo_url = Some(Field::new(
            format!("{server}/{repo}"),
            "env GITHUB_SERVER_URL/GITHUB_REPOSITORY",
        ));
        if let Some(run) = vars.get("GITHUB_RUN_ID") {
            let mut url = format!("{server}/{repo}/actions/runs/{run}");
            if let Some(attempt) = vars.get("GITHUB_RUN_ATTEMPT").filter(|a| a != "1") {
                url.push_str(&format!("/attempts/{attempt}"));
            }
            facts.run_url = Some(Field::new(
                url,
                "env GITHUB_SERVER_URL/GITHUB_REPOSITORY/GITHUB_RUN_ID",
            ));
        }
    }
    // The person who started this attempt (a re-run's), else the one who triggered the run.
    facts.actor = vars.first(&["GITHUB_TRIGGERING_ACTOR", "GITHUB_ACTOR"]);
    facts.workflow = vars.field("GITHUB_WORKFLOW");
    facts.attempt = vars.field("GITHUB_RUN_ATTEMPT");
    // Matrix jobs share GITHUB_JOB, but each runs on its own runner with its own RUNNER_TEMP.
    facts.job_key = vars.key(&["GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"]);
    facts.temp_dir = vars.get("RUNNER_TEMP").map(PathBuf::from);
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};
    use super::*;

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::GithubActions,
            &[
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "octocat/Hello-World"),
                ("GITHUB_RUN_ID", "1658821493"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_ACTOR", "octocat"),
                ("GITHUB_TRIGGERING_ACTOR", "monalisa"),
                ("GITHUB_WORKFLOW", "My test workflow"),
                ("GITHUB_JOB", "greeting_job"),
                ("RUNNER_TEMP", "/home/runner/work/_temp"),
            ],
        );
        assert_eq!(
            value(&f.repo_url),
            Some("https://github.com/octocat/Hello-World")
        );
        assert_eq!(
            value(&f.run_url),
            Some("https://github.com/octocat/Hello-World/actions/runs/1658821493/attempts/2")
        );
        assert_eq!(value(&f.actor), Some("monalisa"));
        assert_eq!(value(&f.workflow), Some("My test workflow"));
        assert_eq!(value(&f.attempt), Some("2"));
        assert_eq!(f.job_key.as_deref(), Some("1658821493/2/greeting_job"));
        assert_eq!(f.temp_dir, Some(PathBuf::from("/home/runner/work/_temp")));
    }

    #[test]
    fn enterprise_server_urls() {
        let f = extras_for(
            CiProvider::GithubActions,
            &[
                ("GITHUB_SERVER_URL", "https://ghe.example.com"),
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_RUN_ID", "5"),
                ("GITHUB_RUN_ATTEMPT", "1"),
            ],
        );
        assert_eq!(
            value(&f.repo_url),
            Some("https://ghe.example.com/acme/shop")
        );
        assert_eq!(
            value(&f.run_url),
            Some("https://ghe.example.com/acme/shop/actions/runs/5")
        );
    }
}
