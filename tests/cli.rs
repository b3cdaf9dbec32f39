//! The command line itself: help, login and config, offline validation, exit codes.

mod common;

use common::{Server, mwctl_isolated, run_json, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn help_teaches_every_command() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = mwctl_isolated(home.path())
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "login",
        "deploy",
        "send",
        "validate",
        "keys",
        "repos",
        "runs",
        "events",
        "prune",
        "completions",
    ] {
        assert!(help.contains(command), "--help lists {command}");
    }
    assert!(help.contains("Examples:"));
    mwctl_isolated(home.path())
        .args(["deploy", "finish", "--help"])
        .assert()
        .success()
        .stdout(contains("--status").and(contains("MW_STRICT")));
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().expect("tempdir");
    // A mistyped flag name; a bad value of a deploy step is a warning (tests/deploy.rs).
    mwctl_isolated(home.path())
        .args(["deploy", "finish", "--stauts", "success"])
        .assert()
        .code(2)
        .stderr(contains("unexpected argument '--stauts'"));
    mwctl_isolated(home.path())
        .arg("frobnicate")
        .assert()
        .code(2);
}

#[test]
fn commands_without_a_server_say_how_to_configure_one() {
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .args(["keys", "list"])
        .assert()
        .code(1)
        .stderr(
            contains("--url")
                .and(contains("MW_URL"))
                .and(contains("mwctl login")),
        );
}

#[test]
fn login_stores_a_private_profile_that_later_commands_use() {
    let server = Server::start();
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url", &server.url])
        .write_stdin(format!("{}\n", server.admin_key))
        .assert()
        .success()
        .stderr(contains("admin scope"));

    let config = home.path().join("mwctl-config.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The stored profile works, and `config show` never prints the key.
    mwctl_isolated(home.path())
        .args(["repos", "list"])
        .assert()
        .success();
    let out = mwctl_isolated(home.path())
        .args(["config", "show"])
        .output()
        .expect("runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("redacted"), "{shown}");
    assert!(
        !shown.contains(&server.admin_key),
        "config show must not print the key"
    );
    assert!(shown.contains("config profile"), "{shown}");

    // The environment beats the file.
    let out = mwctl_isolated(home.path())
        .env("MW_URL", "http://example.invalid")
        .args(["config", "show", "-o", "json"])
        .output()
        .expect("runs");
    let shown = stdout_json(&out);
    assert_eq!(shown["url"], "http://example.invalid");
    assert_eq!(shown["url_source"]["name"], "MW_URL");

    // A wrong key is refused and not saved.
    mwctl_isolated(home.path())
        .args([
            "login",
            "--api-key-stdin",
            "--url",
            &server.url,
            "--profile",
            "bad",
        ])
        .write_stdin("mwk_not_a_key\n")
        .assert()
        .failure()
        .stderr(contains("refused the API key"));
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(!text.contains("mwk_not_a_key"));
}

#[test]
fn validate_checks_offline() {
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("runs.json");
    let good = run_json("https://github.com/a/b", "1", "SUCCESS");
    std::fs::write(
        &file,
        serde_json::to_vec(&vec![good.clone()]).expect("json"),
    )
    .expect("writes");
    mwctl_isolated(home.path())
        .arg("validate")
        .arg(&file)
        .assert()
        .success()
        .stderr(contains("all 1 runs are valid"));

    let mut bad = good.clone();
    bad["workflow_run_conducted_at"] = "tomorrow".into();
    std::fs::write(&file, serde_json::to_vec(&vec![good, bad]).expect("json")).expect("writes");
    let out = mwctl_isolated(home.path())
        .args(["validate", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let report = stdout_json(&out);
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["errors"][0]["index"], 1);
    assert_eq!(report["errors"][0]["field"], "workflow_run_conducted_at");
}

#[test]
fn completions_are_generated() {
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(contains("_mwctl"));
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let home = tempfile::tempdir().expect("tempdir");
    // `mwctl completions bash | head -1`, at its worst: the reader is gone before any write.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = common::mwctl_process(home.path())
        .args(["completions", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
