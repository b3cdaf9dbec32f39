//! Buildkite. <https://buildkite.com/docs/pipelines/configure/environment-variables>

use super::{CiFacts, Field, Vars, exit_code_status};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // The build number reads better than the build UUID and is unique per pipeline, which
    // is the workflow.
    facts.run_id = vars.field("BUILDKITE_BUILD_NUMBER").or(facts.run_id.take());
    facts.workflow = vars.first(&["BUILDKITE_PIPELINE_SLUG", "BUILDKITE_PIPELINE_NAME"]);
    facts.repo_url = vars.field("BUILDKITE_REPO");
    facts.actor = vars.first(&["BUILDKITE_BUILD_CREATOR", "BUILDKITE_BUILD_AUTHOR"]);
    // A retried job keeps the build number; BUILDKITE_RETRY_COUNT is 0 on the first try.
    facts.attempt = vars.get("BUILDKITE_RETRY_COUNT").and_then(|n| {
        let n: u32 = n.parse().ok()?;
        Some(Field::new(
            (n + 1).to_string(),
            "env BUILDKITE_RETRY_COUNT + 1",
        ))
    });
    // Set for `post-command` hooks.
    facts.status = exit_code_status(vars, "BUILDKITE_COMMAND_EXIT_STATUS");
    facts.job_key = vars.get("BUILDKITE_JOB_ID");
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::Buildkite,
            &[
                ("BUILDKITE_BUILD_NUMBER", "1514"),
                ("BUILDKITE_PIPELINE_SLUG", "shop-deploy"),
                ("BUILDKITE_REPO", "git@github.com:acme/shop.git"),
                ("BUILDKITE_BUILD_CREATOR", "Keith Pitt"),
                ("BUILDKITE_RETRY_COUNT", "1"),
                ("BUILDKITE_COMMAND_EXIT_STATUS", "2"),
                ("BUILDKITE_JOB_ID", "e44f9784-e20e-4b93-a21d-f41fd5869db9"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("1514"));
        assert_eq!(value(&f.workflow), Some("shop-deploy"));
        assert_eq!(value(&f.repo_url), Some("git@github.com:acme/shop.git"));
        assert_eq!(value(&f.actor), Some("Keith Pitt"));
        assert_eq!(value(&f.attempt), Some("2"));
        assert_eq!(value(&f.status), Some("failure"));
        assert_eq!(
            f.job_key.as_deref(),
            Some("e44f9784-e20e-4b93-a21d-f41fd5869db9")
        );
    }
}
