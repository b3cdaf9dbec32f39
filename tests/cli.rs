//! The command line itself: help, login and config, offline validation, exit codes.

mod common;

use clap::CommandFactory;
use common::{Server, mwctl_isolated, run_json, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// The help's sections: heading (`Commands`, `Options`, `Global options`, ...) to the lines
/// under it, continuation lines included.
fn sections(help: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            sections.push((line.trim_end_matches(':').to_owned(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut()
            && !line.trim().is_empty()
        {
            lines.push(line.to_owned());
        }
    }
    sections
}

fn section<'a>(sections: &'a [(String, Vec<String>)], heading: &str) -> &'a [String] {
    sections
        .iter()
        .find(|(h, _)| h == heading)
        .map(|(_, lines)| lines.as_slice())
        .unwrap_or_else(|| panic!("no {heading:?} section in {sections:?}"))
}

/// The names a `Commands:` section lists (one per entry; wrapped lines are indented deeper).
fn listed_commands(help: &str) -> Vec<String> {
    let sections = sections(help);
    section(&sections, "Commands")
        .iter()
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

/// The long flags a section lists: the first `--flag` of each entry's first line (not the
/// flags its description mentions).
fn flags_in(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.trim_start().starts_with('-'))
        .filter_map(|line| {
            line.split([' ', ',', '<', '[', '.'])
                .find(|word| word.starts_with("--") && word.len() > 2)
                .map(str::to_owned)
        })
        .collect()
}

fn help_of(home: &std::path::Path, args: &[&str]) -> String {
    let out = mwctl_isolated(home)
        .args(args)
        .arg("--help")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{args:?} --help");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn help_teaches_every_command() {
    let home = tempfile::tempdir().expect("tempdir");
    let help = help_of(home.path(), &[]);
    // Exactly these, in this order: a command dropped from the help (or added without being
    // taught here) fails the test.
    assert_eq!(
        listed_commands(&help),
        [
            "login",
            "config",
            "deploy",
            "incident",
            "incidents",
            "dora",
            "send",
            "validate",
            "keys",
            "repos",
            "runs",
            "events",
            "prune",
            "completions"
        ]
    );
    assert!(help.contains("Examples:"));
    // Each group's help lists every command the parser knows in it.
    let cli = mwctl::cli::Cli::command();
    for group in cli.get_subcommands().filter(|c| c.has_subcommands()) {
        let name = group.get_name();
        // Hidden ones included: a command nobody is told about is missing from the help.
        let known: Vec<&str> = group.get_subcommands().map(|c| c.get_name()).collect();
        assert!(!known.is_empty(), "{name}");
        assert_eq!(
            listed_commands(&help_of(home.path(), &[name])),
            known,
            "mwctl {name} --help"
        );
    }
    let finish = help_of(home.path(), &["deploy", "finish"]);
    assert!(finish.contains("--status") && finish.contains("MW_STRICT"));
}

#[test]
fn command_help_lists_global_options_apart() {
    let home = tempfile::tempdir().expect("tempdir");
    let global = [
        "--url",
        "--api-key",
        "--profile",
        "--config",
        "--output",
        "--quiet",
        "--verbose",
    ];
    let cli = mwctl::cli::Cli::command();
    let mut leaves: Vec<Vec<&str>> = Vec::new();
    for command in cli.get_subcommands() {
        if command.has_subcommands() {
            for sub in command.get_subcommands() {
                leaves.push(vec![command.get_name(), sub.get_name()]);
            }
        } else {
            leaves.push(vec![command.get_name()]);
        }
    }
    assert!(leaves.len() > 15, "{leaves:?}");
    for args in leaves {
        let help = help_of(home.path(), &args);
        let sections = sections(&help);
        let own = flags_in(section(&sections, "Options"));
        let globals = flags_in(section(&sections, "Global options"));
        for flag in global {
            assert!(
                globals.iter().any(|f| f == flag),
                "{args:?}: {flag} under Global options"
            );
            assert!(
                !own.iter().any(|f| f == flag),
                "{args:?}: {flag} not among its own"
            );
        }
    }
    // The command's own flags stay under Options.
    let help = help_of(home.path(), &["keys", "create"]);
    let own = flags_in(section(&sections(&help), "Options"));
    for flag in ["--name", "--scope", "--expires"] {
        assert!(own.iter().any(|f| f == flag), "{flag} in {own:?}");
    }
}

#[test]
fn help_lists_the_values_a_flag_takes() {
    let home = tempfile::tempdir().expect("tempdir");
    let help = help_of(home.path(), &["events", "list"]);
    let status = section(&sections(&help), "Options")
        .iter()
        .skip_while(|line| !line.contains("--status"))
        .take_while(|line| !line.contains("--limit"))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    for value in [
        "WAITING", "RUNNING", "SUCCESS", "FAILURE", "REJECTED", "PRUNED",
    ] {
        assert!(status.contains(value), "--status lists {value}: {status}");
    }
    // Any case is taken, as the help says: parsed (a usage error exits 2), then refused for
    // want of a key.
    mwctl_isolated(home.path())
        .args([
            "events",
            "list",
            "--status",
            "rejected",
            "--url",
            "http://127.0.0.1:9",
        ])
        .assert()
        .code(1);
    let help = help_of(home.path(), &["keys", "create"]);
    assert!(
        help.contains("[possible values: deployments, incidents, admin]"),
        "{help}"
    );
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

#[cfg(unix)]
#[test]
fn a_config_file_open_to_others_gets_one_warning_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("mwctl-config.toml");
    let chmod = |mode: u32| {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    // As a hand-written or copied file would be: the umask's 0644.
    std::fs::write(
        &config,
        "[profiles.default]\nurl = \"http://127.0.0.1:9\"\napi_key = \"mwk_written_by_hand_0123456789\"\n",
    )
    .expect("writes");
    chmod(0o644);
    let fix = format!("chmod 600 {}", config.display());
    for args in [&["config", "show"][..], &["keys", "list", "-o", "json"]] {
        let out = mwctl_isolated(home.path())
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches(&fix).count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("warning:") && stderr.contains("0644"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("mwk_written"),
            "the key is never shown: {stderr}"
        );
    }
    // Private: nothing to say.
    chmod(0o600);
    mwctl_isolated(home.path())
        .args(["config", "show"])
        .assert()
        .code(0)
        .stderr(contains("chmod").not());

    // `login` writes the file anew, private, whatever mode it had.
    chmod(0o644);
    mwctl_isolated(home.path())
        .args([
            "login",
            "--no-verify",
            "--api-key-stdin",
            "--url",
            "http://127.0.0.1:9",
        ])
        .write_stdin("mwk_another_key_0123456789\n")
        .assert()
        .code(0);
    let mode = std::fs::metadata(&config)
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    mwctl_isolated(home.path())
        .args(["config", "show"])
        .assert()
        .code(0)
        .stderr(contains("chmod").not());
}
