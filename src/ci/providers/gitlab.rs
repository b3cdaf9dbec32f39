//! GitLab CI. <https://docs.gitlab.com/ci/variables/predefined_variables/>

use super::{CiFacts, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // A deployment is one job of a pipeline: the job is the run. A retried job gets a new
    // CI_JOB_ID, so a re-run is a new deployment without an attempt number.
    facts.run_id = vars.field("CI_JOB_ID").or(facts.run_id.take());
    facts.run_url = vars.field("CI_JOB_URL").or(facts.run_url.take());
    facts.repo_url = vars.field("CI_PROJECT_URL");
    facts.actor = vars.first(&["GITLAB_USER_LOGIN", "GITLAB_USER_NAME"]);
    facts.workflow = vars.field("CI_JOB_NAME");
    facts.started_at = vars.first(&["CI_JOB_STARTED_AT", "CI_PIPELINE_CREATED_AT"]);
    // `success`, `failed` or `canceled` in `after_script`; `running` elsewhere.
    facts.status = vars.field("CI_JOB_STATUS");
    // Tag pipelines have no CI_COMMIT_BRANCH.
    if facts.branch.is_none() {
        facts.branch = vars.field("CI_COMMIT_REF_NAME");
    }
    facts.job_key = vars.get("CI_JOB_ID");
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::Gitlab,
            &[
                ("CI_JOB_ID", "555"),
                ("CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/555"),
                ("CI_PROJECT_URL", "https://gitlab.com/acme/shop"),
                ("GITLAB_USER_LOGIN", "bob"),
                ("CI_JOB_NAME", "deploy-prod"),
                ("CI_JOB_STARTED_AT", "2025-01-01T10:00:00Z"),
                ("CI_PIPELINE_CREATED_AT", "2025-01-01T09:58:00Z"),
                ("CI_JOB_STATUS", "failed"),
                ("CI_COMMIT_REF_NAME", "v1.2.0"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("555"));
        assert_eq!(
            f.run_id.as_ref().map(|r| r.source.as_str()),
            Some("env CI_JOB_ID")
        );
        assert_eq!(
            value(&f.run_url),
            Some("https://gitlab.com/acme/shop/-/jobs/555")
        );
        assert_eq!(value(&f.repo_url), Some("https://gitlab.com/acme/shop"));
        assert_eq!(value(&f.actor), Some("bob"));
        assert_eq!(value(&f.workflow), Some("deploy-prod"));
        assert_eq!(value(&f.started_at), Some("2025-01-01T10:00:00Z"));
        assert_eq!(value(&f.status), Some("failed"));
        assert_eq!(value(&f.branch), Some("v1.2.0"));
        assert_eq!(f.job_key.as_deref(), Some("555"));
    }
}
