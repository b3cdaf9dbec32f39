//! `runs list` and `events list` against the real server: lists past the server's page
//! maximum, the total and the note when more exist, `--all`, cursors, and filters that accept
//! every repository form mwctl prints.

mod common;

use std::collections::BTreeSet;

use common::{Server, run_json, stdout_json};
use predicates::str::contains;
use serde_json::{Value, json};

/// Sends `runs` with `mwctl send` in batches of `batch` (one event each) and waits until they
/// are stored.
fn send(server: &Server, name: &str, runs: &[Value], batch: u16) {
    let path = server.write(name, serde_json::to_vec(runs).expect("json"));
    let out = server
        .mwctl()
        .args(["send", "--batch-size", &batch.to_string()])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.wait_processed();
}

/// Run `i` of `repo`; every three share a start, so the order's tie-breaker is exercised.
fn numbered_run(repo: &str, workflow: &str, i: usize) -> Value {
    let mut run = run_json(repo, &format!("r{i}"), "SUCCESS");
    let at = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").expect("time")
        + chrono::TimeDelta::minutes((i / 3) as i64);
    run["workflow_run_conducted_at"] = json!(at.to_rfc3339());
    run["workflow_name"] = json!(workflow);
    run
}

/// `mwctl ARGS -o json`: exit code, stdout as JSON, stderr.
fn list(server: &Server, args: &[&str]) -> (Value, String) {
    let out = server
        .mwctl()
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    (stdout_json(&out), stderr)
}

fn ids(page: &Value, items: &str) -> Vec<String> {
    page[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items} in {page}"))
        .iter()
        .map(|item| item["id"].to_string())
        .collect()
}

fn unique(ids: &[String]) -> usize {
    ids.iter().collect::<BTreeSet<_>>().len()
}

/// With the server's real maximums (10,000 runs, 500 events a page): 10,050 runs in 503
/// events.
#[test]
fn lists_go_past_the_servers_page_maximum() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let runs: Vec<Value> = (0..10_050)
        .map(|i| numbered_run("https://github.com/acme/shop", "deploy", i))
        .collect();
    send(&server, "many.json", &runs, 20);

    // More than one server page, exactly as many as asked, and a note with the total.
    let (page, stderr) = list(&server, &["runs", "list", "--limit", "10020"]);
    let got = ids(&page, "runs");
    assert_eq!((got.len(), unique(&got)), (10_020, 10_020));
    assert_eq!(page["total"], 10_050);
    assert!(page["next"].is_string(), "more exist: {}", page["next"]);
    assert!(
        stderr.contains("Showing 10,020 of 10,050 runs; --limit N or --all for more"),
        "{stderr}"
    );

    // --all: every run once, newest first, and nothing said to be missing.
    let (page, stderr) = list(&server, &["runs", "list", "--all"]);
    let got = ids(&page, "runs");
    assert_eq!((got.len(), unique(&got)), (10_050, 10_050));
    assert_eq!(
        (&page["total"], &page["next"]),
        (&json!(10_050), &Value::Null)
    );
    assert!(!stderr.contains("Showing"), "{stderr}");
    let started: Vec<&str> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["conducted_at"].as_str().expect("time"))
        .collect();
    assert!(
        started.windows(2).all(|w| w[0] >= w[1]),
        "newest first across pages"
    );

    // The table says so too.
    server
        .mwctl()
        .args(["runs", "list"])
        .assert()
        .code(0)
        .stderr(contains(
            "Showing 100 of 10,050 runs; --limit N or --all for more",
        ));

    // Events: 503 of them, past the page of 500.
    let (page, stderr) = list(&server, &["events", "list", "--limit", "1000"]);
    let got = ids(&page, "events");
    assert_eq!((got.len(), unique(&got)), (503, 503));
    assert_eq!((&page["total"], &page["next"]), (&json!(503), &Value::Null));
    assert!(!stderr.contains("Showing"), "{stderr}");
    let (page, stderr) = list(&server, &["events", "list", "--limit", "501"]);
    assert_eq!(ids(&page, "events").len(), 501);
    assert_eq!(page["total"], 503);
    assert!(
        stderr.contains("Showing 501 of 503 events; --limit N or --all for more"),
        "{stderr}"
    );
    let (page, _) = list(&server, &["events", "list", "--all", "--status", "success"]);
    assert_eq!(ids(&page, "events").len(), 503);
}

/// A server with pages of 3: progress notes, cursors, and pages that inserts do not shift.
#[test]
fn lists_continue_from_a_cursor() {
    let server = Server::start_with(&["--max-page", "3"]);
    server.link("https://github.com/acme/shop");
    let runs: Vec<Value> = (0..8)
        .map(|i| numbered_run("https://github.com/acme/shop", "deploy", i))
        .collect();
    send(&server, "eight.json", &runs, 1);

    let (all, stderr) = list(&server, &["runs", "list", "--all"]);
    let every = ids(&all, "runs");
    assert_eq!((every.len(), unique(&every)), (8, 8));
    assert!(stderr.contains("… 3 of 8 runs"), "progress: {stderr}");
    assert!(stderr.contains("… 6 of 8 runs"), "progress: {stderr}");

    let (first, _) = list(&server, &["runs", "list", "--limit", "4"]);
    assert_eq!(ids(&first, "runs"), every[..4]);
    let next = first["next"].as_str().expect("more exist").to_owned();

    // A run stored meanwhile (newer than all) does not shift the rest of the list.
    send(
        &server,
        "late.json",
        &[numbered_run("https://github.com/acme/shop", "deploy", 99)],
        1,
    );
    let (rest, _) = list(&server, &["runs", "list", "--all", "--cursor", &next]);
    assert_eq!(ids(&rest, "runs"), every[4..]);
    assert_eq!((&rest["total"], &rest["next"]), (&json!(9), &Value::Null));

    // Events the same way: --before takes the `next` of -o json.
    let (first, stderr) = list(&server, &["events", "list", "--limit", "4"]);
    assert_eq!(ids(&first, "events").len(), 4);
    assert_eq!(first["total"], 9);
    assert!(stderr.contains("Showing 4 of 9 events"), "{stderr}");
    let next = first["next"].as_str().expect("more exist").to_owned();
    let (rest, _) = list(&server, &["events", "list", "--all", "--before", &next]);
    let mut both = ids(&first, "events");
    both.extend(ids(&rest, "events"));
    assert_eq!((both.len(), unique(&both)), (9, 9));

    // A cursor that no server gave is refused with the way out.
    server
        .mwctl()
        .args(["runs", "list", "--cursor", "not-a-cursor"])
        .assert()
        .code(1)
        .stderr(contains("`next` of the previous page"));
    server
        .mwctl()
        .args(["runs", "list", "--limit", "0"])
        .assert()
        .code(2);
    server
        .mwctl()
        .args(["events", "list", "--limit", "5", "--all"])
        .assert()
        .code(2)
        .stderr(contains("--all"));
}

#[test]
fn every_repo_form_mwctl_prints_finds_the_runs() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    server.link("https://github.com/acme/api");
    let mut runs: Vec<Value> = (0..3)
        .map(|i| numbered_run("https://github.com/acme/shop", "Deploy-Prod", i))
        .collect();
    runs.extend((3..5).map(|i| numbered_run("https://github.com/acme/api", "Deploy-Prod", i)));
    send(&server, "two-repos.json", &runs, 500);

    // What `repos link` prints (host/org/name) first: the form that found nothing before.
    for form in [
        "github.com/acme/shop",
        "https://github.com/acme/shop",
        "https://github.com/acme/shop.git",
        "GitHub.com/Acme/Shop",
        "acme/shop",
        "shop",
        "git@github.com:acme/shop.git",
        "ssh://git@github.com/acme/shop.git",
    ] {
        let (page, _) = list(&server, &["runs", "list", "--repo", form]);
        assert_eq!(page["total"], 3, "--repo {form}: {page}");
        assert!(
            page["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .all(|r| r["repo"] == "acme/shop"),
            "--repo {form}: {page}"
        );
    }
    let (page, _) = list(&server, &["runs", "list", "--repo", "gitlab.com/acme/shop"]);
    assert_eq!(page["total"], 0, "another host: {page}");

    // Workflows ignore case as repos do.
    for workflow in ["Deploy-Prod", "deploy-prod", "DEPLOY-PROD"] {
        let (page, _) = list(&server, &["runs", "list", "--workflow", workflow]);
        assert_eq!(page["total"], 5, "--workflow {workflow}: {page}");
        let (page, _) = list(
            &server,
            &["runs", "list", "--workflow", workflow, "--repo", "ACME/API"],
        );
        assert_eq!(page["total"], 2, "--workflow {workflow} --repo ACME/API");
    }

    // A form that designates no repository is refused before any request, with the forms.
    server
        .mwctl()
        .args(["runs", "list", "--repo", "acme shop"])
        .assert()
        .code(2)
        .stderr(contains("host/org/name"));
}
