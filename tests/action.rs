//! action.yml, run step by step as a GitHub runner would (tests/common/action.rs), against
//! the real server: reporting, outputs, the masked key, installing mwctl from the action's
//! source, and never failing the job unless strict.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::action::GithubJob;
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
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// The system's PATH without any mwctl or cargo, as on a runner that has neither.
fn bare_path() -> OsString {
    let dirs = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| !d.join("mwctl").exists() && !d.join("cargo").exists())
        .collect::<Vec<PathBuf>>();
    std::env::join_paths(dirs).expect("PATH joins")
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
    // A cargo that records how it was called and "builds" by copying the mwctl under test.
    let fake = tempfile::tempdir().expect("tempdir");
    let log = fake.path().join("cargo.log");
    let cargo = fake.path().join("cargo");
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
    let mut path = vec![fake.path().to_owned()];
    path.extend(std::env::split_paths(&bare_path()));
    let job = GithubJob::new(
        &github_env(),
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

    // Neither mwctl nor cargo: a warning, and the job goes on (unless strict).
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
