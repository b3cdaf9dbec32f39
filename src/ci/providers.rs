//! Per-provider fields that `ci_env` does not read, from each provider's documented variables.

use std::path::PathBuf;

use ci_env::CiProvider;

use super::{CiFacts, Field};

type Get<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Fills in what `ci_env` lacks; a field set here replaces `ci_env`'s only where the provider
/// has a better one (e.g. GitLab's job id and job URL, since mwctl runs inside a job).
pub(super) fn add_extras(facts: &mut CiFacts, provider: CiProvider, get: Get) {
    let var = |key: &str| get(key).map(|v| Field::new(v, format!("env {key}")));
    match provider {
        CiProvider::GithubActions | CiProvider::GiteaActions | CiProvider::ForgejoActions => {
            github(facts, get, &var)
        }
        CiProvider::Gitlab => {
            // A deployment is one job of a pipeline: the job is the run.
            facts.run_id = var("CI_JOB_ID").or(facts.run_id.take());
            facts.run_url = var("CI_JOB_URL").or(facts.run_url.take());
            facts.repo_url = var("CI_PROJECT_URL");
            facts.actor = var("GITLAB_USER_LOGIN");
            facts.workflow = var("CI_JOB_NAME");
            facts.started_at = var("CI_JOB_STARTED_AT").or_else(|| var("CI_PIPELINE_CREATED_AT"));
            // Tag pipelines have no CI_COMMIT_BRANCH.
            if facts.branch.is_none() {
                facts.branch = var("CI_COMMIT_REF_NAME");
            }
            facts.job_key = get("CI_JOB_ID");
        }
        _ => {}
    }
}

fn github(facts: &mut CiFacts, get: Get, var: &dyn Fn(&str) -> Option<Field>) {
    let server = get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
    let repo = get("GITHUB_REPOSITORY");
    if let Some(repo) = &repo {
        facts.repo_url = Some(Field::new(
            format!("{server}/{repo}"),
            "env GITHUB_SERVER_URL/GITHUB_REPOSITORY",
        ));
        if let Some(run) = get("GITHUB_RUN_ID") {
            let mut url = format!("{server}/{repo}/actions/runs/{run}");
            if let Some(attempt) = get("GITHUB_RUN_ATTEMPT").filter(|a| a != "1") {
                url.push_str(&format!("/attempts/{attempt}"));
            }
            facts.run_url = Some(Field::new(
                url,
                "env GITHUB_SERVER_URL/GITHUB_REPOSITORY/GITHUB_RUN_ID",
            ));
        }
    }
    facts.actor = var("GITHUB_TRIGGERING_ACTOR").or_else(|| var("GITHUB_ACTOR"));
    facts.workflow = var("GITHUB_WORKFLOW");
    facts.attempt = var("GITHUB_RUN_ATTEMPT");
    facts.job_key = Some(
        [
            get("GITHUB_RUN_ID"),
            get("GITHUB_RUN_ATTEMPT"),
            get("GITHUB_JOB"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("-"),
    );
    facts.temp_dir = get("RUNNER_TEMP").map(PathBuf::from);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn extras(provider: CiProvider, vars: &[(&str, &str)]) -> CiFacts {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let get = move |k: &str| vars.get(k).cloned();
        let mut facts = CiFacts::default();
        add_extras(&mut facts, provider, &get);
        facts
    }

    fn value(f: &Option<Field>) -> Option<&str> {
        f.as_ref().map(|f| f.value.as_str())
    }

    #[test]
    fn github_actions() {
        let f = extras(
            CiProvider::GithubActions,
            &[
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_RUN_ID", "99"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_ACTOR", "alice"),
                ("GITHUB_WORKFLOW", "Deploy"),
                ("GITHUB_JOB", "prod"),
                ("RUNNER_TEMP", "/tmp/runner"),
            ],
        );
        assert_eq!(value(&f.repo_url), Some("https://github.com/acme/shop"));
        assert_eq!(
            value(&f.run_url),
            Some("https://github.com/acme/shop/actions/runs/99/attempts/2")
        );
        assert_eq!(value(&f.actor), Some("alice"));
        assert_eq!(value(&f.workflow), Some("Deploy"));
        assert_eq!(value(&f.attempt), Some("2"));
        assert_eq!(f.job_key.as_deref(), Some("99-2-prod"));
        assert_eq!(f.temp_dir, Some(PathBuf::from("/tmp/runner")));
    }

    #[test]
    fn gitlab_ci() {
        let f = extras(
            CiProvider::Gitlab,
            &[
                ("CI_JOB_ID", "555"),
                ("CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/555"),
                ("CI_PROJECT_URL", "https://gitlab.com/acme/shop"),
                ("GITLAB_USER_LOGIN", "bob"),
                ("CI_JOB_NAME", "deploy-prod"),
                ("CI_JOB_STARTED_AT", "2025-01-01T10:00:00Z"),
                ("CI_COMMIT_REF_NAME", "v1.2.0"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("555"));
        assert_eq!(
            value(&f.run_url),
            Some("https://gitlab.com/acme/shop/-/jobs/555")
        );
        assert_eq!(value(&f.repo_url), Some("https://gitlab.com/acme/shop"));
        assert_eq!(value(&f.actor), Some("bob"));
        assert_eq!(value(&f.workflow), Some("deploy-prod"));
        assert_eq!(value(&f.started_at), Some("2025-01-01T10:00:00Z"));
        assert_eq!(value(&f.branch), Some("v1.2.0"));
        assert_eq!(
            f.run_id.as_ref().map(|r| r.source.as_str()),
            Some("env CI_JOB_ID")
        );
    }
}
