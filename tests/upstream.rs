//! mwctl against upstream Middleware, unchanged: the real mwctl against a test double of
//! upstream's webhook (`common::upstream`), which answers as upstream does and stores runs as
//! its worker does (repositories matched by exact URL after answering "accepted").

mod common;

use std::path::Path;

use common::upstream::{Upstream, py39_fromisoformat};
use common::{mwctl_isolated, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";
const TOKEN: &str = "ghp_s3cretT0ken";

/// mwctl for `upstream`, its key in the environment, an isolated config under `home`.
fn mwctl(upstream: &Upstream, home: &Path) -> assert_cmd::Command {
    let mut cmd = mwctl_isolated(home);
    cmd.env("MW_URL", &upstream.url)
        .env("MW_API_KEY", &upstream.key);
    cmd
}

/// A run of `repo` as a hand-written file may hold it.
fn run(repo: &str, id: Value, status: &str, at: &str) -> Value {
    json!({
        "workflow_name": "deploy",
        "repo_urls": [repo],
        "event_actor": "alice",
        "head_branch": "main",
        "workflow_run_unique_id": id,
        "status": status,
        "workflow_run_conducted_at": at,
        "duration": 42,
    })
}

fn write(home: &Path, name: &str, value: &Value) -> std::path::PathBuf {
    let path = home.join(name);
    std::fs::write(&path, serde_json::to_vec(value).expect("json")).expect("writes");
    path
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn python_39_reads_only_the_times_mwctl_sends() {
    for ok in [
        "2025-01-09T10:00:00+00:00",
        "2025-01-09T10:00:00.123456-05:30",
    ] {
        assert!(py39_fromisoformat(&json!(ok)).is_some(), "{ok}");
    }
    for bad in [
        "2025-01-09T10:00:00Z",
        "2025-01-09T10:00:00+0200",
        "2025-01-09T10:00:00.1+00:00",
    ] {
        assert!(py39_fromisoformat(&json!(bad)).is_none(), "{bad}");
    }
}

#[test]
fn every_repository_url_goes_out_in_one_canonical_form_and_lands() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let mut with_token = run(
        &format!("https://x-access-token:{TOKEN}@github.com/acme/shop"),
        json!("r4"),
        "SUCCESS",
        "2025-01-09T10:00:00+00:00",
    );
    with_token["html_url"] = json!(format!("https://ci:{TOKEN}@ci.example.com/runs/4"));
    let runs = json!([
        run(
            "https://github.com/acme/shop.git",
            json!(41),
            "success",
            "2025-01-09T10:00:00Z"
        ),
        run(
            "git@github.com:acme/shop.git",
            json!("r2"),
            "Canceled",
            "2025-01-09T12:00:00+0200"
        ),
        run(
            "HTTPS://WWW.GitHub.com/acme/shop/",
            json!("r3"),
            "failure",
            "2025-01-09T10:00:00.5Z"
        ),
        with_token,
        run(
            "ssh://git@github.com:22/acme/shop.git",
            json!("r5"),
            "PENDING",
            "2025-01-09 10:00:00+00:00"
        ),
    ]);
    let file = write(home.path(), "runs.json", &runs);

    // validate shows the form send will send, and every other spelling.
    let out = mwctl(&upstream, home.path())
        .arg("validate")
        .arg(&file)
        .output()
        .expect("runs");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("Repositories, as mwctl sends them:\n  https://github.com/acme/shop: 5 runs (written https://github.com/acme/shop.git, git@github.com:acme/shop.git, HTTPS://WWW.GitHub.com/acme/shop/ in the input)"),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");

    let out = mwctl(&upstream, home.path())
        .args(["send", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let summary = stdout_json(&out);
    assert_eq!(summary["accepted"], 5);
    assert_eq!(
        summary["repositories"]["listed"][REPO]["runs"], 5,
        "{summary}"
    );
    // Upstream's job_id is not an mwctl event id.
    assert_eq!(summary["event_ids"], json!([]));
    assert_eq!(summary["job_ids"], json!(["1"]));
    assert!(!shown.contains(TOKEN), "{shown}");

    // On the wire: one canonical URL per run, ids as strings, canonical statuses, times
    // Python 3.9 reads, no credentials anywhere.
    let received = upstream.received();
    assert!(
        received
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains(TOKEN))
    );
    let sent = upstream.sent_runs();
    assert_eq!(sent.len(), 5);
    for run in &sent {
        assert_eq!(run["repo_urls"], json!([REPO]), "{run}");
        assert!(run["workflow_run_unique_id"].is_string(), "{run}");
        assert!(
            py39_fromisoformat(&run["workflow_run_conducted_at"]).is_some(),
            "{run}"
        );
        assert!(run.get("repo_names").is_none(), "{run}");
    }
    let statuses: Vec<_> = sent.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses,
        [
            json!("SUCCESS"),
            json!("CANCELLED"),
            json!("FAILURE"),
            json!("SUCCESS"),
            json!("PENDING")
        ]
    );
    assert_eq!(sent[0]["workflow_run_unique_id"], "41");
    assert_eq!(sent[3]["html_url"], "https://ci.example.com/runs/4");

    // Upstream's worker found every repository and stored every run.
    assert_eq!(upstream.failures(), Vec::<String>::new());
    let stored = upstream.runs();
    assert_eq!(stored.len(), 5);
    assert!(
        stored
            .keys()
            .all(|(url, workflow, _)| url == REPO && workflow == "deploy")
    );
}

#[test]
fn a_numeric_id_is_sent_as_a_string_so_the_final_status_lands() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let started = write(
        home.path(),
        "started.json",
        &json!([run(REPO, json!(42), "PENDING", "2025-01-09T10:00:00+00:00")]),
    );
    let finished = write(
        home.path(),
        "finished.json",
        &json!([run(REPO, json!(42), "SUCCESS", "2025-01-09T10:00:00+00:00")]),
    );
    for file in [&started, &finished] {
        mwctl(&upstream, home.path())
            .arg("send")
            .arg(file)
            .assert()
            .code(0);
    }
    assert_eq!(upstream.failures(), Vec::<String>::new());
    let stored = upstream.runs();
    let run = &stored[&(REPO.to_owned(), "deploy".to_owned(), "42".to_owned())];
    assert_eq!(run.status, "SUCCESS", "not left PENDING");
    assert_eq!(run.duration, Some(42));
}

#[test]
fn a_run_naming_two_repositories_is_not_sent() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let mut two = run(REPO, json!("t1"), "SUCCESS", "2025-01-09T10:00:00+00:00");
    two["repo_urls"] = json!([REPO, "https://github.com/acme/not-linked"]);
    let mut same_twice = run(REPO, json!("t2"), "SUCCESS", "2025-01-09T10:00:00+00:00");
    same_twice["repo_urls"] = json!([REPO, "git@github.com:acme/shop.git"]);
    same_twice["repo_names"] = json!(["acme/shop"]);
    let file = write(home.path(), "runs.json", &json!([two, same_twice]));

    mwctl(&upstream, home.path())
        .arg("validate")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(contains(
            "error: record 0: repo_urls: names 2 repositories (https://github.com/acme/shop, https://github.com/acme/not-linked); mwctl sends one repository per run",
        ))
        .stderr(contains("warning:").not());

    let rejects = home.path().join("rejects.ndjson");
    let out = mwctl(&upstream, home.path())
        .args(["send", "-o", "json", "--skip-invalid", "--rejects"])
        .arg(&rejects)
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = stdout_json(&out);
    assert_eq!(
        (summary["accepted"].clone(), summary["invalid"].clone()),
        (json!(1), json!(1))
    );
    // Two spellings of one repository, and its name: one URL on the wire.
    let sent = upstream.sent_runs();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["repo_urls"], json!([REPO]));
    assert!(sent[0].get("repo_names").is_none(), "{}", sent[0]);
    assert_eq!(upstream.failures(), Vec::<String>::new());
    let set_aside = std::fs::read_to_string(&rejects).expect("written");
    assert!(set_aside.contains("\"record\":0"), "{set_aside}");
}

#[test]
fn a_refused_batch_that_names_no_run_is_set_aside_whole_without_credentials() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let at = "2025-01-09T10:00:00+00:00";
    // repo_names only: our server takes it, upstream refuses the whole request.
    let mut by_name = run(REPO, json!("n2"), "SUCCESS", at);
    by_name.as_object_mut().expect("object").remove("repo_urls");
    by_name["repo_names"] = json!(["acme/shop"]);
    let tokened = run(
        &format!("https://deploy:{TOKEN}@github.com/acme/shop.git"),
        json!("n3"),
        "SUCCESS",
        at,
    );
    let mut invalid = run(
        &format!("https://deploy:{TOKEN}@github.com/acme/shop.git"),
        json!("n5"),
        "done",
        at,
    );
    invalid["meta"] = json!({"log": format!("see https://u:{TOKEN}@logs.example.com/5")});
    let runs = json!([
        run(REPO, json!("n0"), "SUCCESS", at),
        run(REPO, json!("n1"), "SUCCESS", at),
        by_name,
        tokened,
        invalid,
    ]);
    let file = write(home.path(), "runs.json", &runs);

    mwctl(&upstream, home.path())
        .arg("validate")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(contains(
            "warning: 1 run gives only repo_names (first: record 2); upstream Middleware refuses such runs",
        ));

    let rejects = home.path().join("rejects.ndjson");
    let out = mwctl(&upstream, home.path())
        .args([
            "send",
            "-o",
            "json",
            "--batch-size",
            "2",
            "--concurrency",
            "1",
            "--skip-invalid",
            "--rejects",
        ])
        .arg(&rejects)
        .arg(&file)
        .output()
        .expect("runs");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let summary = stdout_json(&out);
    assert_eq!(summary["outcome"], "refused", "{summary}");
    assert_eq!(summary["accepted"], 2);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["invalid"], 1);

    let content = std::fs::read_to_string(&rejects).expect("written");
    assert!(!content.contains(TOKEN), "{content}");
    let lines: Vec<Value> = content
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let records: Vec<u64> = lines.iter().filter_map(|l| l["record"].as_u64()).collect();
    assert_eq!(records, [2, 3, 4], "{content}");
    for line in &lines[..2] {
        assert_eq!(line["rejected_by"], "server");
        assert!(
            line["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Workflow run missing required field: 'repo_urls'")),
            "{line}"
        );
    }
    assert_eq!(lines[1]["input"]["repo_urls"], json!([REPO]));
    assert_eq!(lines[2]["rejected_by"], "validation");
    assert_eq!(
        lines[2]["input"]["repo_urls"],
        json!(["https://github.com/acme/shop.git"])
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn compressed_bodies_refused_with_400_are_sent_again_uncompressed() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let runs: Vec<Value> = (0..6)
        .map(|i| {
            run(
                REPO,
                json!(format!("z{i}")),
                "SUCCESS",
                "2025-01-09T10:00:00+00:00",
            )
        })
        .collect();
    let file = write(home.path(), "runs.json", &json!(runs));
    let out = mwctl(&upstream, home.path())
        .args([
            "send",
            "-o",
            "json",
            "--compress",
            "--batch-size",
            "2",
            "--concurrency",
            "2",
        ])
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("the server does not take compressed bodies")
            .count(),
        1,
        "said once: {stderr}"
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["accepted"], 6);
    assert_eq!(summary["compression_refused"], true);
    assert_eq!(summary["retries"], 0);

    let received = upstream.received();
    let gzipped: Vec<_> = received
        .iter()
        .filter(|r| r.content_encoding.is_some())
        .collect();
    assert!(
        !gzipped.is_empty() && gzipped.len() <= 2,
        "{}",
        gzipped.len()
    );
    assert!(gzipped.iter().all(|r| r.status == 400));
    // Each batch stored once, nothing lost or counted twice.
    assert_eq!(upstream.events().len(), 3);
    assert_eq!(upstream.runs().len(), 6);
}

#[test]
fn login_and_admin_commands_against_a_server_without_healthz_or_admin_api() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url", &upstream.url])
        .write_stdin(format!("{}\n", upstream.key))
        .assert()
        .code(0)
        .stderr(contains("Saved "))
        .stderr(contains("warning: the server could not be verified: "))
        .stderr(contains("it has no /healthz: upstream Middleware has none"));
    let config = std::fs::read_to_string(home.path().join("mwctl-config.toml")).expect("saved");
    assert!(config.contains(&upstream.url), "{config}");

    for args in [
        &["keys", "list"][..],
        &["repos", "list"],
        &["repos", "link", REPO],
        &["events", "list"],
        &["runs", "list"],
        &["prune", "evt_1", "--yes"],
    ] {
        mwctl_isolated(home.path())
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("answered HTTP 404: this server has no mwctl admin API"))
            .stderr(contains(
                "upstream Middleware has no admin API: it manages API keys and linked repositories in its web UI",
            ));
    }
    // The saved settings work for what upstream does take.
    let file = write(
        home.path(),
        "runs.json",
        &json!([run(REPO, json!("l1"), "SUCCESS", "2025-01-09T10:00:00Z")]),
    );
    mwctl_isolated(home.path())
        .arg("send")
        .arg(&file)
        .assert()
        .code(0);
    assert_eq!(upstream.runs().len(), 1);
}

#[test]
fn deploy_steps_report_to_upstream_with_the_canonical_url() {
    let upstream = Upstream::start(&[REPO]);
    let home = tempfile::tempdir().expect("tempdir");
    let fields = [
        "--repo",
        "git@GitHub.com:acme/shop.git",
        "--workflow",
        "deploy",
        "--branch",
        "main",
        "--commit",
        "abcdef1234567",
        "--actor",
        "alice",
    ];
    let out = mwctl(&upstream, home.path())
        .args(["deploy", "start", "--run-id", "d7", "-o", "json"])
        .args(fields)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(
        report["event_id"],
        Value::Null,
        "a job_id is not an event id"
    );
    let out = mwctl(&upstream, home.path())
        .args(["deploy", "finish", "--status", "success", "--run-id", "d7"])
        .args(fields)
        .output()
        .expect("runs");
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("(event"), "{shown}");
    mwctl(&upstream, home.path())
        .args([
            "deploy",
            "record",
            "--status",
            "failure",
            "--run-id",
            "d8",
            "--started-at",
            "2025-01-09T10:00:00Z",
            "--finished-at",
            "2025-01-09T10:05:00Z",
        ])
        .args(fields)
        .assert()
        .code(0);

    assert_eq!(upstream.failures(), Vec::<String>::new());
    for run in upstream.sent_runs() {
        assert_eq!(run["repo_urls"], json!([REPO]), "{run}");
    }
    let stored = upstream.runs();
    let key = |id: &str| (REPO.to_owned(), "deploy".to_owned(), id.to_owned());
    assert_eq!(stored[&key("d7")].status, "SUCCESS");
    assert_eq!(stored[&key("d8")].status, "FAILURE");
    assert_eq!(stored[&key("d8")].duration, Some(300));
}
