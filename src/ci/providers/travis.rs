//! Travis CI. <https://docs.travis-ci.com/user/environment-variables/#default-environment-variables>

use super::{CiFacts, Field, Vars, exit_code_status};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // Deployments run in a job (often a `deploy` stage); its id and page identify the run.
    // Travis restarts a job under the same id and names no attempt, so a restart updates
    // the run rather than adding one.
    facts.run_id = vars.field("TRAVIS_JOB_ID").or(facts.run_id.take());
    facts.run_url = vars.field("TRAVIS_JOB_WEB_URL").or(facts.run_url.take());
    facts.workflow = vars.first(&["TRAVIS_JOB_NAME", "TRAVIS_BUILD_STAGE_NAME"]);
    // Travis builds GitHub repositories and names them by slug only.
    facts.repo_url = vars.get("TRAVIS_REPO_SLUG").map(|slug| {
        Field::new(
            format!("https://github.com/{slug}"),
            "env TRAVIS_REPO_SLUG (GitHub)",
        )
    });
    // 0 while every script command has passed; read in `after_script`.
    facts.status = exit_code_status(vars, "TRAVIS_TEST_RESULT");
    facts.job_key = vars.get("TRAVIS_JOB_ID");
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::TravisCI,
            &[
                ("TRAVIS_JOB_ID", "55501"),
                (
                    "TRAVIS_JOB_WEB_URL",
                    "https://app.travis-ci.com/github/acme/shop/jobs/55501",
                ),
                ("TRAVIS_BUILD_STAGE_NAME", "Deploy"),
                ("TRAVIS_REPO_SLUG", "acme/shop"),
                ("TRAVIS_TEST_RESULT", "1"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("55501"));
        assert_eq!(
            value(&f.run_url),
            Some("https://app.travis-ci.com/github/acme/shop/jobs/55501")
        );
        assert_eq!(value(&f.workflow), Some("Deploy"));
        assert_eq!(value(&f.repo_url), Some("https://github.com/acme/shop"));
        assert_eq!(value(&f.status), Some("failure"));
        assert_eq!(f.job_key.as_deref(), Some("55501"));
    }
}
