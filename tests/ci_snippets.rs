//! Every CI: the snippet docs/ci-providers.md gives for it, run in an environment built from
//! the provider's documented variables, against the real server; then the exact fields the
//! server received. Also the GitLab template and the Argo CD hooks.

mod common;

use std::path::Path;

use common::{Server, git_repo};
use serde_json::Value;

const SHA: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

/// One provider: where its snippet is, the environment, and what must arrive.
struct Case {
    /// The `## ` heading in docs/ci-providers.md, and which code block under it.
    heading: &'static str,
    block: usize,
    /// Which of the block's `mwctl deploy …` commands a successful job runs, in order.
    commands: &'static [usize],
    /// What the CI would have put in place of its expressions before the shell sees them.
    substitutions: &'static [(&'static str, &'static str)],
    env: Vec<(&'static str, String)>,
    /// Set for the commands after the first: the CI's view of the job's outcome.
    finish_env: &'static [(&'static str, &'static str)],
    /// The commit's author, in a git checkout, for CIs that name no actor.
    git_author: Option<&'static str>,
    link: &'static str,
    expect: Expect,
}

struct Expect {
    provider: &'static str,
    repo_url: &'static str,
    workflow: &'static str,
    run_id: &'static str,
    branch: &'static str,
    actor: &'static str,
    html_url: Option<&'static str>,
}

fn env(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// The `mwctl deploy …` commands of the `n`th code block under `## heading`.
fn snippet_commands(doc: &str, heading: &str, n: usize) -> Vec<String> {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/ci-providers.md has no section {heading:?}"));
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let block = section
        .split("```")
        .skip(1)
        .step_by(2)
        .nth(n)
        .unwrap_or_else(|| panic!("{heading:?} has no code block {n}"));
    block
        .lines()
        .filter_map(|line| line.find("mwctl deploy").map(|i| &line[i..]))
        .map(|cmd| {
            // `sh 'mwctl deploy start'`: drop the closing quote of the wrapper, not one the
            // command itself opened.
            let cmd = cmd.trim_end();
            match cmd.chars().last() {
                Some(q @ ('\'' | '"')) if cmd.matches(q).count() % 2 == 1 => {
                    cmd[..cmd.len() - 1].to_owned()
                }
                _ => cmd.to_owned(),
            }
        })
        .collect()
}

fn run_case(case: Case) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ci-providers.md"))
        .expect("docs/ci-providers.md");
    let commands = snippet_commands(&doc, case.heading, case.block);
    let server = Server::start();
    server.link(case.link);
    let work = tempfile::tempdir().expect("tempdir");
    if let Some(author) = case.git_author {
        git_repo(work.path(), author, "main", case.link);
    }
    let temp = work.path().display().to_string();
    let mut env: Vec<(String, String)> = case
        .env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.replace("$WORK", &temp)))
        .collect();

    for (n, index) in case.commands.iter().enumerate() {
        let mut command = commands
            .get(*index)
            .unwrap_or_else(|| panic!("{}: no command {index} in {commands:?}", case.heading))
            .clone();
        for (from, to) in case.substitutions {
            command = command.replace(from, to);
        }
        if n == 1 {
            env.extend(
                case.finish_env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
        }
        let out = server.shell(work.path(), &command, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: `{command}` failed: {stderr}",
            case.heading
        );
        assert!(
            !stderr.contains("warning") && !stderr.contains("::error"),
            "{}: `{command}`: {stderr}",
            case.heading
        );
    }

    server.wait_processed();
    let sent = server.sent_runs();
    assert_eq!(
        sent.len(),
        case.commands.len(),
        "{}: {sent:#?}",
        case.heading
    );
    let e = &case.expect;
    let finish = &sent[sent.len() - 1];
    let want = |field: &str, value: &str| {
        assert_eq!(
            finish[field].as_str(),
            Some(value),
            "{}: {field} in {finish:#}",
            case.heading
        );
    };
    want("workflow_name", e.workflow);
    want("workflow_run_unique_id", e.run_id);
    want("head_branch", e.branch);
    want("event_actor", e.actor);
    want("commit_sha", SHA);
    want("status", "SUCCESS");
    assert_eq!(
        finish["repo_urls"],
        serde_json::json!([e.repo_url]),
        "{}",
        case.heading
    );
    assert_eq!(finish["html_url"].as_str(), e.html_url, "{}", case.heading);
    assert_eq!(
        finish["meta"]["ci_provider"], e.provider,
        "{}",
        case.heading
    );
    assert!(
        finish["duration"].as_i64().is_some_and(|d| d >= 0),
        "{}: the duration since start: {finish:#}",
        case.heading
    );
    if sent.len() == 2 {
        let start = &sent[0];
        assert_eq!(start["status"], "PENDING");
        assert_eq!(
            start["workflow_run_unique_id"],
            finish["workflow_run_unique_id"]
        );
        assert_eq!(
            start["workflow_run_conducted_at"], finish["workflow_run_conducted_at"],
            "{}: finish continues the run start began",
            case.heading
        );
    }
    let runs = server.runs();
    assert_eq!(runs.len(), 1, "{}: one deployment", case.heading);
    assert_eq!(runs[0].status, "SUCCESS");
}

#[test]
fn github_actions() {
    let temp = "$WORK";
    run_case(Case {
        heading: "GitHub Actions",
        block: 1,
        commands: &[0, 1],
        substitutions: &[("${{ job.status }}", "success")],
        env: env(&[
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_SHA", SHA),
            ("GITHUB_RUN_ID", "1658821493"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_ACTOR", "octocat"),
            ("GITHUB_TRIGGERING_ACTOR", "monalisa"),
            ("GITHUB_WORKFLOW", "Deploy production"),
            ("GITHUB_JOB", "deploy"),
            ("RUNNER_TEMP", temp),
        ]),
        finish_env: &[],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "github-actions",
            repo_url: "https://github.com/acme/shop",
            workflow: "Deploy production",
            run_id: "1658821493-2",
            branch: "main",
            actor: "monalisa",
            html_url: Some("https://github.com/acme/shop/actions/runs/1658821493/attempts/2"),
        },
    });
}

fn gitlab_env() -> Vec<(&'static str, String)> {
    env(&[
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_URL", "https://gitlab.com/acme/platform/api"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_SHA", SHA),
        ("CI_PIPELINE_ID", "1000"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.com/acme/platform/api/-/pipelines/1000",
        ),
        ("CI_JOB_ID", "4242"),
        (
            "CI_JOB_URL",
            "https://gitlab.com/acme/platform/api/-/jobs/4242",
        ),
        ("CI_JOB_NAME", "deploy:production"),
        ("CI_JOB_STARTED_AT", "2025-02-01T09:00:00Z"),
        ("CI_JOB_STATUS", "running"),
        ("GITLAB_USER_LOGIN", "dev1"),
    ])
}

fn gitlab_expect() -> Expect {
    Expect {
        provider: "gitlab",
        repo_url: "https://gitlab.com/acme/platform/api",
        workflow: "deploy:production",
        run_id: "4242",
        branch: "main",
        actor: "dev1",
        html_url: Some("https://gitlab.com/acme/platform/api/-/jobs/4242"),
    }
}

#[test]
fn gitlab_ci() {
    run_case(Case {
        heading: "GitLab CI",
        block: 1,
        commands: &[0, 1],
        substitutions: &[],
        env: gitlab_env(),
        finish_env: &[("CI_JOB_STATUS", "success")],
        git_author: None,
        link: "https://gitlab.com/acme/platform/api",
        expect: gitlab_expect(),
    });
}

/// docs/gitlab-ci.yml: the template's before_script and after_script, as GitLab runs them.
#[test]
fn gitlab_ci_template() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/gitlab-ci.yml"))
        .expect("docs/gitlab-ci.yml");
    let yaml: Value = serde_yaml_ng::from_str(&text).expect("the template is YAML");
    let job = &yaml[".mwctl-deploy"];
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a list"))
            .iter()
            .map(|l| l.as_str().expect("a command").to_owned())
            .collect()
    };
    let server = Server::start();
    server.link("https://gitlab.com/acme/platform/api");
    let work = tempfile::tempdir().expect("tempdir");
    let mut env: Vec<(String, String)> = gitlab_env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (k, v) in job["variables"].as_object().expect("variables") {
        env.push((k.clone(), v.as_str().expect("a string").to_owned()));
    }
    for line in lines("before_script") {
        let out = server.shell(work.path(), &line, &env);
        assert!(out.status.success(), "{line}: {out:?}");
    }
    env.push(("CI_JOB_STATUS".into(), "failed".into()));
    for line in lines("after_script") {
        let out = server.shell(work.path(), &line, &env);
        assert!(out.status.success(), "{line}: {out:?}");
    }
    server.wait_processed();
    let sent = server.sent_runs();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let e = gitlab_expect();
    assert_eq!(sent[0]["status"], "PENDING");
    assert_eq!(sent[1]["status"], "FAILURE", "from CI_JOB_STATUS");
    assert_eq!(sent[1]["workflow_run_unique_id"], e.run_id);
    assert_eq!(sent[1]["workflow_name"], e.workflow);
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "FAILURE");
}

#[test]
fn circleci() {
    run_case(Case {
        heading: "CircleCI",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("CI", "true"),
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", SHA),
            ("CIRCLE_WORKFLOW_ID", "6f1c0b0e-8c53-4a4b-9d5d-0f0c1a6b7e21"),
            (
                "CIRCLE_WORKFLOW_JOB_ID",
                "8a7c2d55-5a53-4b1a-b2a4-3f5e7c1d9e01",
            ),
            ("CIRCLE_BUILD_NUM", "4512"),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/4512"),
            ("CIRCLE_JOB", "deploy-production"),
            ("CIRCLE_REPOSITORY_URL", "git@github.com:acme/shop.git"),
            ("CIRCLE_PROJECT_USERNAME", "acme"),
            ("CIRCLE_PROJECT_REPONAME", "shop"),
            ("CIRCLE_USERNAME", "alice"),
            ("CIRCLE_NODE_INDEX", "0"),
            ("CIRCLE_NODE_TOTAL", "1"),
        ]),
        finish_env: &[],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "circleci",
            repo_url: "https://github.com/acme/shop",
            workflow: "deploy-production",
            run_id: "4512",
            branch: "main",
            actor: "alice",
            html_url: Some("https://circleci.com/gh/acme/shop/4512"),
        },
    });
}

#[test]
fn jenkins() {
    run_case(Case {
        heading: "Jenkins",
        block: 0,
        commands: &[0, 1],
        substitutions: &[("${currentBuild.currentResult}", "SUCCESS")],
        env: env(&[
            ("JENKINS_URL", "https://jenkins.example.com/"),
            ("BUILD_ID", "87"),
            ("BUILD_NUMBER", "87"),
            ("BUILD_TAG", "jenkins-shop-deploy-87"),
            (
                "BUILD_URL",
                "https://jenkins.example.com/job/shop-deploy/87/",
            ),
            ("JOB_NAME", "shop-deploy"),
            ("EXECUTOR_NUMBER", "0"),
            ("NODE_NAME", "built-in"),
            ("WORKSPACE", "$WORK"),
            ("WORKSPACE_TMP", "$WORK@tmp"),
            ("GIT_URL", "https://github.com/acme/shop.git"),
            ("GIT_BRANCH", "origin/main"),
            ("GIT_COMMIT", SHA),
            ("BUILD_USER_ID", "dana"),
        ]),
        finish_env: &[],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "jenkins",
            repo_url: "https://github.com/acme/shop",
            workflow: "shop-deploy",
            run_id: "87",
            branch: "main",
            actor: "dana",
            html_url: Some("https://jenkins.example.com/job/shop-deploy/87/"),
        },
    });
}

#[test]
fn buildkite() {
    run_case(Case {
        heading: "Buildkite",
        block: 0,
        commands: &[0, 1],
        substitutions: &[("\"$status\"", "success")],
        env: env(&[
            ("CI", "true"),
            ("BUILDKITE", "true"),
            ("BUILDKITE_BRANCH", "main"),
            ("BUILDKITE_COMMIT", SHA),
            ("BUILDKITE_BUILD_ID", "b81ed283-58b7-4925-aa4a-d3da0eafcf2b"),
            ("BUILDKITE_BUILD_NUMBER", "1514"),
            (
                "BUILDKITE_BUILD_URL",
                "https://buildkite.com/acme/shop-deploy/builds/1514",
            ),
            ("BUILDKITE_PIPELINE_SLUG", "shop-deploy"),
            ("BUILDKITE_REPO", "git@github.com:acme/shop.git"),
            ("BUILDKITE_BUILD_CREATOR", "Keith Pitt"),
            ("BUILDKITE_RETRY_COUNT", "0"),
            ("BUILDKITE_JOB_ID", "d593f546-8c9a-45f8-8701-a2b92fbea9a7"),
        ]),
        finish_env: &[],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "buildkite",
            repo_url: "https://github.com/acme/shop",
            workflow: "shop-deploy",
            run_id: "1514-1",
            branch: "main",
            actor: "Keith Pitt",
            html_url: Some("https://buildkite.com/acme/shop-deploy/builds/1514"),
        },
    });
}

#[test]
fn bitbucket_pipelines() {
    run_case(Case {
        heading: "Bitbucket Pipelines",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("CI", "true"),
            ("BITBUCKET_BUILD_NUMBER", "311"),
            ("BITBUCKET_COMMIT", SHA),
            ("BITBUCKET_BRANCH", "main"),
            ("BITBUCKET_WORKSPACE", "acme"),
            ("BITBUCKET_REPO_SLUG", "shop"),
            ("BITBUCKET_REPO_FULL_NAME", "acme/shop"),
            (
                "BITBUCKET_GIT_HTTP_ORIGIN",
                "http://bitbucket.org/acme/shop",
            ),
            (
                "BITBUCKET_PIPELINE_UUID",
                "{3d1f7a9c-2b64-4f5e-9a8d-7c6b5a4f3e2d}",
            ),
            (
                "BITBUCKET_STEP_UUID",
                "{a8f2c1d4-5e6b-4a7c-8d9e-0f1a2b3c4d5e}",
            ),
            ("BITBUCKET_STEP_RUN_NUMBER", "1"),
            (
                "BITBUCKET_STEP_TRIGGERER_UUID",
                "{5a50dd52-5ab7-4225-831c-4db9451375a2}",
            ),
            ("BITBUCKET_DEPLOYMENT_ENVIRONMENT", "production"),
            ("BITBUCKET_CLONE_DIR", "$WORK"),
        ]),
        finish_env: &[("BITBUCKET_EXIT_CODE", "0")],
        git_author: None,
        link: "https://bitbucket.org/acme/shop",
        expect: Expect {
            provider: "bitbucket",
            repo_url: "https://bitbucket.org/acme/shop",
            workflow: "production",
            run_id: "311-1",
            branch: "main",
            actor: "{5a50dd52-5ab7-4225-831c-4db9451375a2}",
            html_url: Some("https://bitbucket.org/acme/shop/pipelines/results/311"),
        },
    });
}

#[test]
fn azure_pipelines() {
    run_case(Case {
        heading: "Azure Pipelines",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("TF_BUILD", "True"),
            (
                "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
                "https://dev.azure.com/acme/",
            ),
            (
                "SYSTEM_TEAMPROJECTID",
                "2b5e1b3c-4d6f-4a8b-9c0d-1e2f3a4b5c6d",
            ),
            ("SYSTEM_TEAMPROJECT", "shop"),
            ("BUILD_BUILDID", "9001"),
            ("BUILD_SOURCEBRANCH", "refs/heads/release/2025.02"),
            ("BUILD_SOURCEBRANCHNAME", "2025.02"),
            ("BUILD_SOURCEVERSION", SHA),
            (
                "BUILD_REPOSITORY_URI",
                "https://acme@dev.azure.com/acme/shop/_git/shop",
            ),
            ("BUILD_DEFINITIONNAME", "shop-release"),
            ("BUILD_REQUESTEDFOR", "Frank Lee"),
            ("SYSTEM_JOBATTEMPT", "1"),
            ("SYSTEM_JOBID", "12f1170f-54f2-53f3-20dd-22fc7dff55f9"),
            ("AGENT_TEMPDIRECTORY", "$WORK"),
        ]),
        finish_env: &[("AGENT_JOBSTATUS", "Succeeded")],
        git_author: None,
        link: "https://dev.azure.com/acme/shop/_git/shop",
        expect: Expect {
            provider: "azure",
            repo_url: "https://dev.azure.com/acme/shop/_git/shop",
            workflow: "shop-release",
            run_id: "9001-1",
            branch: "release/2025.02",
            actor: "Frank Lee",
            html_url: Some(
                "https://dev.azure.com/acme/2b5e1b3c-4d6f-4a8b-9c0d-1e2f3a4b5c6d/_build/results?buildId=9001",
            ),
        },
    });
}

#[test]
fn drone() {
    run_case(Case {
        heading: "Drone and Woodpecker",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("CI", "true"),
            ("DRONE", "true"),
            ("DRONE_BRANCH", "main"),
            ("DRONE_COMMIT", SHA),
            ("DRONE_COMMIT_SHA", SHA),
            ("DRONE_BUILD_NUMBER", "22"),
            ("DRONE_BUILD_LINK", "https://drone.example.com/acme/shop/22"),
            ("DRONE_REPO", "acme/shop"),
            ("DRONE_REPO_LINK", "https://github.com/acme/shop"),
            ("DRONE_BUILD_TRIGGER", "alice"),
            ("DRONE_COMMIT_AUTHOR", "bob"),
            ("DRONE_STAGE_NAME", "deploy"),
            ("DRONE_STAGE_NUMBER", "1"),
            ("DRONE_BUILD_STARTED", "1738570500"),
            ("DRONE_STAGE_STARTED", "1738570500"),
            // Each step is its own container: only the workspace is shared.
            ("DRONE_WORKSPACE", "$WORK"),
        ]),
        finish_env: &[("DRONE_BUILD_STATUS", "success")],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "drone",
            repo_url: "https://github.com/acme/shop",
            workflow: "deploy",
            run_id: "22",
            branch: "main",
            actor: "alice",
            html_url: Some("https://drone.example.com/acme/shop/22"),
        },
    });
}

#[test]
fn woodpecker() {
    run_case(Case {
        heading: "Drone and Woodpecker",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("CI", "woodpecker"),
            ("CI_REPO", "acme/shop"),
            ("CI_REPO_URL", "https://codeberg.org/acme/shop"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF", "refs/heads/main"),
            ("CI_PIPELINE_NUMBER", "8"),
            (
                "CI_PIPELINE_URL",
                "https://ci.example.com/repos/7/pipeline/8",
            ),
            ("CI_PIPELINE_STARTED", "1738570500"),
            ("CI_COMMIT_AUTHOR", "john-doe"),
            ("CI_WORKFLOW_NAME", "release"),
            ("CI_WORKSPACE", "$WORK"),
        ]),
        finish_env: &[("CI_PIPELINE_STATUS", "success")],
        git_author: None,
        link: "https://codeberg.org/acme/shop",
        expect: Expect {
            provider: "woodpecker",
            repo_url: "https://codeberg.org/acme/shop",
            workflow: "release",
            run_id: "8",
            branch: "main",
            actor: "john-doe",
            html_url: Some("https://ci.example.com/repos/7/pipeline/8"),
        },
    });
}

#[test]
fn aws_codebuild() {
    run_case(Case {
        heading: "AWS CodeBuild",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            (
                "CODEBUILD_BUILD_ARN",
                "arn:aws:codebuild:eu-west-1:123456789012:build/shop-deploy:b1e6661e-e4f2-4156-9ab9-82a19EXAMPLE",
            ),
            (
                "CODEBUILD_BUILD_ID",
                "shop-deploy:b1e6661e-e4f2-4156-9ab9-82a19EXAMPLE",
            ),
            ("CODEBUILD_BUILD_NUMBER", "17"),
            ("CODEBUILD_RESOLVED_SOURCE_VERSION", SHA),
            (
                "CODEBUILD_SOURCE_REPO_URL",
                "https://github.com/acme/shop.git",
            ),
            ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/main"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "branch/main"),
            ("CODEBUILD_INITIATOR", "alice"),
            ("CODEBUILD_START_TIME", "1738570500000"),
        ]),
        finish_env: &[("CODEBUILD_BUILD_SUCCEEDING", "1")],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "aws-codebuild",
            repo_url: "https://github.com/acme/shop",
            workflow: "shop-deploy",
            run_id: "17",
            branch: "main",
            actor: "alice",
            html_url: Some(
                "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/shop-deploy/build/shop-deploy%3Ab1e6661e-e4f2-4156-9ab9-82a19EXAMPLE/?region=eu-west-1",
            ),
        },
    });
}

#[test]
fn teamcity() {
    let params = tempfile::tempdir().expect("tempdir");
    let config = params.path().join("teamcity.config.parameters");
    std::fs::write(
        &config,
        "teamcity.serverUrl=https\\://teamcity.example.com\n\
         vcsroot.url=https\\://github.com/acme/shop.git\n\
         teamcity.build.branch=main\n\
         teamcity.build.triggeredBy.username=grace\n",
    )
    .expect("writes");
    let build = params.path().join("teamcity.build.parameters");
    std::fs::write(
        &build,
        format!(
            "teamcity.build.id=4021\nteamcity.build.tempDir={}\nteamcity.configuration.properties.file={}\n",
            params.path().display(),
            config.display()
        ),
    )
    .expect("writes");
    let build = build.display().to_string();
    run_case(Case {
        heading: "TeamCity",
        block: 0,
        commands: &[0, 1],
        substitutions: &[("%teamcity.build.step.status%", "success")],
        env: env(&[
            ("TEAMCITY_VERSION", "2024.12 (build 174331)"),
            ("TEAMCITY_PROJECT_NAME", "Shop"),
            ("TEAMCITY_BUILDCONF_NAME", "Deploy production"),
            ("BUILD_NUMBER", "112"),
            ("BUILD_VCS_NUMBER", SHA),
            ("TEAMCITY_BUILD_PROPERTIES_FILE", &build),
        ]),
        finish_env: &[],
        git_author: None,
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "teamcity",
            repo_url: "https://github.com/acme/shop",
            workflow: "Deploy production",
            run_id: "4021",
            branch: "main",
            actor: "grace",
            html_url: Some("https://teamcity.example.com/viewLog.html?buildId=4021"),
        },
    });
}

#[test]
fn travis_ci() {
    run_case(Case {
        heading: "Travis CI",
        block: 0,
        commands: &[0, 1],
        substitutions: &[],
        env: env(&[
            ("CI", "true"),
            ("TRAVIS", "true"),
            ("TRAVIS_BRANCH", "main"),
            ("TRAVIS_COMMIT", SHA),
            ("TRAVIS_BUILD_ID", "9000"),
            (
                "TRAVIS_BUILD_WEB_URL",
                "https://app.travis-ci.com/github/acme/shop/builds/9000",
            ),
            ("TRAVIS_JOB_ID", "55501"),
            (
                "TRAVIS_JOB_WEB_URL",
                "https://app.travis-ci.com/github/acme/shop/jobs/55501",
            ),
            ("TRAVIS_BUILD_STAGE_NAME", "deploy"),
            ("TRAVIS_REPO_SLUG", "acme/shop"),
        ]),
        finish_env: &[("TRAVIS_TEST_RESULT", "0")],
        // Travis names no actor: the commit's author stands in.
        git_author: Some("Ada Lovelace"),
        link: "https://github.com/acme/shop",
        expect: Expect {
            provider: "travis-ci",
            repo_url: "https://github.com/acme/shop",
            workflow: "deploy",
            run_id: "55501",
            branch: "main",
            actor: "Ada Lovelace",
            html_url: Some("https://app.travis-ci.com/github/acme/shop/jobs/55501"),
        },
    });
}

/// docs/argocd/mwctl-hooks.yaml: each hook Job's container, as Kubernetes would start it
/// (its args, its env with the secret and the pod's UID filled in), in a container with no
/// CI and no git.
#[test]
fn argocd_hooks() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/argocd/mwctl-hooks.yaml"
    ))
    .expect("docs/argocd/mwctl-hooks.yaml");
    let values = [
        ("{{ .Values.mwctl.url }}", "SERVER_URL"),
        ("{{ .Values.mwctl.repo }}", "https://github.com/acme/shop"),
        ("{{ .Values.mwctl.branch }}", "main"),
        ("{{ .Values.mwctl.workflow }}", "argocd-shop-production"),
        ("{{ .Values.mwctl.revision }}", SHA),
        ("{{ .Values.mwctl.image }}", "mwctl:test"),
    ];
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let mut rendered = text;
    for (from, to) in values {
        rendered = rendered.replace(from, &to.replace("SERVER_URL", &server.url));
    }
    let jobs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&rendered)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("a YAML document"))
        .collect();
    assert_eq!(jobs.len(), 2, "a PostSync and a SyncFail hook");
    let work = tempfile::tempdir().expect("tempdir");
    for (n, job) in jobs.iter().enumerate() {
        let hook = job["metadata"]["annotations"]["argocd.argoproj.io/hook"]
            .as_str()
            .expect("a hook");
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        let mut env = Vec::new();
        for var in container["env"].as_array().expect("env") {
            let name = var["name"].as_str().expect("name").to_owned();
            let value = if let Some(v) = var["value"].as_str() {
                v.to_owned()
            } else if var["valueFrom"]["secretKeyRef"]["key"] == "api-key" {
                server.admin_key.clone()
            } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid" {
                format!("0b6a6f2e-7d4c-4c1e-9a5b-{n:012}")
            } else {
                panic!("{name}: an env source the test does not fill in: {var}");
            };
            env.push((name, value));
        }
        let args: Vec<String> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_owned())
            .collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mwctl"))
            .args(&args)
            .env_clear()
            .env("HOME", work.path())
            .env("TMPDIR", work.path())
            .envs(env)
            .current_dir(work.path())
            .output()
            .expect("mwctl runs");
        assert!(out.status.success(), "{hook}: {out:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("warning"),
            "{hook}: {out:?}"
        );
    }
    server.wait_processed();
    let sent = server.sent_runs();
    assert_eq!(sent.len(), 2);
    for (run, status) in sent.iter().zip(["SUCCESS", "FAILURE"]) {
        assert_eq!(run["status"], status);
        assert_eq!(run["commit_sha"], SHA);
        assert_eq!(run["head_branch"], "main");
        assert_eq!(run["workflow_name"], "argocd-shop-production");
        assert_eq!(run["event_actor"], "argocd");
        assert_eq!(
            run["repo_urls"],
            serde_json::json!(["https://github.com/acme/shop"])
        );
        assert!(
            run["workflow_run_unique_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("0b6a6f2e-")),
            "{run}"
        );
    }
    assert_eq!(server.runs().len(), 2, "two syncs, two deployments");
}

#[test]
fn every_provider_has_a_section() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ci-providers.md"))
        .expect("docs/ci-providers.md");
    for heading in [
        "GitHub Actions",
        "GitLab CI",
        "CircleCI",
        "Jenkins",
        "Buildkite",
        "Bitbucket Pipelines",
        "Azure Pipelines",
        "Drone and Woodpecker",
        "AWS CodeBuild",
        "TeamCity",
        "Travis CI",
        "Argo CD, and any container",
    ] {
        assert!(
            doc.contains(&format!("\n## {heading}\n")),
            "docs/ci-providers.md covers {heading}"
        );
        if heading != "Argo CD, and any container" {
            assert!(
                !snippet_commands(&doc, heading, 0).is_empty()
                    || !snippet_commands(&doc, heading, 1).is_empty(),
                "{heading} shows mwctl deploy"
            );
        }
    }
    assert!(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/container/Dockerfile"
        ))
        .exists()
    );
}
