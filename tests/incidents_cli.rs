//! End to end: `mwctl incident open|ack|resolve`, `mwctl send` of incident files and
//! PagerDuty / Opsgenie exports, `mwctl incidents list` and `mwctl dora`, with the real mwctl
//! binary against the real server.

mod common;

use std::time::{Duration, Instant};

use common::{Server, mwctl_isolated, stdout_json};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

/// Every incident the server received, oldest request first, exactly as sent.
fn sent_incidents(server: &Server) -> Vec<Value> {
    server.wait_processed();
    let mut events = server.events();
    events.reverse();
    events
        .iter()
        .filter(|e| e.request_type == "incident")
        .flat_map(|e| {
            let detail = server.get(&format!("/api/events/{}", e.id));
            let body: Value = serde_json::from_str(detail["body"].as_str().expect("body kept"))
                .expect("body is JSON");
            body["incidents"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

#[test]
fn incident_open_against_a_dead_server_warns_and_exits_zero_unless_strict() {
    let home = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let args = [
        "incident",
        "open",
        "--key",
        "INC-1",
        "--title",
        "down",
        "--repo",
        REPO,
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
        .stderr(contains("incident open could not report the incident"))
        .stderr(contains("--strict"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by --timeout"
    );
    let out = mwctl_isolated(home.path())
        .env("MW_URL", &url)
        .env("MW_API_KEY", "mwk_whatever")
        .env("MW_STRICT", "1")
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["incident"]["incident_key"], "INC-1");
    assert_eq!(report["incident"]["status"], "TRIGGERED");
}

#[test]
fn open_ack_resolve_need_only_the_key_after_open() {
    let server = Server::start();
    server.link(REPO);
    let (_, key) = server.create_key("hook", &["--scope", "incidents"]);
    let state = server.dir.path().join("incidents.json");
    let mwctl = || {
        let mut cmd = server.mwctl();
        cmd.env("MW_API_KEY", &key)
            .env("MW_INCIDENT_STATE_FILE", &state);
        cmd
    };
    let out = mwctl()
        .args([
            "incident",
            "open",
            "--key",
            "INC-7",
            "--title",
            "checkout errors",
            "--repo",
            "git@github.com:acme/shop.git",
            "--deployment",
            "run-41",
            "--service",
            "checkout-api",
            "--incident-url",
            "https://oncall.example.com/INC-7",
            "--at",
            "2026-01-05T10:00:00Z",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert_eq!(report["sources"]["repo_urls"], "--repo / MW_REPO");
    assert!(state.exists(), "open remembers the incident");

    mwctl()
        .args(["incident", "ack", "INC-7"])
        .assert()
        .success();
    let out = mwctl()
        .args([
            "incident",
            "resolve",
            "INC-7",
            "--at",
            "2026-01-05T10:45:00Z",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "accepted", "{report}");
    assert!(
        report["sources"]["title"]
            .as_str()
            .is_some_and(|s| s.contains("incident open's state")),
        "{report}"
    );
    assert!(!state.exists(), "resolve forgets it");

    let sent = sent_incidents(&server);
    let statuses: Vec<&str> = sent.iter().filter_map(|i| i["status"].as_str()).collect();
    assert_eq!(statuses, ["TRIGGERED", "ACKNOWLEDGED", "RESOLVED"]);
    for incident in &sent {
        assert_eq!(incident["incident_key"], "INC-7");
        assert_eq!(incident["provider"], "custom");
        assert_eq!(incident["title"], "checkout errors");
        assert_eq!(incident["creation_date"], "2026-01-05T10:00:00+00:00");
        assert_eq!(incident["repo_urls"], json!([REPO]));
        assert_eq!(incident["deployment"]["workflow_run_unique_id"], "run-41");
        assert_eq!(incident["provider_service_name"], "checkout-api");
        assert_eq!(incident["url"], "https://oncall.example.com/INC-7");
    }
    assert_eq!(sent[2]["resolved_date"], "2026-01-05T10:45:00+00:00");
    // Their events name what they carried.
    server
        .mwctl()
        .args(["events", "list"])
        .assert()
        .success()
        .stdout(contains("\t1 incident\t"))
        .stdout(contains("incidents").not());

    // Nothing remembered, and a key without the admin scope: it says what to pass, exit 0
    // (1 with --strict), and sends nothing.
    mwctl()
        .args(["incident", "resolve", "INC-8"])
        .assert()
        .success()
        .stderr(contains("pass --title and --opened-at"));
    mwctl()
        .args(["incident", "resolve", "INC-8", "--strict"])
        .assert()
        .code(1)
        .stderr(contains("pass --title and --opened-at"));
    // Given on the command line, it goes.
    mwctl()
        .args([
            "incident",
            "resolve",
            "INC-8",
            "--title",
            "queue stuck",
            "--opened-at",
            "2026-01-06T08:00:00Z",
            "--repo",
            REPO,
        ])
        .assert()
        .success();
    let sent = sent_incidents(&server);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(sent[3]["incident_key"], "INC-8");
    assert_eq!(sent[3]["status"], "RESOLVED");
}

fn pagerduty_export() -> String {
    let incident = |n: u64, status: &str, created: &str, changed: &str| {
        json!({
            "id": format!("Q{n}"), "type": "incident", "incident_number": n,
            "title": format!("incident {n}"), "status": status, "urgency": "high",
            "created_at": created, "last_status_change_at": changed,
            "html_url": format!("https://acme.pagerduty.com/incidents/Q{n}"),
            "service": {"id": "PSVC", "summary": "checkout-api", "type": "service_reference"},
            "assignments": [{"assignee": {"id": "PU1", "summary": "Ada", "type": "user_reference"}}]
        })
    };
    // Two pages, as a paginating script writes them one after another.
    format!(
        "{}\n{}",
        json!({"incidents": [
            incident(1, "resolved", "2026-01-02T10:00:00Z", "2026-01-02T11:00:00Z"),
            incident(2, "acknowledged", "2026-01-03T10:00:00Z", "2026-01-03T10:05:00Z"),
        ], "limit": 2, "offset": 0, "more": true}),
        json!({"incidents": [
            incident(3, "triggered", "2026-01-04T10:00:00Z", "2026-01-04T10:00:00Z"),
        ], "limit": 2, "offset": 2, "more": false})
    )
}

fn opsgenie_export() -> String {
    let alert = |tiny: &str, status: &str, acked: bool| {
        json!({
            "id": format!("id-{tiny}"), "tinyId": tiny, "alias": format!("a{tiny}"),
            "message": format!("alert {tiny}"), "status": status, "acknowledged": acked,
            "isSeen": true, "tags": ["service:web"], "owner": "ada@acme.example",
            "createdAt": "2026-01-02T10:00:00.000Z", "updatedAt": "2026-01-02T10:30:00.000Z"
        })
    };
    json!({"data": [alert("11", "closed", true), alert("12", "open", false)],
        "paging": {"first": "x"}, "took": 0.1, "requestId": "r"})
    .to_string()
}

#[test]
fn pagerduty_and_opsgenie_exports_backfill_with_send_repo() {
    let server = Server::start();
    server.link(REPO);
    let pd = server.write("pagerduty.json", pagerduty_export());
    let out = server
        .mwctl()
        .arg("send")
        .arg(&pd)
        .args(["--repo", REPO, "-o", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout_json(&out);
    assert_eq!(summary["format"], "pagerduty", "{summary}");
    assert_eq!(summary["accepted"], 3, "{summary}");
    // People read incidents named as such, not as runs.
    server
        .mwctl()
        .arg("send")
        .arg(&pd)
        .args(["--repo", REPO])
        .assert()
        .success()
        .stderr(contains("incidents/s"))
        .stderr(contains("Repositories of the valid incidents read"))
        .stderr(contains(": 3 incidents"))
        .stderr(contains("runs").not());

    let og = server.write("opsgenie.json", opsgenie_export());
    let out = server
        .mwctl()
        .arg("send")
        .arg(&og)
        .args(["--repo", REPO, "-o", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["format"], "opsgenie");

    let sent = sent_incidents(&server);
    let keys: Vec<(&str, &str, &str)> = sent
        .iter()
        .map(|i| {
            (
                i["provider"].as_str().unwrap_or_default(),
                i["incident_key"].as_str().unwrap_or_default(),
                i["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("pagerduty", "1", "RESOLVED"),
            ("pagerduty", "2", "ACKNOWLEDGED"),
            ("pagerduty", "3", "TRIGGERED"),
            ("opsgenie", "11", "RESOLVED"),
            ("opsgenie", "12", "TRIGGERED"),
        ]
    );
    assert_eq!(sent[0]["resolved_date"], "2026-01-02T11:00:00+00:00");
    assert_eq!(sent[0]["assignees"], json!(["Ada"]));
    assert_eq!(sent[3]["resolved_date"], "2026-01-02T10:30:00+00:00");
    assert!(sent.iter().all(|i| i["repo_urls"] == json!([REPO])));
    let events = server.events();
    let created: u64 = events.iter().map(|e| e.incidents_created).sum();
    assert_eq!(created, 5, "{events:?}");

    // Without --repo, a PagerDuty export cannot name the repository: the error says where the
    // field comes from, by record.
    let out = server
        .mwctl()
        .arg("validate")
        .arg(&pd)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("record 0: repo_urls")
            && text.contains("--repo URL: a PagerDuty export names no repository")
            && text.contains("3 of 3 incidents are invalid"),
        "{text}"
    );
}

/// Three deployments, then an incident opened an hour after the second and resolved 45
/// minutes later, all with mwctl: `mwctl dora` gives a change failure rate of 1/3 and a time
/// to restore of 45 minutes, and `incidents list` shows the incident on the second deployment.
fn dora_after_a_deployment_and_an_incident(server: &Server) {
    server.link(REPO);
    let (_, key) = server.create_key(
        "ci",
        &[
            "--scope",
            "deployments",
            "--scope",
            "incidents",
            "--scope",
            "admin",
        ],
    );
    let mwctl = || {
        let mut cmd = server.mwctl();
        cmd.env("MW_API_KEY", &key)
            .env("MW_INCIDENT_STATE_FILE", server.dir.path().join("inc.json"));
        cmd
    };
    let base = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(0).expect("utc"))
        - chrono::TimeDelta::days(5);
    let at = |hours: i64| {
        (base + chrono::TimeDelta::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    for (id, hours) in [("d1", 0), ("d2", 24), ("d3", 48)] {
        mwctl()
            .args([
                "deploy",
                "record",
                "--status",
                "success",
                "--duration",
                "300",
            ])
            .args(["--started-at", &at(hours), "--run-id", id, "--repo", REPO])
            .args(["--branch", "main", "--workflow", "deploy", "--strict"])
            .assert()
            .success();
    }
    mwctl()
        .args([
            "incident",
            "open",
            "--key",
            "INC-9",
            "--title",
            "checkout down",
        ])
        .args(["--repo", REPO, "--at", &at(25), "--strict"])
        .assert()
        .success();
    let resolved_at = (base + chrono::TimeDelta::hours(25) + chrono::TimeDelta::minutes(45))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    mwctl()
        .args([
            "incident",
            "resolve",
            "INC-9",
            "--at",
            &resolved_at,
            "--strict",
        ])
        .assert()
        .success();
    server.wait_processed();

    let out = mwctl()
        .args(["dora", "--repo", REPO, "--since", "30d", "-o", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    let total = &report["total"];
    assert_eq!(total["change_failure_rate"]["deployments"], 3, "{report}");
    assert_eq!(
        total["change_failure_rate"]["failed_deployments"], 1,
        "{report}"
    );
    assert_eq!(total["change_failure_rate"]["incidents"], 1, "{report}");
    assert_eq!(total["time_to_restore"]["resolved"], 1, "{report}");
    assert_eq!(total["time_to_restore"]["open"], 0, "{report}");
    assert_eq!(total["time_to_restore"]["mean_seconds"], 2700.0, "{report}");
    assert_eq!(
        total["time_to_restore"]["median_seconds"], 2700.0,
        "{report}"
    );
    assert_eq!(total["deployment_frequency"]["deployments"], 3, "{report}");
    assert_eq!(report["lead_time_for_changes"]["available"], false);

    // The table says the same, with its counts.
    let out = mwctl()
        .args([
            "dora",
            "--repo",
            REPO,
            "--since",
            "30d",
            "--interval",
            "day",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("33.3% (1/3)"), "{text}");
    assert!(
        text.contains("45m00s / 45m00s (1 resolved, 0 open)") || text.contains("45m"),
        "{text}"
    );
    assert!(
        text.contains("Lead time for changes: not available"),
        "{text}"
    );

    let out = mwctl()
        .args([
            "incidents",
            "list",
            "--repo",
            REPO,
            "--status",
            "resolved",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = stdout_json(&out);
    assert_eq!(page["total"], 1, "{page}");
    let incident = &page["incidents"][0];
    assert_eq!(incident["incident_key"], "INC-9");
    assert_eq!(incident["status"], "RESOLVED");
    assert_eq!(
        incident["attributed_to"]["workflow_run_unique_id"], "d2",
        "{page}"
    );
    let out = mwctl()
        .args(["incidents", "list", "--status", "triggered"])
        .output()
        .expect("runs");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No incidents"));
}

#[test]
fn dora_reports_the_change_failure_rate_and_time_to_restore_on_sqlite() {
    dora_after_a_deployment_and_an_incident(&Server::start());
}

#[test]
fn dora_reports_the_change_failure_rate_and_time_to_restore_on_postgres() {
    let Some(database) = common::pg::database() else {
        return;
    };
    dora_after_a_deployment_and_an_incident(&Server::start_pg(&database, None, &[]));
}

#[test]
fn ack_and_resolve_ask_the_server_when_nothing_was_remembered() {
    let server = Server::start();
    server.link(REPO);
    let (_, key) = server.create_key("oncall", &["--scope", "incidents", "--scope", "admin"]);
    let mwctl = |state: &str| {
        let mut cmd = server.mwctl();
        cmd.env("MW_API_KEY", &key)
            .env("MW_INCIDENT_STATE_FILE", server.dir.path().join(state));
        cmd
    };
    mwctl("one.json")
        .args([
            "incident", "open", "--key", "INC-3", "--title", "slow api", "--repo", REPO,
        ])
        .args(["--at", "2026-01-05T10:00:00Z", "--strict"])
        .assert()
        .success();
    server.wait_processed();
    // Another machine: no state; the key's admin scope lets it ask the server.
    let out = mwctl("other.json")
        .args([
            "incident", "resolve", "INC-3", "--repo", REPO, "--strict", "-o", "json",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["incident"]["title"], "slow api", "{report}");
    assert_eq!(
        report["incident"]["creation_date"],
        "2026-01-05T10:00:00+00:00"
    );
    assert_eq!(
        report["sources"]["title"],
        "the server (GET /api/incidents)"
    );
}

#[test]
fn explain_lists_every_field_with_its_source_and_github_gets_annotations() {
    let home = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let github = |cmd: &mut assert_cmd::Command| {
        cmd.env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "88")
            .env("GITHUB_WORKFLOW", "Rollback")
            .env("GITHUB_STEP_SUMMARY", home.path().join("summary.md"))
            .env("GITHUB_OUTPUT", home.path().join("outputs"))
            .env("RUNNER_TEMP", home.path());
    };

    // --explain: every field and its source, the body; nothing sent (the server is dead).
    let mut cmd = mwctl_isolated(home.path());
    github(&mut cmd);
    let out = cmd
        .env("MW_URL", &url)
        .env("MW_API_KEY", "mwk_any")
        .args(["incident", "open", "--key", "INC-5", "--title", "rollback"])
        .args(["--deployment", "88-1", "--type", "maybe", "--explain"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("mwctl incident open --explain (nothing is sent); CI: github"),
        "{text}"
    );
    for row in [
        "repo_urls",
        "https://github.com/acme/shop",
        "deployment.workflow_name",
        "Rollback",
        "--deployment",
        "\"incidents\": [",
    ] {
        assert!(text.contains(row), "{row} in {text}");
    }
    // An unusable value is a warning annotation, and the default is used.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "::warning title=mwctl::incident open --type: \"maybe\" is not an incident type"
        ),
        "{stderr}"
    );

    // A dead server: a warning annotation, a summary row, the key as a step output.
    let mut cmd = mwctl_isolated(home.path());
    github(&mut cmd);
    cmd.env("MW_URL", &url)
        .env("MW_API_KEY", "mwk_any")
        .args(["incident", "open", "--key", "INC-5", "--title", "rollback"])
        .args(["--timeout", "2s"])
        .assert()
        .success()
        .stderr(contains(
            "::warning title=mwctl::incident open could not report the incident",
        ));
    let summary = std::fs::read_to_string(home.path().join("summary.md")).expect("summary");
    assert!(
        summary.contains("| INC-5 | custom | TRIGGERED | rollback | https://github.com/acme/shop | - | - | not reported: "),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(home.path().join("outputs")).expect("outputs");
    assert_eq!(outputs, "incident_key=INC-5\n");
}

#[test]
fn an_incidents_file_with_a_bad_record_sets_it_aside_and_sends_the_rest() {
    let server = Server::start();
    server.link(REPO);
    let good = |key: &str| {
        json!({"incident_key": key, "provider": "zenduty", "status": "resolved",
            "title": "db failover", "creation_date": "2026-01-02T10:00:00Z",
            "resolved_date": "2026-01-02T10:20:00Z", "repo_urls": [REPO]})
    };
    let mut bad = good("Z-2");
    bad["resolved_date"] = json!("2026-01-01T00:00:00Z");
    let lines = [good("Z-1"), bad, good("Z-3"), good("Z-1")]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let file = server.write("incidents.ndjson", lines);
    let rejects = server.dir.path().join("rejects.ndjson");
    let out = server
        .mwctl()
        .arg("send")
        .arg(&file)
        .arg("--skip-invalid")
        .arg("--rejects")
        .arg(&rejects)
        .args(["-o", "json"])
        .output()
        .expect("runs");
    let summary = stdout_json(&out);
    assert_eq!(summary["format"], "incidents", "{summary}");
    assert_eq!(summary["accepted"], 2, "{summary}");
    let rejected: Vec<Value> = std::fs::read_to_string(&rejects)
        .expect("rejects")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0]["record"], 1);
    assert_eq!(rejected[0]["errors"][0]["field"], "resolved_date");
    assert!(
        rejected[0]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("before creation_date")),
        "{rejected:?}"
    );
    assert_eq!(rejected[1]["record"], 3);
    assert_eq!(rejected[1]["errors"][0]["field"], "incident_key");
    let keys: Vec<String> = sent_incidents(&server)
        .iter()
        .map(|i| i["incident_key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys, ["Z-1", "Z-3"]);
}
