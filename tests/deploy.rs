//! `mwctl deploy` as a pipeline step: start/finish across processes, CI environments, and
//! never failing the build.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, mwctl_isolated, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

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
        .code(1);
}

/// Runs `deploy start` against `url` with `--timeout 3s`: it must exit 0 within the deadline
/// plus a second and say why loudly (with `expect` in the message); with --strict, exit 1 as
/// fast. Returns the lenient run's JSON report.
fn survives(url: &str, key: &str, expect: &[&str]) -> serde_json::Value {
    let home = tempfile::tempdir().expect("tempdir");
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
    let limit = Duration::from_secs(4);
    let started = Instant::now();
    let out = mwctl_isolated(home.path())
        .env("MW_URL", url)
        .env("MW_API_KEY", key)
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit 0 without --strict: {stderr}");
    assert!(elapsed < limit, "took {elapsed:?}; the deadline is 3 s");
    assert!(
        stderr.contains("warning: mwctl: deploy start could not report the deployment"),
        "{stderr}"
    );
    for text in expect {
        assert!(stderr.contains(text), "{text:?} in {stderr}");
    }
    let report = stdout_json(&out);

    let started = Instant::now();
    let out = mwctl_isolated(home.path())
        .env("MW_URL", url)
        .env("MW_API_KEY", key)
        .args(args)
        .arg("--strict")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "--strict fails the step");
    assert!(started.elapsed() < limit);
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: mwctl: deploy start"));
    report
}

/// A mock server (wiremock), for faults the real server never produces.
fn mock(response: wiremock::ResponseTemplate) -> (tokio::runtime::Runtime, wiremock::MockServer) {
    use wiremock::matchers::{method, path};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST"))
            .and(path("/public/webhook/workflow"))
            .respond_with(response)
            .mount(&server)
            .await;
        server
    });
    (rt, server)
}

#[test]
fn a_hanging_server_is_given_up_on_at_the_deadline() {
    let (_rt, server) =
        mock(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(60)));
    let report = survives(
        &server.uri(),
        "mwk_any",
        &["no answer within 3s", "--timeout"],
    );
    assert_eq!(report["outcome"], "failed");
}

#[test]
fn a_server_error_is_retried_then_given_up_on() {
    let (rt, server) = mock(wiremock::ResponseTemplate::new(500).set_body_json(
        serde_json::json!({"error": "database is locked", "resolution": "retry later"}),
    ));
    let report = survives(
        &server.uri(),
        "mwk_any",
        &["HTTP 500", "database is locked", "retry later"],
    );
    assert_eq!(report["outcome"], "failed");
    let requests = rt.block_on(server.received_requests()).expect("recording");
    assert!(requests.len() > 2, "retried: {} requests", requests.len());
    let first_id = requests[0].headers.get("webhook-id").expect("signed");
    // One lenient run and one strict run, each retrying under its own id.
    assert!(
        requests
            .iter()
            .filter(|r| r.headers.get("webhook-id") == Some(first_id))
            .count()
            > 1,
        "retries reuse the webhook-id, so the server stores the run once"
    );
}

#[test]
fn an_upstream_style_rejection_is_a_warning_with_its_resolution() {
    // Upstream Middleware answers errors with {"error","resolution","exception_type"}.
    let (_rt, server) = mock(wiremock::ResponseTemplate::new(400).set_body_json(
        serde_json::json!({
            "error": "workflow_run_conducted_at is malformed",
            "resolution": "send ISO 8601 timestamps",
            "exception_type": "InvalidPayload"
        }),
    ));
    let report = survives(
        &server.uri(),
        "mwk_any",
        &[
            "InvalidPayload",
            "workflow_run_conducted_at is malformed",
            "To fix: send ISO 8601 timestamps",
        ],
    );
    assert_eq!(report["outcome"], "rejected");
    assert_eq!(report["resolution"], "send ISO 8601 timestamps");
}

#[test]
fn the_real_server_refusing_a_bad_key_or_an_unknown_repo_is_a_warning() {
    let server = Server::start();
    // No repo linked yet: UnknownRepo.
    let report = survives(
        &server.url,
        &server.admin_key,
        &["UnknownRepo", "mwctl repos link"],
    );
    assert_eq!(report["outcome"], "rejected");
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|e| e.contains("UnknownRepo"))
    );
    // A key the server does not know: Unauthorized, with how to get one.
    server.link(REPO);
    let report = survives(
        &server.url,
        "mwk_not_a_real_key_000000000000000000000000000",
        &["Unauthorized", "mwctl keys create"],
    );
    assert_eq!(report["outcome"], "rejected");
    assert!(server.runs().is_empty());
}

#[test]
fn invalid_data_is_caught_before_sending_and_is_a_warning() {
    let server = Server::start();
    server.link(REPO);
    let out = deploy(&server, &["start"])
        .args(["--repo", REPO, "--branch", "main", "--commit", "not-hex!"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the run is invalid: commit_sha")
            && stderr.contains("To fix: fix commit_sha"),
        "{stderr}"
    );
    assert!(server.events().is_empty(), "nothing invalid is sent");
    deploy(&server, &["start"])
        .args([
            "--repo", REPO, "--branch", "main", "--commit", "not-hex!", "--strict",
        ])
        .assert()
        .code(1);
}

#[test]
fn a_broken_config_is_a_warning_not_a_failure() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join("mwctl-config.toml"), "profiles = [").expect("writes");
    mwctl_isolated(home.path())
        .args(["deploy", "start", "--repo", REPO, "--branch", "main"])
        .assert()
        .success()
        .stderr(contains("no server URL").and(contains("not a valid mwctl config")));
    mwctl_isolated(home.path())
        .args([
            "deploy", "start", "--repo", REPO, "--branch", "main", "--strict",
        ])
        .assert()
        .code(1);
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

fn gitlab_job(cmd: &mut assert_cmd::Command, job_id: &str, name: &str) {
    cmd.env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_URL", REPO)
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_COMMIT_SHA", "1ecfd275763eff1d6b4844ea3168962458c9f27a")
        .env("CI_PIPELINE_ID", "1000")
        .env("CI_JOB_ID", job_id)
        .env(
            "CI_JOB_URL",
            format!("https://gitlab.com/acme/shop/-/jobs/{job_id}"),
        )
        .env("CI_JOB_NAME", name)
        .env("GITLAB_USER_LOGIN", "dev1");
}

#[test]
fn parallel_jobs_on_one_machine_keep_their_own_state() {
    let server = Server::start();
    server.link(REPO);
    let step = |job: &str, name: &str, args: &[&str]| {
        let mut cmd = deploy(&server, args);
        gitlab_job(&mut cmd, job, name);
        cmd.assert().success();
    };
    // Two jobs of one pipeline on one runner, interleaved; both use the default temp dir.
    step("501", "deploy:eu", &["start"]);
    std::thread::sleep(Duration::from_millis(1100));
    step("502", "deploy:us", &["start"]);
    step("502", "deploy:us", &["finish", "--status", "failed"]);
    step("501", "deploy:eu", &["finish", "--status", "success"]);

    server.wait_processed();
    let sent = server.sent_runs();
    let start_of = |id: &str| {
        sent.iter()
            .find(|r| r["workflow_run_unique_id"] == id && r["status"] == "PENDING")
            .expect("a start")["workflow_run_conducted_at"]
            .clone()
    };
    let finish_of = |id: &str| {
        sent.iter()
            .find(|r| r["workflow_run_unique_id"] == id && r["status"] != "PENDING")
            .expect("a finish")
            .clone()
    };
    for (id, status) in [("501", "SUCCESS"), ("502", "FAILURE")] {
        let finish = finish_of(id);
        assert_eq!(finish["status"], status);
        assert_eq!(
            finish["workflow_run_conducted_at"],
            start_of(id),
            "job {id} finishes the run it started"
        );
    }
    assert_ne!(start_of("501"), start_of("502"));
    let mut runs = server.runs();
    runs.sort_by(|a, b| a.workflow_run_unique_id.cmp(&b.workflow_run_unique_id));
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].status.as_str(), runs[1].status.as_str()),
        ("SUCCESS", "FAILURE")
    );
    assert!(
        runs[0].duration.is_some_and(|d| d >= 1),
        "eu ran longer than us: {:?}",
        runs[0].duration
    );
}

fn github_attempt(cmd: &mut assert_cmd::Command, attempt: &str, temp: &std::path::Path) {
    cmd.env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_RUN_ATTEMPT", attempt)
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_WORKFLOW", "CD")
        .env("GITHUB_JOB", "deploy")
        .env("RUNNER_TEMP", temp);
}

#[test]
fn a_re_run_is_a_new_deployment() {
    let server = Server::start();
    server.link(REPO);
    let temp = tempfile::tempdir().expect("tempdir");
    for (attempt, status) in [("1", "failure"), ("2", "success")] {
        for args in [&["start"][..], &["finish", "--status", status]] {
            let mut cmd = deploy(&server, args);
            github_attempt(&mut cmd, attempt, temp.path());
            cmd.assert().success();
        }
    }
    server.wait_processed();
    let mut runs = server.runs();
    runs.sort_by(|a, b| a.workflow_run_unique_id.cmp(&b.workflow_run_unique_id));
    let got: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.workflow_run_unique_id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(got, [("77-1", "FAILURE"), ("77-2", "SUCCESS")]);
    assert_eq!(
        runs[1].html_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/77/attempts/2")
    );
}

#[test]
fn explain_lists_every_field_with_its_source_and_sends_nothing() {
    let server = Server::start();
    server.link(REPO);
    let temp = tempfile::tempdir().expect("tempdir");
    let mut cmd = deploy(&server, &["start", "--explain", "--branch", "release"]);
    github_attempt(&mut cmd, "3", temp.path());
    let out = cmd.output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |field: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{field} ")))
            .unwrap_or_else(|| panic!("no {field} line in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(text.contains("CI: github-actions"), "{text}");
    assert_eq!(
        line("workflow_name"),
        "workflow_name CD env GITHUB_WORKFLOW"
    );
    assert_eq!(
        line("workflow_run_unique_id"),
        "workflow_run_unique_id 77-3 github-actions (run id) + env GITHUB_RUN_ATTEMPT"
    );
    assert_eq!(
        line("repo_url"),
        "repo_url https://github.com/acme/shop env GITHUB_SERVER_URL/GITHUB_REPOSITORY"
    );
    assert_eq!(
        line("head_branch"),
        "head_branch release --branch / MW_BRANCH"
    );
    assert_eq!(
        line("commit_sha"),
        "commit_sha 9fceb02d0ae598e95dc970b74767f19372d61af8 github-actions (commit)"
    );
    assert_eq!(line("event_actor"), "event_actor octocat env GITHUB_ACTOR");
    assert_eq!(line("status"), "status PENDING deploy start");
    assert!(text.contains("\"workflow_runs\""), "and the body: {text}");
    assert!(server.events().is_empty(), "--explain sends nothing");
}

#[test]
fn github_problems_are_annotations_and_summary_rows() {
    let home = tempfile::tempdir().expect("tempdir");
    let summary = home.path().join("summary.md");
    let outputs = home.path().join("outputs");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut cmd = mwctl_isolated(home.path());
    github_attempt(&mut cmd, "1", home.path());
    cmd.env("MW_URL", format!("http://127.0.0.1:{port}"))
        .env("MW_API_KEY", "mwk_any")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .args(["deploy", "start", "--timeout", "2s"])
        .assert()
        .success()
        .stderr(contains(
            "::warning title=mwctl::deploy start could not report the deployment",
        ))
        .stderr(contains("::group::mwctl deploy start: run fields"));
    let summary = std::fs::read_to_string(summary).expect("summary");
    assert!(summary.contains("| CD | 77-1 | PENDING |"), "{summary}");
    // Retries may or may not run out before the deadline: either way the cause is there.
    assert!(
        summary.contains("not reported: ") && summary.contains("cannot reach"),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(outputs).expect("outputs");
    assert_eq!(
        outputs, "run_id=77-1\n",
        "no event, but the run id for later steps"
    );
}

#[test]
fn gitlab_logs_get_a_collapsed_section_and_plain_logs_do_not() {
    let server = Server::start();
    server.link(REPO);
    let mut cmd = deploy(&server, &["start"]);
    gitlab_job(&mut cmd, "900", "deploy");
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("section_start:") && stderr.contains(":mwctl_fields[collapsed=true]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("section_end:") && stderr.contains("(env CI_JOB_ID)"),
        "{stderr}"
    );

    let out = deploy(&server, &["start", "--repo", REPO, "--branch", "main"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("mwctl: deploy start reported"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("section_") && !stderr.contains("::"),
        "{stderr}"
    );
}

#[test]
fn finish_without_a_status_anywhere_is_a_warning() {
    let server = Server::start();
    server.link(REPO);
    let out = deploy(
        &server,
        &[
            "finish", "--repo", REPO, "--branch", "main", "--run-id", "r1",
        ],
    )
    .args(["-o", "json"])
    .output()
    .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no final status"));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "failed");
    assert!(
        report["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("--status"))
    );
    assert!(server.events().is_empty());
}

#[test]
fn json_output_is_one_document_even_when_the_run_cannot_be_built() {
    let home = tempfile::tempdir().expect("tempdir");
    // No CI, no git, no --repo: the repository is unknown.
    let out = mwctl_isolated(home.path())
        .args([
            "deploy",
            "start",
            "--explain",
            "-o",
            "json",
            "--branch",
            "main",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["sources"]["repo_url"], "not found");
    assert_eq!(report["sources"]["head_branch"], "--branch / MW_BRANCH");
    assert!(
        report["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("--repo"))
    );
}

/// `git` in `dir` without the user's or the system's config; its output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `mwctl deploy ARGS -o json` run in `dir` (no CI): its exit code, JSON report and stderr.
fn deploy_in(server: &Server, dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = deploy(server, args)
        .args(["-o", "json"])
        .current_dir(dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stdout_json(&out), stderr)
}

#[test]
fn outside_ci_git_names_the_commit_and_the_branch() {
    let server = Server::start();
    server.link(REPO);
    let clone = tempfile::tempdir().expect("tempdir");
    common::git_repo(clone.path(), "dev", "release/1.2", REPO);
    let head = git(clone.path(), &["rev-parse", "HEAD"]);

    let (code, report, stderr) = deploy_in(&server, clone.path(), &["start"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["run"]["commit_sha"], head.as_str());
    assert_eq!(report["run"]["head_branch"], "release/1.2");
    assert_eq!(report["run"]["repo_urls"][0], REPO);
    assert_eq!(report["sources"]["commit_sha"], "git rev-parse HEAD");
    assert_eq!(
        report["sources"]["head_branch"],
        "git symbolic-ref --short HEAD"
    );
}

#[test]
fn outside_ci_a_detached_head_asks_for_the_branch() {
    let server = Server::start();
    server.link(REPO);
    let clone = tempfile::tempdir().expect("tempdir");
    common::git_repo(clone.path(), "dev", "main", REPO);
    let head = git(clone.path(), &["rev-parse", "HEAD"]);
    git(clone.path(), &["checkout", "-q", "--detach"]);

    let (code, report, stderr) = deploy_in(&server, clone.path(), &["start"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["outcome"], "failed");
    let error = report["error"].as_str().expect("error");
    assert!(
        error.contains("detached HEAD") && error.contains(&head[..12]),
        "{error}"
    );
    assert!(
        report["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("pass --branch")),
        "{report}"
    );
    assert_eq!(report["sources"]["commit_sha"], "git rev-parse HEAD");
    assert_eq!(report["sources"]["head_branch"], "not found");
    assert!(
        stderr.contains("warning: mwctl: deploy start could not report")
            && stderr.contains("detached HEAD"),
        "{stderr}"
    );
    let (code, _, _) = deploy_in(&server, clone.path(), &["start", "--strict"]);
    assert_eq!(code, Some(1));
    assert!(server.events().is_empty(), "nothing sent without a branch");

    let (code, report, _) = deploy_in(&server, clone.path(), &["start", "--branch", "main"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["run"]["commit_sha"], head.as_str());
}

#[test]
fn outside_ci_a_repository_without_commits_has_a_branch_and_no_commit() {
    let server = Server::start();
    server.link(REPO);
    let clone = tempfile::tempdir().expect("tempdir");
    git(clone.path(), &["init", "-q", "-b", "main"]);
    git(clone.path(), &["remote", "add", "origin", REPO]);

    let (code, report, stderr) = deploy_in(&server, clone.path(), &["start"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["run"]["head_branch"], "main");
    assert!(report["run"].get("commit_sha").is_none(), "{report}");
    assert_eq!(report["sources"]["commit_sha"], "not found");
}

#[test]
fn outside_ci_and_outside_a_repository_the_warning_says_what_to_pass() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, report, stderr) = deploy_in(&server, dir.path(), &["start"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["outcome"], "failed");
    for field in ["repo_url", "head_branch", "commit_sha"] {
        assert_eq!(report["sources"][field], "not found", "{field}");
    }
    let resolution = report["resolution"].as_str().expect("resolution");
    assert!(
        resolution.contains("--repo") && resolution.contains("inside a git clone"),
        "{resolution}"
    );
    let (code, _, _) = deploy_in(&server, dir.path(), &["start", "--strict"]);
    assert_eq!(code, Some(1));
}

#[test]
fn the_help_example_finishes_a_failed_deployment_too() {
    let server = Server::start();
    server.link(REPO);
    let home = tempfile::tempdir().expect("tempdir");
    let help = mwctl_isolated(home.path())
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    // The example as printed: from `deploy start` to `deploy finish`, without the comments.
    let mut lines = help
        .lines()
        .skip_while(|l| !l.contains("mwctl deploy start"))
        .map(|l| l.split_once(" #").map_or(l, |(code, _)| code).trim());
    let mut example = Vec::new();
    for line in lines.by_ref() {
        example.push(line);
        if line.contains("deploy finish") {
            break;
        }
    }
    let script = example.join("\n");
    assert!(script.contains("./deploy.sh"), "{help}");

    for (deploy_exit, status) in [(0, "SUCCESS"), (3, "FAILURE")] {
        let clone = tempfile::tempdir().expect("tempdir");
        common::git_repo(clone.path(), "dev", "main", REPO);
        let deploy_sh = clone.path().join("deploy.sh");
        std::fs::write(&deploy_sh, format!("#!/bin/sh\nexit {deploy_exit}\n")).expect("writes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&deploy_sh, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let head = git(clone.path(), &["rev-parse", "HEAD"]);
        let before = server.runs().len();
        let out = server.shell(clone.path(), &script, &[]);
        assert_eq!(
            out.status.code(),
            Some(deploy_exit),
            "the step exits as the deployment did: {script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.wait_processed();
        let runs = server.runs();
        assert_eq!(runs.len(), before + 1, "one run per deployment");
        let run = runs
            .iter()
            .find(|r| r.status == status)
            .unwrap_or_else(|| panic!("a {status} run in {runs:?}"));
        assert_eq!(run.commit_sha.as_deref(), Some(head.as_str()));
        assert!(runs.iter().all(|r| r.status != "PENDING"), "{runs:?}");
    }
}

/// A deploy step given a value it cannot use: exit 0 with a warning that says `says`, and
/// the run sent when the value has a default (`sent`); with MW_STRICT=1, exit 1 and nothing
/// sent.
fn bad_value(server: &Server, args: &[&str], env: &[(&str, &str)], says: &str, sent: bool) {
    let state = server.dir.path().join("bad-value-state.json");
    let run = |strict: bool| {
        let mut cmd = deploy(server, args);
        cmd.args(["--repo", REPO, "--branch", "main", "--run-id", "bad-value"])
            .arg("--state-file")
            .arg(&state)
            .envs(env.iter().copied());
        if strict {
            cmd.env("MW_STRICT", "1");
        }
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let before = server.events().len();
    let (code, stderr) = run(false);
    assert_eq!(code, Some(0), "{args:?} {env:?}: {stderr}");
    assert!(
        stderr.contains("warning: mwctl: deploy ") && stderr.contains(says),
        "{args:?} {env:?}: {says:?} in {stderr}"
    );
    assert_eq!(
        server.events().len(),
        before + usize::from(sent),
        "{args:?} {env:?}: sent = {sent}"
    );
    let (code, stderr) = run(true);
    assert_eq!(code, Some(1), "{args:?} {env:?} strict: {stderr}");
    assert!(
        stderr.contains("error: mwctl: deploy ") && stderr.contains(says),
        "{args:?} {env:?} strict: {says:?} in {stderr}"
    );
    assert_eq!(
        server.events().len(),
        before + usize::from(sent),
        "{args:?} {env:?}: --strict sends nothing"
    );
}

/// Arguments, environment, what the warning says, whether the run is sent.
type BadValueCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, bool);

#[test]
fn a_value_a_deploy_step_cannot_use_is_a_warning_and_exit_1_only_with_strict() {
    let server = Server::start();
    server.link(REPO);
    let start = "2025-03-01T10:00:00Z";
    let cases: &[BadValueCase] = &[
        (
            &["start"],
            &[("MW_TIMEOUT", "soon")],
            "--timeout / MW_TIMEOUT: \"soon\" is not a duration",
            true,
        ),
        (&["start", "--timeout", "0"], &[], "would give up", true),
        (
            &["start", "--meta", "novalue"],
            &[],
            "--meta: \"novalue\" is not KEY=VALUE",
            true,
        ),
        (
            &["start", "--started-at", "yesterday"],
            &[],
            "--started-at: \"yesterday\" is not a timestamp",
            true,
        ),
        (&["finish", "--status", ""], &[], "no final status", false),
        (
            &["finish"],
            &[("MW_STATUS", "maybe")],
            "\"maybe\" is not a final status",
            false,
        ),
        (
            &["finish", "--status", "success", "--duration", "-5"],
            &[],
            "--duration: \"-5\" is negative",
            true,
        ),
        (
            &["finish", "--status", "success", "--duration", "a while"],
            &[],
            "\"a while\" is not a duration",
            true,
        ),
        (
            &["record", "--status", "", "--started-at", start],
            &[],
            "--status: no status given",
            false,
        ),
        (
            &["record", "--status", "success", "--started-at", "yesterday"],
            &[],
            "--started-at: \"yesterday\" is not a timestamp",
            false,
        ),
        (
            &["record", "--status", "success", "--started-at", ""],
            &[],
            "--started-at: no time given",
            false,
        ),
        (
            &[
                "record",
                "--status",
                "success",
                "--started-at",
                start,
                "--finished-at",
                "2025-03-01T09:00:00Z",
            ],
            &[],
            "is before --started-at",
            true,
        ),
        (
            &[
                "record",
                "--status",
                "success",
                "--started-at",
                start,
                "--finished-at",
                "later",
            ],
            &[],
            "--finished-at: \"later\" is not a timestamp",
            true,
        ),
        (
            &[
                "record",
                "--status",
                "success",
                "--started-at",
                start,
                "--duration",
                "18446744073709551615",
            ],
            &[],
            "--duration: \"18446744073709551615\" is more than ten years",
            true,
        ),
    ];
    for (args, env, says, sent) in cases {
        bad_value(&server, args, env, says, *sent);
    }
}

#[test]
fn an_out_of_range_duration_is_never_dropped_silently() {
    let server = Server::start();
    server.link(REPO);
    let out = deploy(&server, &["record", "--status", "success"])
        .args(["--started-at", "2025-03-01T10:00:00Z"])
        .args(["--duration", "18446744073709551615", "-o", "json"])
        .args(["--repo", REPO, "--branch", "main"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted");
    assert_eq!(report["warnings"][0]["flag"], "--duration");
    assert_eq!(report["warnings"][0]["value"], "18446744073709551615");
    assert_eq!(report["warnings"][0]["instead"], "sent no duration");
    let sent = server.sent_runs();
    assert!(sent[0].get("duration").is_none(), "{}", sent[0]);
}

#[test]
fn mw_strict_takes_every_usual_boolean_spelling() {
    let home = tempfile::tempdir().expect("tempdir");
    // No server is configured: the step cannot report, which only strictness makes exit 1.
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = mwctl_isolated(home.path());
        cmd.args(["deploy", "start", "--repo", REPO, "--branch", "main"]);
        if let Some(value) = env {
            cmd.env("MW_STRICT", value);
        }
        cmd.args(flag);
        let out = cmd.output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for value in ["1", "true", "TRUE", "yes", "Yes", "on", "ON"] {
        let (code, stderr) = run(Some(value), None);
        assert_eq!(code, Some(1), "MW_STRICT={value}: {stderr}");
        assert!(stderr.contains("error: mwctl: deploy start"), "{stderr}");
    }
    // "" is what an undefined `${{ vars.MW_STRICT }}` expands to.
    for value in ["0", "false", "False", "no", "off", "OFF", "", " "] {
        let (code, stderr) = run(Some(value), None);
        assert_eq!(code, Some(0), "MW_STRICT={value:?}: {stderr}");
        assert!(!stderr.contains("is not a boolean"), "{stderr}");
        assert!(stderr.contains("warning: mwctl: deploy start"), "{stderr}");
    }
    for value in ["maybe", "2", "enabled"] {
        let (code, stderr) = run(Some(value), None);
        assert_eq!(code, Some(0), "MW_STRICT={value}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "--strict / MW_STRICT: \"{value}\" is not a boolean; use 1 or 0"
            )) && stderr.contains("counted it as false"),
            "{stderr}"
        );
    }
    for (env, flag, want) in [
        (None, "--strict", 1),
        (None, "--strict=on", 1),
        (None, "--strict=no", 0),
        (None, "--strict=maybe", 0),
        (Some("1"), "--strict=false", 0),
        (Some("0"), "--strict", 1),
        // The flag wins; the variable it overrides is not read, so not judged either.
        (Some("maybe"), "--strict", 1),
    ] {
        let (code, stderr) = run(env, Some(flag));
        assert_eq!(code, Some(want), "MW_STRICT={env:?} {flag}: {stderr}");
    }
    // Only a mistyped flag name is a usage error.
    let (code, stderr) = run(None, Some("--stirct"));
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn empty_values_from_a_pipeline_count_as_not_given() {
    let server = Server::start();
    server.link(REPO);
    let out = deploy(&server, &["start", "-o", "json"])
        .args(["--repo", REPO, "--branch", "main"])
        // `--workflow $UNSET`: the flag without its value.
        .args(["--timeout", "", "--meta", "env=prod", "--workflow"])
        .env("MW_TIMEOUT", "")
        .env("MW_STRICT", "")
        .env("MW_STATE_FILE", "")
        .env("MW_ACTOR", "")
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]));
    assert_eq!(report["run"]["workflow_name"], "deploy");
    assert_eq!(report["run"]["meta"]["env"], "prod");

    // Global settings too: an empty MW_OUTPUT, MW_CONFIG or MW_PROFILE means the default.
    deploy(&server, &["start", "--explain"])
        .args(["--repo", REPO, "--branch", "main"])
        .env("MW_OUTPUT", "")
        .env("MW_CONFIG", "")
        .env("MW_PROFILE", "")
        .assert()
        .code(0)
        .stdout(contains("nothing is sent"));
}

#[test]
fn a_bad_value_is_an_annotation_a_summary_line_and_in_the_json_report() {
    let server = Server::start();
    server.link(REPO);
    let temp = tempfile::tempdir().expect("tempdir");
    let summary = temp.path().join("summary.md");
    let mut cmd = deploy(&server, &["start", "-o", "json"]);
    github_attempt(&mut cmd, "1", temp.path());
    let out = cmd
        .env("MW_TIMEOUT", "soon")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "::warning title=mwctl::deploy start --timeout / MW_TIMEOUT: \"soon\" is not a duration"
        ),
        "{stderr}"
    );
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted");
    assert_eq!(
        report["warnings"],
        serde_json::json!([{
            "flag": "--timeout / MW_TIMEOUT",
            "value": "soon",
            "error": report["warnings"][0]["error"],
            "instead": "used 10s",
        }])
    );
    let summary = std::fs::read_to_string(summary).expect("summary");
    assert!(
        summary.contains("| CD | 77-1 | PENDING |")
            && summary.contains("- warning: --timeout / MW_TIMEOUT: \"soon\" is not a duration"),
        "{summary}"
    );
}

#[test]
fn finish_without_the_starts_state_says_the_start_is_unknown() {
    let server = Server::start();
    server.link(REPO);
    let fields = ["--repo", REPO, "--branch", "main", "--run-id", "lost-1"];
    let a = server.dir.path().join("a.json");
    let b = server.dir.path().join("b.json");
    let started = (chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    deploy(&server, &["start", "--started-at", &started])
        .args(fields)
        .arg("--state-file")
        .arg(&a)
        .assert()
        .code(0);

    let out = deploy(&server, &["finish", "--status", "success", "-o", "json"])
        .args(fields)
        .arg("--state-file")
        .arg(&b)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the deployment's start is unknown")
            && stderr.contains(&format!("no state from deploy start at {}", b.display())),
        "{stderr}"
    );
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted");
    assert_eq!(report["start"]["known"], false);
    assert_eq!(report["start"]["state_file"], b.display().to_string());
    assert!(
        report["start"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("keeps that start")),
        "{report}"
    );
    assert!(report["run"].get("duration").is_none(), "{report}");
    assert!(report["sources"].get("duration").is_none(), "{report}");
    assert_eq!(
        report["sources"]["workflow_run_conducted_at"],
        "now (the start is unknown)"
    );
    let sent = server.sent_runs();
    let finish = sent.last().expect("the finish");
    assert_eq!(finish["status"], "SUCCESS");
    assert!(
        finish.get("duration").is_none(),
        "no invented duration: {finish}"
    );
    assert_ne!(finish["workflow_run_conducted_at"], started.as_str());

    // With the state, the start is known and the duration computed.
    let out = deploy(&server, &["finish", "--status", "success", "-o", "json"])
        .args(fields)
        .arg("--state-file")
        .arg(&a)
        .output()
        .expect("runs");
    let report = stdout_json(&out);
    assert_eq!(report["start"]["known"], true);
    assert!(
        report["start"]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("deploy start's state")),
        "{report}"
    );
    let sent = report["run"]["workflow_run_conducted_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    assert_eq!(sent, chrono::DateTime::parse_from_rfc3339(&started).ok());
    assert!(
        report["run"]["duration"]
            .as_i64()
            .is_some_and(|d| d >= 3600)
    );
}

#[test]
fn the_server_keeps_the_pending_start_when_finish_knows_none() {
    let server = Server::start();
    server.link(REPO);
    let fields = ["--repo", REPO, "--branch", "main", "--run-id", "lost-2"];
    let started = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let started_text = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    deploy(&server, &["start", "--started-at", &started_text])
        .args(fields)
        .arg("--state-file")
        .arg(server.dir.path().join("a.json"))
        .assert()
        .code(0);
    server.wait_processed();
    deploy(&server, &["finish", "--status", "success"])
        .args(fields)
        .arg("--state-file")
        .arg(server.dir.path().join("b.json"))
        .assert()
        .code(0);
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "SUCCESS");
    assert_eq!(runs[0].conducted_at.timestamp(), started.timestamp());
    let duration = runs[0].duration.expect("inferred by the server");
    assert!((3595..3700).contains(&duration), "{duration}");
}

#[test]
fn record_gives_one_id_per_deployment_however_it_is_described() {
    let server = Server::start();
    server.link(REPO);
    let clone = tempfile::tempdir().expect("tempdir");
    common::git_repo(clone.path(), "dev", "main", "git@github.com:acme/shop.git");
    for args in [
        &["--started-at", "2025-06-01T10:00:00Z", "--repo", REPO][..],
        // The same instant in another time zone, the repository from git (scp form).
        &["--started-at", "2025-06-01T12:00:00+02:00"],
        &[
            "--started-at",
            "2025-06-01T10:00:00.000Z",
            "--repo",
            "https://github.com/acme/shop.git",
        ],
    ] {
        deploy(&server, &["record", "--status", "success"])
            .args(args)
            .current_dir(clone.path())
            .assert()
            .code(0);
    }
    let sent = server.sent_runs();
    assert_eq!(sent.len(), 3);
    let id = &sent[0]["workflow_run_unique_id"];
    assert!(
        id.as_str().is_some_and(|id| id.starts_with("record-")),
        "{id}"
    );
    for run in &sent {
        assert_eq!(&run["workflow_run_unique_id"], id, "{run}");
    }
    server.wait_processed();
    assert_eq!(server.runs().len(), 1, "one deployment, one run");

    // Another instant is another deployment.
    deploy(&server, &["record", "--status", "success"])
        .args(["--started-at", "2025-06-01T10:00:01Z"])
        .current_dir(clone.path())
        .assert()
        .code(0);
    let sent = server.sent_runs();
    assert_ne!(&sent[3]["workflow_run_unique_id"], id);
}

#[test]
fn a_ci_start_time_that_is_not_one_leaves_the_start_unknown_and_says_why() {
    let server = Server::start();
    server.link(REPO);
    let mut cmd = deploy(&server, &["finish", "--status", "success", "-o", "json"]);
    gitlab_job(&mut cmd, "31", "deploy");
    let out = cmd.env("CI_JOB_STARTED_AT", "soon").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["start"]["known"], false);
    let note = report["start"]["note"].as_str().expect("a note");
    assert!(
        note.contains("the CI's start time \"soon\" (env CI_JOB_STARTED_AT) is not a timestamp"),
        "{note}"
    );
    assert!(report["run"].get("duration").is_none(), "{report}");
}

#[test]
fn every_deploy_help_tells_the_exit_codes() {
    let home = tempfile::tempdir().expect("tempdir");
    for command in [
        &["deploy"][..],
        &["deploy", "start"],
        &["deploy", "finish"],
        &["deploy", "record"],
    ] {
        for help in ["--help", "-h"] {
            mwctl_isolated(home.path())
                .args(command)
                .arg(help)
                .assert()
                .code(0)
                .stdout(
                    contains("Exit codes:")
                        .and(contains("only with --strict / MW_STRICT=1"))
                        .and(contains("a mistyped flag name")),
                );
        }
    }
    mwctl_isolated(home.path())
        .args(["deploy", "--help"])
        .assert()
        .stdout(contains("mwctl deploy finish --status $s; exit $s"));
}
