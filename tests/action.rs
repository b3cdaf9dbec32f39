//! action.yml, run step by step as a GitHub runner would (tests/common/action.rs), against
//! the real server: reporting, outputs, the masked key, installing mwctl from the action's
//! release (verified, cached) or, when no binary exists, from its source; and never failing
//! the job unless strict.

mod common;

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use common::action::GithubJob;
use common::release::{self, ReleaseServer, VERSION, bare_path};
use common::{Server, path_with_mwctl};

const REPO: &str = "https://github.com/acme/shop";

fn action_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn github_env() -> Vec<(String, String)> {
    [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8"),
        ("GITHUB_RUN_ID", "1658821493"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_WORKFLOW", "CD"),
        ("GITHUB_JOB", "deploy"),
        ("HOME", "/nonexistent"),
        ("RUNNER_OS", runner_os()),
        ("RUNNER_ARCH", runner_arch()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        _ => "Linux",
    }
}

fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "ARM64",
        _ => "X64",
    }
}

/// The job's environment with downloads from `release_url`, bounded to 2 s each.
fn release_env(release_url: &str) -> Vec<(String, String)> {
    let mut env = github_env();
    env.push(("MW_RELEASE_URL".to_owned(), release_url.to_owned()));
    env.push(("MW_INSTALL_TIMEOUT".to_owned(), "2".to_owned()));
    env
}

/// Where the action caches mwctl VERSION in a tool cache.
fn cached(tool_cache: &Path) -> PathBuf {
    tool_cache
        .join("mwctl")
        .join(VERSION)
        .join(runner_arch().to_lowercase())
}

/// A cargo that records how it was called and "builds" by copying the mwctl under test.
fn fake_cargo(dir: &Path) -> PathBuf {
    let log = dir.join("cargo.log");
    let cargo = dir.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/bash\necho \"$*\" >> '{}'\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
             mkdir -p \"$root/bin\" && cp '{}' \"$root/bin/mwctl\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_mwctl")
        ),
    )
    .expect("writes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    log
}

fn ci_key(server: &Server) -> String {
    let out = server
        .mwctl()
        .args([
            "keys",
            "create",
            "--name",
            "gha",
            "--scope",
            "deployments",
            "-q",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn start_and_finish_report_one_deployment_with_outputs_and_a_masked_key() {
    let server = Server::start();
    server.link(REPO);
    let key = ci_key(&server);
    let job = GithubJob::new(&github_env(), path_with_mwctl());
    let with = |command: &'static str, status: &'static str| {
        vec![
            ("command", command),
            ("status", status),
            ("url", server.url.as_str()),
            ("api-key", key.as_str()),
            ("workflow", "Release to production"),
        ]
    };

    let start = job.run_action(action_dir(), &with("start", ""));
    assert!(start.success, "{}", start.log);
    let finish = job.run_action(action_dir(), &with("finish", "success"));
    assert!(finish.success, "{}", finish.log);

    for run in [&start, &finish] {
        assert_eq!(run.outputs["run_id"], "1658821493-1", "{run:?}");
        assert!(run.outputs["event_id"].starts_with("evt_"), "{run:?}");
        // The runner hides the key once told to; mwctl itself never prints it.
        let mask = format!("::add-mask::{key}");
        assert!(run.log.starts_with(&mask) || run.log.contains(&format!("\n{mask}")));
        assert_eq!(run.log.matches(key.as_str()).count(), 1, "{}", run.log);
    }
    assert_ne!(start.outputs["event_id"], finish.outputs["event_id"]);

    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1, "start and finish are one deployment");
    let run = &runs[0];
    assert_eq!(run.status, "SUCCESS");
    assert_eq!(run.workflow, "Release to production");
    assert_eq!(run.workflow_run_unique_id, "1658821493-1");
    assert_eq!(run.head_branch, "main");
    assert_eq!(run.event_actor, "octocat");
    assert!(run.duration.is_some());
    let summary = job.summary();
    assert!(
        summary.contains("| Release to production | 1658821493-1 | PENDING |")
            && summary.contains("| Release to production | 1658821493-1 | SUCCESS |"),
        "{summary}"
    );
}

#[test]
fn mwctl_is_installed_from_the_action_source_when_missing() {
    let server = Server::start();
    server.link(REPO);
    let key = ci_key(&server);
    // A release without this version: no prebuilt binary, so cargo builds the source.
    let empty = tempfile::tempdir().expect("tempdir");
    let releases = ReleaseServer::serve(empty.path());
    let fake = tempfile::tempdir().expect("tempdir");
    let log = fake_cargo(fake.path());
    let mut path = vec![fake.path().to_owned()];
    path.extend(std::env::split_paths(&bare_path()));
    let job = GithubJob::new(
        &release_env(&releases.url),
        std::env::join_paths(path).expect("PATH joins"),
    );
    let with = |command: &'static str, status: &'static str| {
        vec![
            ("command", command),
            ("status", status),
            ("url", server.url.as_str()),
            ("api-key", key.as_str()),
        ]
    };

    let start = job.run_action(action_dir(), &with("start", ""));
    assert!(start.success, "{}", start.log);
    assert!(
        start
            .log
            .contains("No prebuilt mwctl v0.1.0 for this runner"),
        "{}",
        start.log
    );
    let calls = std::fs::read_to_string(&log).expect("cargo was called");
    assert_eq!(
        calls.trim(),
        format!(
            "install --locked --quiet --path {} --root {}/mwctl-action",
            action_dir().display(),
            job.runner_temp.path().display()
        )
    );
    // The next use in the job finds it on PATH (GITHUB_PATH) and builds nothing.
    let finish = job.run_action(action_dir(), &with("finish", "failure"));
    assert!(finish.success, "{}", finish.log);
    assert_eq!(
        std::fs::read_to_string(&log).expect("log").lines().count(),
        1,
        "installed once per job"
    );
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "FAILURE");
}

#[test]
fn problems_are_warnings_unless_strict() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let with = |strict: &'static str| {
        vec![
            ("command", "start"),
            ("url", url.as_str()),
            ("api-key", "mwk_not_checked"),
            ("timeout", "1s"),
            ("strict", strict),
        ]
    };
    // The job's environment, with MW_STRICT set at the workflow level when `workflow_strict`.
    let env = |workflow_strict: Option<&str>| {
        let mut env = github_env();
        env.extend(workflow_strict.map(|v| ("MW_STRICT".to_owned(), v.to_owned())));
        env
    };

    // "" is the default, and what an undefined `${{ vars.MW_STRICT }}` expands to.
    for (input, workflow, strict) in [
        ("false", None, false),
        ("", None, false),
        ("0", Some("1"), false),
        ("maybe", None, false),
        ("true", None, true),
        ("TRUE", None, true),
        ("1", None, true),
        ("On", None, true),
        ("", Some("yes"), true),
    ] {
        let job = GithubJob::new(&env(workflow), path_with_mwctl());
        let run = job.run_action(action_dir(), &with(input));
        let case = format!("strict: {input:?}, MW_STRICT={workflow:?}");
        assert_eq!(run.success, !strict, "{case}: {}", run.log);
        let annotation = if strict {
            "::error title=mwctl::deploy start could not report"
        } else {
            "::warning title=mwctl::deploy start could not report"
        };
        assert!(run.log.contains(annotation), "{case}: {}", run.log);
        assert_eq!(
            run.log.contains("\"maybe\" is not a boolean"),
            input == "maybe",
            "{case}: {}",
            run.log
        );
    }

    // Neither mwctl, nor a release of this version, nor cargo: a warning, and the job goes
    // on (unless strict).
    let empty = tempfile::tempdir().expect("tempdir");
    let releases = ReleaseServer::serve(empty.path());
    let env = |workflow_strict: Option<&str>| {
        let mut env = release_env(&releases.url);
        env.extend(workflow_strict.map(|v| ("MW_STRICT".to_owned(), v.to_owned())));
        env
    };
    for (input, workflow, strict) in [
        ("false", None, false),
        ("", None, false),
        ("ON", None, true),
        ("", Some("True"), true),
    ] {
        let job = GithubJob::new(&env(workflow), bare_path());
        let run = job.run_action(action_dir(), &with(input));
        let case = format!("no mwctl, strict: {input:?}, MW_STRICT={workflow:?}");
        assert_eq!(run.success, !strict, "{case}: {}", run.log);
        let annotation = if strict {
            "::error title=mwctl::could not install mwctl"
        } else {
            "::warning title=mwctl::could not install mwctl"
        };
        assert!(run.log.contains(annotation), "{case}: {}", run.log);
    }
}

#[test]
fn the_prebuilt_binary_is_downloaded_verified_and_cached() {
    let server = Server::start();
    server.link(REPO);
    let key = ci_key(&server);
    let tree = release::release_tree();
    let releases = ReleaseServer::serve(tree.path());
    // No mwctl and no cargo on PATH: only the download can make this work.
    let job = GithubJob::new(&release_env(&releases.url), bare_path());
    let with = |command: &'static str, status: &'static str, version: &'static str| {
        vec![
            ("command", command),
            ("status", status),
            ("url", server.url.as_str()),
            ("api-key", key.as_str()),
            ("version", version),
        ]
    };

    let start = job.run_action(action_dir(), &with("start", "", ""));
    assert!(start.success, "{}", start.log);
    assert!(
        start.outputs["event_id"].starts_with("evt_"),
        "{}",
        start.log
    );
    assert!(!start.log.contains("::warning"), "{}", start.log);
    let dir = cached(job.tool_cache.path());
    assert!(dir.join("mwctl").is_file(), "{}", start.log);
    assert!(
        dir.with_extension("complete").is_file(),
        "the tool cache's marker"
    );
    assert_eq!(releases.requests(), 2, "SHA256SUMS and the archive");

    // The next step of the job: on PATH already, nothing downloaded.
    let finish = job.run_action(action_dir(), &with("finish", "success", ""));
    assert!(finish.success, "{}", finish.log);
    assert_eq!(releases.requests(), 2, "{}", finish.log);

    // A later job on the same runner: from the tool cache (the version input, as a tag).
    let next = GithubJob::new(&release_env(&releases.url), bare_path())
        .with_tool_cache(job.tool_cache.path());
    let again = next.run_action(action_dir(), &with("start", "", "v0.1.0"));
    assert!(again.success, "{}", again.log);
    assert!(
        again.log.contains(&format!(
            "Using the cached mwctl v0.1.0 ({})",
            dir.display()
        )),
        "{}",
        again.log
    );
    assert_eq!(releases.requests(), 2, "{}", again.log);
    assert!(
        again.outputs["event_id"].starts_with("evt_"),
        "{}",
        again.log
    );

    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "SUCCESS");
}

#[test]
fn a_download_that_does_not_match_sha256sums_is_refused_and_never_built_instead() {
    let tree = release::release_tree();
    let archive = release::host_archive(tree.path());
    let mut bytes = std::fs::read(&archive).expect("archive");
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&archive, bytes).expect("tampers");
    let releases = ReleaseServer::serve(tree.path());
    // A cargo on PATH: a mismatch must not fall back to building either.
    let fake = tempfile::tempdir().expect("tempdir");
    let cargo_log = fake_cargo(fake.path());
    let mut path = vec![fake.path().to_owned()];
    path.extend(std::env::split_paths(&bare_path()));
    let path = std::env::join_paths(path).expect("PATH joins");

    for (strict, fails) in [("", false), ("true", true)] {
        let job = GithubJob::new(&release_env(&releases.url), path.clone());
        let run = job.run_action(
            action_dir(),
            &[
                ("command", "start"),
                ("url", "http://127.0.0.1:9"),
                ("strict", strict),
            ],
        );
        assert_eq!(run.success, !fails, "strict {strict:?}: {}", run.log);
        assert!(run.log.contains("checksum mismatch"), "{}", run.log);
        let annotation = if fails { "::error" } else { "::warning" };
        assert!(
            run.log.contains(&format!(
                "{annotation} title=mwctl::could not install the prebuilt mwctl v0.1.0"
            )),
            "{}",
            run.log
        );
        let dir = cached(job.tool_cache.path());
        assert!(!dir.join("mwctl").exists(), "nothing installed");
        assert_eq!(
            std::fs::read_to_string(job.runner_temp.path().join("github_path"))
                .expect("GITHUB_PATH"),
            "",
            "nothing added to PATH"
        );
    }
    assert!(!cargo_log.exists(), "cargo was not run");
}

#[test]
fn a_hanging_release_server_is_a_warning_within_the_timeout() {
    let releases = ReleaseServer::hanging();
    let job = GithubJob::new(&release_env(&releases.url), bare_path());
    let began = Instant::now();
    let run = job.run_action(
        action_dir(),
        &[("command", "start"), ("url", "http://127.0.0.1:9")],
    );
    let took = began.elapsed();
    assert!(run.success, "{}", run.log);
    assert!(
        run.log.contains("no answer within 2s")
            && run
                .log
                .contains("::warning title=mwctl::could not install the prebuilt mwctl v0.1.0"),
        "{}",
        run.log
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(releases.requests(), 1, "gave up on the first download");
    assert!(!cached(job.tool_cache.path()).join("mwctl").exists());
}
