//! AWS CodeBuild. <https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html>

use super::{CiFacts, Field, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    // CODEBUILD_BUILD_ID is `project:uuid`: the project is the workflow, and its build
    // number (new on every retry) the readable run id.
    let project = vars
        .get("CODEBUILD_BUILD_ID")
        .and_then(|id| id.split_once(':').map(|(p, _)| p.to_owned()));
    facts.workflow = project
        .as_ref()
        .map(|p| Field::new(p, "env CODEBUILD_BUILD_ID (project)"));
    facts.run_id = vars.field("CODEBUILD_BUILD_NUMBER").or(facts.run_id.take());
    // S3 sources have no repository; CodePipeline builds may leave it empty (git then).
    facts.repo_url = vars
        .field("CODEBUILD_SOURCE_REPO_URL")
        .filter(|f| !f.value.starts_with("s3://"));
    // A user's name, `codepipeline/<pipeline>`, or the webhook actor's account.
    facts.actor = vars.first(&["CODEBUILD_INITIATOR", "CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID"]);
    facts.started_at = vars.unix_time("CODEBUILD_START_TIME", true);
    // Documented as 0 or 1; anything else says nothing about the build.
    facts.status = vars.get("CODEBUILD_BUILD_SUCCEEDING").and_then(|v| {
        let word = match crate::cli::parse_bool(&v) {
            Ok(Some(true)) => "success",
            Ok(Some(false)) => "failure",
            _ => return None,
        };
        Some(Field::new(
            word,
            format!("env CODEBUILD_BUILD_SUCCEEDING={v}"),
        ))
    });
    if facts.run_url.is_none() {
        facts.run_url = console_url(vars);
    }
    facts.job_key = vars.get("CODEBUILD_BUILD_ID");
}

/// The build's console page, from its ARN
/// (`arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>`).
fn console_url(vars: &Vars) -> Option<Field> {
    let arn = vars.get("CODEBUILD_BUILD_ARN")?;
    let mut parts = arn.splitn(6, ':');
    let (_, _, _, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let build_id = resource.strip_prefix("build/")?;
    let (project, _) = build_id.split_once(':')?;
    Some(Field::new(
        format!(
            "https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}/projects/{project}/build/{}/?region={region}",
            build_id.replace(':', "%3A")
        ),
        "env CODEBUILD_BUILD_ARN",
    ))
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};

    #[test]
    fn documented_variables() {
        let f = extras_for(
            CiProvider::AwsCodebuild,
            &[
                (
                    "CODEBUILD_BUILD_ID",
                    "codebuild-demo-project:b1e6661e-e4f2-4156-9ab9-82a19EXAMPLE",
                ),
                (
                    "CODEBUILD_BUILD_ARN",
                    "arn:aws:codebuild:us-east-1:123456789012:build/codebuild-demo-project:b1e6661e-e4f2-4156-9ab9-82a19EXAMPLE",
                ),
                ("CODEBUILD_BUILD_NUMBER", "17"),
                (
                    "CODEBUILD_SOURCE_REPO_URL",
                    "https://github.com/acme/shop.git",
                ),
                ("CODEBUILD_INITIATOR", "codepipeline/my-demo-pipeline"),
                ("CODEBUILD_START_TIME", "1738570500000"),
                ("CODEBUILD_BUILD_SUCCEEDING", "0"),
            ],
        );
        assert_eq!(value(&f.workflow), Some("codebuild-demo-project"));
        assert_eq!(value(&f.run_id), Some("17"));
        assert_eq!(value(&f.repo_url), Some("https://github.com/acme/shop.git"));
        assert_eq!(value(&f.actor), Some("codepipeline/my-demo-pipeline"));
        assert_eq!(value(&f.started_at), Some("2025-02-03T08:15:00Z"));
        assert_eq!(value(&f.status), Some("failure"));
        assert_eq!(
            value(&f.run_url),
            Some(
                "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/codebuild-demo-project/build/codebuild-demo-project%3Ab1e6661e-e4f2-4156-9ab9-82a19EXAMPLE/?region=us-east-1"
            )
        );
    }

    #[test]
    fn s3_sources_are_not_repositories() {
        let f = extras_for(
            CiProvider::AwsCodebuild,
            &[("CODEBUILD_SOURCE_REPO_URL", "s3://bucket/source.zip")],
        );
        assert_eq!(f.repo_url, None);
    }
}
