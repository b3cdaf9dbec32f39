//! CircleCI. <https://circleci.com/docs/reference/variables/>

use super::{CiFacts, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // CircleCI names jobs, not workflows, in the environment, so the job is the run: its
    // number is unique per project and a re-run gets a new one; CIRCLE_BUILD_URL is its page.
    facts.run_id = vars.field("CIRCLE_BUILD_NUM").or(facts.run_id.take());
    facts.workflow = vars.field("CIRCLE_JOB");
    facts.repo_url = vars.field("CIRCLE_REPOSITORY_URL");
    facts.actor = vars.field("CIRCLE_USERNAME");
    // Parallel copies of a job (parallelism: N) share the job number.
    facts.job_key = vars.key(&[
        "CIRCLE_WORKFLOW_JOB_ID",
        "CIRCLE_BUILD_NUM",
        "CIRCLE_NODE_INDEX",
    ]);
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::CircleCI,
            &[
                ("CIRCLE_BUILD_NUM", "4512"),
                ("CIRCLE_JOB", "deploy-production"),
                ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
                ("CIRCLE_USERNAME", "alice"),
                (
                    "CIRCLE_WORKFLOW_JOB_ID",
                    "8a7c2d55-5a53-4b1a-b2a4-3f5e7c1d9e01",
                ),
                ("CIRCLE_NODE_INDEX", "0"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("4512"));
        assert_eq!(value(&f.workflow), Some("deploy-production"));
        assert_eq!(value(&f.repo_url), Some("git@github.com:acme/shop.git"));
        assert_eq!(value(&f.actor), Some("alice"));
        assert_eq!(
            f.job_key.as_deref(),
            Some("8a7c2d55-5a53-4b1a-b2a4-3f5e7c1d9e01/4512/0")
        );
    }
}
