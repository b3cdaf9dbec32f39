//! `mwctl deploy` as a pipeline step: start/finish across processes, CI environments, and
//! never failing the build.

mod common;

use std::time::{Duration, Instant};

use common::{Server, mwctl_isolated, stdout_json};
use predicates::str::contains;

const REPO: &str = "https://github.com/acme/shop";

fn deploy(server: &Server, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = server.mwctl();
    cmd.arg("deploy").args(args);
    cmd
}

#[test]
fn start_then_finish_gives_one_run_with_the_elapsed_duration() {
    let server = Server::start();
    server.link(REPO);
    let fields = [
        "--repo",
        REPO,
        "--branch",
        "main",
        "--workflow",
        "release",
        "--actor",
        "carol",
    ];

    deploy(&server, &["start"]).args(fields).assert().success();
    server.wait_processed();
    let pending = server.runs();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, "PENDING");

    std::thread::sleep(Duration::from_millis(2200));
    let out = deploy(&server, &["finish", "--status", "passed", "-o", "json"])
        .args(fields)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");

    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1, "finish updates the run start created");
    let run = &runs[0];
    assert_eq!(run.status, "SUCCESS");
    assert_eq!(run.workflow, "release");
    assert_eq!(run.event_actor, "carol");
    assert_eq!(
        run.workflow_run_unique_id,
        pending[0].workflow_run_unique_id
    );
    let duration = run.duration.expect("duration set");
    assert!(
        (2..=6).contains(&duration),
        "duration {duration}s, expected about 2s"
    );
}

#[test]
fn a_finish_processed_before_its_start_stays_final() {
    let server = Server::start();
    server.link(REPO);
    let fields = ["--repo", REPO, "--branch", "main", "--run-id", "ooo-1"];
    deploy(&server, &["finish", "--status", "failed"])
        .args(fields)
        .assert()
        .success();
    server.wait_processed();
    deploy(&server, &["start"]).args(fields).assert().success();
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status, "FAILURE",
        "a late PENDING never overwrites a final status"
    );
}

#[test]
fn record_sends_a_past_deployment_with_its_duration() {
    let server = Server::start();
    server.link(REPO);
    deploy(&server, &["record", "--status", "success"])
        .args([
            "--started-at",
            "2025-03-01T10:00:00Z",
            "--finished-at",
            "2025-03-01T10:04:30Z",
        ])
        .args(["--repo", REPO, "--branch", "main", "--commit", "0123abcd"])
        .assert()
        .success();
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].duration, Some(270));
    assert_eq!(runs[0].commit_sha.as_deref(), Some("0123abcd"));
    assert_eq!(
        runs[0].conducted_at.to_rfc3339(),
        "2025-03-01T10:00:00+00:00"
    );
}

#[test]
fn github_actions_environment_fills_every_field() {
    let server = Server::start();
    server.link(REPO);
    let outputs = server.dir.path().join("gh-output");
    let summary = server.dir.path().join("gh-summary.md");
    let github = |cmd: &mut assert_cmd::Command| {
        cmd.env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8")
            .env("GITHUB_RUN_ID", "1658821493")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_WORKFLOW", "Deploy production")
            .env("GITHUB_JOB", "deploy")
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary);
    };
    let mut start = deploy(&server, &["start"]);
    github(&mut start);
    start.assert().success();
    let mut finish = deploy(&server, &["finish", "--status", "success"]);
    github(&mut finish);
    finish.assert().success();

    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.repo, "acme/shop");
    assert_eq!(run.workflow, "Deploy production");
    assert_eq!(run.workflow_run_unique_id, "1658821493-1");
    assert_eq!(run.head_branch, "main");
    assert_eq!(run.event_actor, "octocat");
    assert_eq!(run.status, "SUCCESS");
    assert_eq!(
        run.commit_sha.as_deref(),
        Some("9fceb02d0ae598e95dc970b74767f19372d61af8")
    );
    assert_eq!(
        run.html_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/1658821493")
    );
    let outputs = std::fs::read_to_string(outputs).expect("outputs written");
    assert!(outputs.contains("event_id=evt_"), "{outputs}");
    assert!(outputs.contains("run_id=1658821493-1"), "{outputs}");
    let summary = std::fs::read_to_string(summary).expect("summary written");
    assert!(
        summary.contains("| Deploy production | 1658821493-1 | SUCCESS |"),
        "{summary}"
    );
}

#[test]
fn gitlab_ci_environment_fills_every_field() {
    let server = Server::start();
    server.link("https://gitlab.com/acme/platform/api");
    let mut cmd = deploy(&server, &["finish", "--status", "success"]);
    cmd.env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_URL", "https://gitlab.com/acme/platform/api")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_SHA", "1ecfd275763eff1d6b4844ea3168962458c9f27a")
        .env("CI_PIPELINE_ID", "1000")
        .env("CI_JOB_ID", "4242")
        .env(
            "CI_JOB_URL",
            "https://gitlab.com/acme/platform/api/-/jobs/4242",
        )
        .env("CI_JOB_NAME", "deploy:production")
        .env("CI_JOB_STARTED_AT", "2025-02-01T09:00:00Z")
        .env("GITLAB_USER_LOGIN", "dev1");
    cmd.assert().success();
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.repo, "acme/platform/api");
    assert_eq!(run.workflow, "deploy:production");
    assert_eq!(run.workflow_run_unique_id, "4242");
    assert_eq!(run.event_actor, "dev1");
    assert_eq!(run.conducted_at.to_rfc3339(), "2025-02-01T09:00:00+00:00");
    assert!(
        run.duration.is_some_and(|d| d > 0),
        "duration from the job start time"
    );
    assert_eq!(
        run.html_url.as_deref(),
        Some("https://gitlab.com/acme/platform/api/-/jobs/4242")
    );
}

#[test]
fn an_unreachable_server_warns_and_exits_zero_unless_strict() {
    let home = tempfile::tempdir().expect("tempdir");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let args = [
        "deploy",
        "start",
        "--repo",
        REPO,
        "--branch",
        "main",
        "--timeout",
        "3s",
    ];

    let started = Instant::now();
    mwctl_isolated(home.path())
        .env("MW_URL", &url)
        .env("MW_API_KEY", "mwk_whatever")
        .args(args)
        .assert()
        .success()
        .stderr(contains("could not report the deployment"))
        .stderr(contains("--strict"));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by --timeout"
    );

    mwctl_isolated(home.path())
        .env("MW_URL", &url)
        .env("MW_API_KEY", "mwk_whatever")
        .env("MW_STRICT", "1")
        .args(args)
        .assert()
        .failure();
}

#[test]
fn a_missing_key_is_a_warning_not_a_failure() {
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .env("MW_URL", "http://127.0.0.1:9")
        .args(["deploy", "start", "--repo", REPO, "--branch", "main"])
        .assert()
        .success()
        .stderr(contains("no API key"));
}

#[test]
fn dry_run_shows_fields_and_sources_and_sends_nothing() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = mwctl_isolated(home.path())
        .env("MW_WORKFLOW", "ship")
        .args([
            "deploy",
            "start",
            "--dry-run",
            "-o",
            "json",
            "--repo",
            REPO,
            "--branch",
            "main",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "dry_run");
    assert_eq!(report["run"]["workflow_name"], "ship");
    assert_eq!(report["run"]["status"], "PENDING");
    assert_eq!(
        report["sources"]["workflow_name"],
        "--workflow / MW_WORKFLOW"
    );
    assert_eq!(report["sources"]["workflow_run_unique_id"], "generated");
}
