//! Bitbucket Pipelines. <https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/>

use super::{CiFacts, Field, Vars, exit_code_status};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // The build number is what the UI shows and links to; the pipeline UUID is not.
    facts.run_id = vars.field("BITBUCKET_BUILD_NUMBER").or(facts.run_id.take());
    // "Rerun failed steps" keeps the build number and counts up the step's run number.
    facts.attempt = vars.field("BITBUCKET_STEP_RUN_NUMBER");
    // BITBUCKET_GIT_HTTP_ORIGIN is `http://bitbucket.org/…`; the site is https.
    facts.repo_url = vars
        .field("BITBUCKET_GIT_HTTP_ORIGIN")
        .map(|f| {
            let https = match f.value.strip_prefix("http://") {
                Some(rest) => format!("https://{rest}"),
                None => f.value,
            };
            Field::new(https, f.source)
        })
        .or_else(|| {
            vars.get("BITBUCKET_REPO_FULL_NAME").map(|name| {
                Field::new(
                    format!("https://bitbucket.org/{name}"),
                    "env BITBUCKET_REPO_FULL_NAME",
                )
            })
        });
    if facts.run_url.is_none()
        && let (Some(repo), Some(build)) = (
            vars.get("BITBUCKET_REPO_FULL_NAME"),
            vars.get("BITBUCKET_BUILD_NUMBER"),
        )
    {
        facts.run_url = Some(Field::new(
            format!("https://bitbucket.org/{repo}/pipelines/results/{build}"),
            "env BITBUCKET_REPO_FULL_NAME/BITBUCKET_BUILD_NUMBER",
        ));
    }
    // Bitbucket names no pipeline; a deployment step names its environment.
    facts.workflow = vars.field("BITBUCKET_DEPLOYMENT_ENVIRONMENT");
    // Only the triggering user's UUID is in the environment, not their name.
    facts.actor = vars.field("BITBUCKET_STEP_TRIGGERER_UUID");
    // Set in `after-script`.
    facts.status = exit_code_status(vars, "BITBUCKET_EXIT_CODE");
    facts.job_key = vars.key(&["BITBUCKET_STEP_UUID", "BITBUCKET_STEP_RUN_NUMBER"]);
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::Bitbucket,
            &[
                ("BITBUCKET_BUILD_NUMBER", "311"),
                ("BITBUCKET_STEP_RUN_NUMBER", "2"),
                (
                    "BITBUCKET_GIT_HTTP_ORIGIN",
                    "http://bitbucket.org/acme/shop",
                ),
                ("BITBUCKET_REPO_FULL_NAME", "acme/shop"),
                ("BITBUCKET_DEPLOYMENT_ENVIRONMENT", "production"),
                (
                    "BITBUCKET_STEP_TRIGGERER_UUID",
                    "{5a50dd52-5ab7-4225-831c-4db9451375a2}",
                ),
                ("BITBUCKET_EXIT_CODE", "0"),
                ("BITBUCKET_STEP_UUID", "{a1b2}"),
            ],
        );
        assert_eq!(value(&f.run_id), Some("311"));
        assert_eq!(value(&f.attempt), Some("2"));
        assert_eq!(value(&f.repo_url), Some("https://bitbucket.org/acme/shop"));
        assert_eq!(
            value(&f.run_url),
            Some("https://bitbucket.org/acme/shop/pipelines/results/311")
        );
        assert_eq!(value(&f.workflow), Some("production"));
        assert_eq!(
            value(&f.actor),
            Some("{5a50dd52-5ab7-4225-831c-4db9451375a2}")
        );
        assert_eq!(value(&f.status), Some("success"));
        assert_eq!(f.job_key.as_deref(), Some("{a1b2}/2"));
    }
}
