//! Keys, linked repos, events and pruning: mwctl against the real server.

mod common;

use common::{Server, run_json, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::json;

#[test]
fn key_lifecycle_create_use_list_revoke() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");

    let out = server
        .mwctl()
        .args([
            "keys",
            "create",
            "--name",
            "gitlab-ci",
            "--scope",
            "deployments",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let created = stdout_json(&out);
    let key = created["key"].as_str().expect("key shown once").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("mwk_") && key.len() >= 4 + 43, "{key}");
    assert_eq!(created["scopes"], json!(["deployments"]));

    // Listed by prefix, never in full.
    let out = server
        .mwctl()
        .args(["keys", "list", "-o", "json"])
        .output()
        .expect("runs");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.contains(&id));
    assert!(!listed.contains(&key), "keys list must not print a key");

    // The new key works for ingest...
    let (status, answer) = server.ingest(
        Some(&key),
        serde_json::to_vec(
            &json!({"workflow_runs": [run_json("https://github.com/acme/shop", "1", "SUCCESS")]}),
        )
        .expect("json"),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "accepted", "{answer}");

    // ...but not for the admin API: scopes are enforced.
    server
        .mwctl()
        .env("MW_API_KEY", &key)
        .args(["keys", "list"])
        .assert()
        .failure()
        .stderr(contains("may not do this"));

    // Revoked: refused on the very next request.
    server
        .mwctl()
        .args(["keys", "revoke", &id])
        .assert()
        .success();
    let (status, answer) = server.ingest(
        Some(&key),
        serde_json::to_vec(
            &json!({"workflow_runs": [run_json("https://github.com/acme/shop", "2", "SUCCESS")]}),
        )
        .expect("json"),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "rejected");
    assert_eq!(answer["exception_type"], "Unauthorized");
    server
        .mwctl()
        .env("MW_API_KEY", &key)
        .args([
            "deploy",
            "record",
            "--status",
            "success",
            "--started-at",
            "2025-01-01T00:00:00Z",
        ])
        .args([
            "--repo",
            "https://github.com/acme/shop",
            "--branch",
            "main",
            "--strict",
        ])
        .assert()
        .failure()
        .stderr(contains("Unauthorized"));

    let out = server
        .mwctl()
        .args(["keys", "list", "-o", "json"])
        .output()
        .expect("runs");
    let keys = stdout_json(&out);
    let revoked = keys
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("still listed");
    assert!(revoked["revoked_at"].is_string());
    assert!(
        revoked["last_used_at"].is_string(),
        "use was recorded: {revoked}"
    );
}

#[test]
fn keys_create_prints_only_the_key_when_quiet() {
    let server = Server::start();
    let out = server
        .mwctl()
        .args(["keys", "create", "--name", "ci", "-q"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim().lines().count(), 1);
    assert!(stdout.trim().starts_with("mwk_"));
    assert!(
        out.stderr.is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn repos_link_list_unlink() {
    let server = Server::start();
    server
        .mwctl()
        .args([
            "repos",
            "link",
            "https://user:secret@github.com/Acme/Shop.git",
        ])
        .assert()
        .success()
        .stderr(contains("github.com/Acme/Shop"));
    let repos = stdout_json(
        &server
            .mwctl()
            .args(["repos", "list", "-o", "json"])
            .output()
            .expect("runs"),
    );
    let repos = repos.as_array().expect("array");
    assert_eq!(repos.len(), 1);
    assert!(
        !repos[0].to_string().contains("secret"),
        "credentials are never stored"
    );
    let id = repos[0]["id"].to_string();

    // Linking again is harmless, and says so rather than claiming a new link.
    let out = server
        .mwctl()
        .args(["repos", "link", "git@github.com:acme/shop.git"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("github.com/Acme/Shop was already linked")
            && said.contains("nothing changed"),
        "{said}"
    );
    assert!(!said.contains("now accepted"), "{said}");
    assert_eq!(server.get("/api/repos").as_array().map(Vec::len), Some(1));
    // -o json: the repo, as for a new link.
    let out = server
        .mwctl()
        .args([
            "repos",
            "link",
            "https://github.com/acme/shop",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    assert_eq!(stdout_json(&out)["id"].to_string(), id);

    server
        .mwctl()
        .args(["repos", "link", "not a url"])
        .assert()
        .failure()
        .stderr(contains("expected https://host/org/name"));

    server
        .mwctl()
        .args(["repos", "unlink", &id])
        .assert()
        .success();
    server
        .mwctl()
        .args(["repos", "list"])
        .assert()
        .success()
        .stderr(contains("No linked repos"));
    server
        .mwctl()
        .args(["repos", "unlink", &id])
        .assert()
        .failure()
        .stderr(contains("error"));
}

fn send_file(server: &Server, ids: &[&str]) -> String {
    let runs: Vec<_> = ids
        .iter()
        .map(|id| run_json("https://github.com/acme/shop", id, "SUCCESS"))
        .collect();
    let path = server
        .dir
        .path()
        .join(format!("runs-{}.json", ids.join("-")));
    std::fs::write(&path, serde_json::to_vec(&runs).expect("json")).expect("writes");
    send_path(server, &path)["event_ids"][0]
        .as_str()
        .expect("event id")
        .to_owned()
}

/// `mwctl send -o json FILE`: its summary.
fn send_path(server: &Server, path: &std::path::Path) -> serde_json::Value {
    let out = server
        .mwctl()
        .args(["send", "-o", "json"])
        .arg(path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

/// The one stored run with this unique id: its status, or `None` when there is none.
fn status_of(server: &Server, unique_id: &str) -> Option<String> {
    let found: Vec<_> = server
        .runs()
        .into_iter()
        .filter(|r| r.workflow_run_unique_id == unique_id)
        .collect();
    assert!(found.len() <= 1, "{found:?}");
    found.into_iter().next().map(|r| r.status)
}

/// `mwctl prune EVENT [args] -o json`: exit 0, the report.
fn prune_json(server: &Server, event: &str, args: &[&str]) -> serde_json::Value {
    let out = server
        .mwctl()
        .args(["prune", event, "-o", "json"])
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().expect("id").to_owned(),
                r["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

/// Issue 10: send run X (event C creates it), send X again with other values (event A updates
/// it), prune A: X is back to C's version, and A's file can be sent again.
#[test]
fn prune_restores_what_the_event_updated_and_resending_stores_it_again() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let c_file = server.write(
        "c.json",
        serde_json::to_vec(&[run_json("https://github.com/acme/shop", "x", "SUCCESS")])
            .expect("json"),
    );
    let a_file = server.write(
        "a.json",
        serde_json::to_vec(&[run_json("https://github.com/acme/shop", "x", "FAILURE")])
            .expect("json"),
    );
    let c = send_path(&server, &c_file)["event_ids"][0]
        .as_str()
        .expect("event id")
        .to_owned();
    server.wait_processed();
    let a = send_path(&server, &a_file)["event_ids"][0]
        .as_str()
        .expect("event id")
        .to_owned();
    server.wait_processed();
    assert_eq!(status_of(&server, "x").as_deref(), Some("FAILURE"));

    // The dry run says what will happen, in JSON and in text; nothing changes.
    let dry = prune_json(&server, &a, &["--dry-run"]);
    assert_eq!(outcomes(&dry), [("x".to_owned(), "restored".to_owned())]);
    assert_eq!(
        dry["runs"][0]["status"], "SUCCESS",
        "the status it goes back to"
    );
    server
        .mwctl()
        .args(["prune", &a, "--dry-run"])
        .assert()
        .code(0)
        .stdout(contains("restored").and(contains("x")))
        .stderr(contains("would restore 1 run to their state before it"));
    assert_eq!(status_of(&server, "x").as_deref(), Some("FAILURE"));

    server
        .mwctl()
        .args(["prune", &a, "--yes"])
        .assert()
        .code(0)
        .stderr(contains(
            "deleted 0 runs, restored 1 run, left 0 runs changed since",
        ));
    assert_eq!(
        status_of(&server, "x").as_deref(),
        Some("SUCCESS"),
        "back to C's version, not deleted"
    );
    let stored = server.runs();
    assert_eq!(
        stored[0].html_url.as_deref(),
        Some("https://ci.example.com/runs/x")
    );

    // C still stands: its file is already stored.
    let again = send_path(&server, &c_file);
    assert_eq!(again["duplicates"], 1, "{again}");
    // A was pruned: its file is stored (and processed) again.
    let resent = send_path(&server, &a_file);
    assert_eq!(resent["duplicates"], 0, "{resent}");
    assert_eq!(resent["accepted"], 1, "{resent}");
    let a_again = resent["event_ids"][0]
        .as_str()
        .expect("event id")
        .to_owned();
    assert_ne!(a_again, a);
    server.wait_processed();
    assert_eq!(status_of(&server, "x").as_deref(), Some("FAILURE"));

    // Pruning C now: the re-sent A changed X since, so X stays (and is reported).
    let report = prune_json(&server, &c, &["--yes"]);
    assert_eq!(
        outcomes(&report),
        [("x".to_owned(), "changed_since".to_owned())]
    );
    assert_eq!(status_of(&server, "x").as_deref(), Some("FAILURE"));
    // Then the re-sent A: nothing that stands wrote X before it, so X goes.
    let report = prune_json(&server, &a_again, &["--yes"]);
    assert_eq!(outcomes(&report), [("x".to_owned(), "deleted".to_owned())]);
    assert_eq!(status_of(&server, "x"), None);
}

#[test]
fn prune_removes_exactly_that_events_runs() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let first = send_file(&server, &["a1", "a2"]);
    let second = send_file(&server, &["b1"]);
    server.wait_processed();
    assert_eq!(server.runs().len(), 3);

    // Dry run lists, deletes nothing.
    let out = server
        .mwctl()
        .args(["prune", &first, "--dry-run", "-o", "json"])
        .output()
        .expect("runs");
    let report = stdout_json(&out);
    let mut ids: Vec<_> = report["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["unique_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a1", "a2"]);
    assert_eq!(server.runs().len(), 3);

    // Without a terminal and without --yes, nothing happens.
    server
        .mwctl()
        .args(["prune", &first])
        .assert()
        .code(2)
        .stderr(contains("--yes"));
    assert_eq!(server.runs().len(), 3);

    server
        .mwctl()
        .args(["prune", &first, "--yes"])
        .assert()
        .code(0)
        .stderr(contains(
            "deleted 2 runs, restored 0 runs, left 0 runs changed since",
        ));
    let left: Vec<_> = server
        .runs()
        .into_iter()
        .map(|r| r.workflow_run_unique_id)
        .collect();
    assert_eq!(left, ["b1"]);

    // Idempotent.
    server
        .mwctl()
        .args(["prune", &first, "--yes"])
        .assert()
        .success()
        .stderr(contains("already pruned"));
    let event = server.get(&format!("/api/events/{first}"));
    assert_eq!(event["status"], "PRUNED");
    let other = server.get(&format!("/api/events/{second}"));
    assert_eq!(other["status"], "SUCCESS");
}

#[test]
fn events_list_and_show() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let id = send_file(&server, &["e1"]);
    server.wait_processed();

    let list = stdout_json(
        &server
            .mwctl()
            .args(["events", "list", "-o", "json"])
            .output()
            .expect("runs"),
    );
    assert_eq!((&list["total"], &list["next"]), (&json!(1), &json!(null)));
    let list = &list["events"];
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "SUCCESS");
    assert_eq!(list[0]["runs_created"], 1);

    let shown = stdout_json(
        &server
            .mwctl()
            .args(["events", "show", &id, "-o", "json"])
            .output()
            .expect("runs"),
    );
    assert!(
        shown["body"]
            .as_str()
            .expect("body kept")
            .contains("\"e1\"")
    );
    assert_eq!(shown["response"]["status"], "accepted");
    assert_eq!(shown["runs"][0]["unique_id"], "e1");
    assert_eq!(shown["runs"][0]["action"], "created");

    server
        .mwctl()
        .args(["events", "show", &id])
        .assert()
        .success()
        .stdout(contains("answer       accepted: 1 run accepted"))
        .stdout(contains("request body:"));

    server
        .mwctl()
        .args(["events", "list", "--status", "rejected"])
        .assert()
        .success()
        .stderr(contains("No events"));
    server
        .mwctl()
        .args(["events", "show", "evt_missing"])
        .assert()
        .failure();
}

/// Runs `mwctl ARGS` on a pseudo-terminal (util-linux `script`), typing `typed` once the
/// prompt is up; (exit code, what the terminal showed). None when `script` is missing.
fn on_a_terminal(server: &Server, args: &[&str], typed: &str) -> Option<(i32, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED the terminal part: no `script` (util-linux) on this machine");
        return None;
    }
    let command = std::iter::once(env!("CARGO_BIN_EXE_mwctl"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("MW_URL", &server.url)
        .env("MW_API_KEY", &server.admin_key)
        .env("MW_CONFIG", server.dir.path().join("pty-config.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // The answer waits until mwctl has asked (it reads the terminal after the preview).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    stdin.write_all(typed.as_bytes()).expect("types");
    drop(stdin);
    let out = child.wait_with_output().expect("script ends");
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    Some((out.status.code().unwrap_or(-1), shown))
}

#[test]
fn prune_asks_on_a_terminal() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let event = send_file(&server, &["t1", "t2"]);
    server.wait_processed();

    let Some((code, shown)) = on_a_terminal(&server, &["prune", &event], "n\n") else {
        return;
    };
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("will delete 2 runs"), "{shown}");
    assert!(
        shown.contains("t1") && shown.contains("t2"),
        "lists the runs: {shown}"
    );
    assert!(shown.contains("Prune it? [y/N]"), "{shown}");
    assert!(shown.contains("Nothing changed."), "{shown}");
    assert_eq!(server.runs().len(), 2);

    let (code, shown) = on_a_terminal(&server, &["prune", &event], "y\n").expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("deleted 2 runs"), "{shown}");
    assert!(server.runs().is_empty());

    // Already pruned: nothing to ask.
    let (code, shown) = on_a_terminal(&server, &["prune", &event], "").expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("already pruned"), "{shown}");
    assert!(!shown.contains("[y/N]"), "{shown}");
}

#[test]
fn events_page_newest_first() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let sent: Vec<String> = (0..5)
        .map(|i| send_file(&server, &[&format!("p{i}")]))
        .collect();
    server.wait_processed();

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut cmd = server.mwctl();
        cmd.args(["events", "list", "--limit", "2", "-o", "json"]);
        if let Some(before) = &before {
            cmd.args(["--before", before]);
        }
        let page = stdout_json(&cmd.output().expect("runs"));
        assert_eq!(page["total"], 5, "{page}");
        seen.extend(
            page["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // A full page says how many more exist and how to get them.
    server
        .mwctl()
        .args(["events", "list", "--limit", "2"])
        .assert()
        .code(0)
        .stderr(contains(format!(
            "Showing 2 of 5 events; --limit N or --all for more (next page: --before {})",
            sent[3]
        )));
}

#[test]
fn keys_list_shows_when_each_key_expires() {
    let server = Server::start();
    let (expiring, _) = server.create_key("quarterly", &["--expires", "90d"]);
    let out = server
        .mwctl()
        .args(["keys", "list"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let listed = String::from_utf8_lossy(&out.stdout);
    let row = |id: &str| -> Vec<String> {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} listed: {listed}"))
            .split('\t')
            .map(str::to_owned)
            .collect()
    };
    // ID NAME PREFIX SCOPES STATE EXPIRES LAST-USED CREATED
    let quarterly = row(&expiring);
    assert_eq!(quarterly.len(), 8, "{quarterly:?}");
    let expires = chrono::DateTime::parse_from_rfc3339(&quarterly[5])
        .unwrap_or_else(|e| panic!("EXPIRES is a time ({e}): {quarterly:?}"));
    let in_90_days = chrono::Utc::now() + chrono::TimeDelta::days(90);
    assert!(
        (expires.to_utc() - in_90_days).num_minutes().abs() < 5,
        "{quarterly:?}"
    );
    let keys = stdout_json(
        &server
            .mwctl()
            .args(["keys", "list", "-o", "json"])
            .output()
            .expect("runs"),
    );
    let admin_id = keys
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["name"] != "quarterly")
        .and_then(|k| k["id"].as_str())
        .expect("the admin key")
        .to_owned();
    assert_eq!(row(&admin_id)[5], "never");

    // A lifetime past any calendar is a usage error, not a crash.
    server
        .mwctl()
        .args([
            "keys",
            "create",
            "--name",
            "forever",
            "--expires",
            "100000000000d",
        ])
        .assert()
        .code(2)
        .stderr(contains("more than 100 years"));
}

#[test]
fn revoking_says_what_changed() {
    let server = Server::start();
    let (id, _) = server.create_key("old-ci", &[]);
    server
        .mwctl()
        .args(["keys", "revoke", &id])
        .assert()
        .code(0)
        .stderr(contains(format!("Revoked key {id} (old-ci)")).and(contains("refused from now on")))
        .stderr(contains("warning").not());
    let first = server.get("/api/keys");
    // Again: nothing happens, and mwctl does not claim otherwise.
    let out = server
        .mwctl()
        .args(["keys", "revoke", &id])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("Key {id} (old-ci) was already revoked"))
            && said.contains("nothing changed"),
        "{said}"
    );
    assert!(!said.contains("from now on"), "{said}");
    assert_eq!(
        server.get("/api/keys"),
        first,
        "the revocation time is kept"
    );
    let out = server
        .mwctl()
        .args(["keys", "revoke", &id, "-o", "json"])
        .output()
        .expect("runs");
    assert_eq!(stdout_json(&out)["id"], id.as_str());
}

#[test]
fn revoking_the_key_in_use_warns() {
    let server = Server::start();
    let (spare_id, spare) = server.create_key("spare-admin", &["--scope", "admin"]);
    // Logged in with the spare key (the config file), revoking the spare key itself.
    let home = tempfile::tempdir().expect("tempdir");
    common::mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url", &server.url])
        .write_stdin(format!("{spare}\n"))
        .assert()
        .code(0);
    let out = common::mwctl_isolated(home.path())
        .args(["keys", "revoke", &spare_id])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("Revoked key {spare_id}")), "{said}");
    assert!(
        said.contains(&format!("warning: {spare_id} is the key mwctl itself uses"))
            && said.contains("config profile \"default\"")
            && said.contains("mwctl login"),
        "{said}"
    );
    assert!(!said.contains(&spare), "the key is never printed: {said}");
    // It was: the next command with it is refused.
    common::mwctl_isolated(home.path())
        .args(["keys", "list"])
        .assert()
        .code(1)
        .stderr(contains("refused the API key"));
}

/// Issue 10: unlinking keeps the repo's runs and refuses new ones; linking it again brings it
/// back, and its runs are accepted again.
#[test]
fn unlink_keeps_the_runs_and_relinking_brings_the_repo_back() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    send_file(&server, &["u1", "u2"]);
    server.wait_processed();
    let id = server.get("/api/repos")[0]["id"].to_string();

    server
        .mwctl()
        .args(["repos", "unlink", &id, "--dry-run"])
        .assert()
        .code(0)
        .stderr(contains("would keep its 2 run(s)"));
    assert_eq!(server.get("/api/repos").as_array().map(Vec::len), Some(1));
    server
        .mwctl()
        .args(["repos", "unlink", &id])
        .assert()
        .code(0)
        .stderr(contains("Its 2 run(s) are kept"));
    assert_eq!(server.get("/api/repos"), json!([]));
    assert_eq!(server.runs().len(), 2, "the runs stay");

    // New runs for it are refused, as for a repo never linked.
    let body = |id: &str| {
        serde_json::to_vec(
            &json!({"workflow_runs": [run_json("https://github.com/acme/shop", id, "SUCCESS")]}),
        )
        .expect("json")
    };
    let (_, answer) = server.ingest(Some(&server.admin_key), body("u3"));
    assert_eq!(answer["status"], "rejected", "{answer}");
    assert_eq!(answer["exception_type"], "UnknownRepo", "{answer}");

    // Linked again: the same repo, with its runs, accepting runs.
    server
        .mwctl()
        .args(["repos", "link", "https://github.com/acme/shop"])
        .assert()
        .code(0)
        .stderr(contains("Linked"));
    assert_eq!(server.get("/api/repos")[0]["id"].to_string(), id);
    let (_, answer) = server.ingest(Some(&server.admin_key), body("u3"));
    assert_eq!(answer["status"], "accepted", "{answer}");
    server.wait_processed();
    assert_eq!(server.runs().len(), 3);
}

/// `repos unlink --delete-runs`: a dry run counts, off a terminal --yes is required, and the
/// events whose runs were deleted can be sent again.
#[test]
fn unlink_delete_runs_counts_asks_and_releases_the_events() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    let file = server.write(
        "shop.json",
        serde_json::to_vec(&[
            run_json("https://github.com/acme/shop", "d1", "SUCCESS"),
            run_json("https://github.com/acme/shop", "d2", "SUCCESS"),
        ])
        .expect("json"),
    );
    let event = send_path(&server, &file)["event_ids"][0]
        .as_str()
        .expect("event id")
        .to_owned();
    server.wait_processed();
    let id = server.get("/api/repos")[0]["id"].to_string();

    let out = server
        .mwctl()
        .args([
            "repos",
            "unlink",
            &id,
            "--delete-runs",
            "--dry-run",
            "-o",
            "json",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let dry = stdout_json(&out);
    assert_eq!(
        (
            &dry["runs_deleted"],
            &dry["workflows_deleted"],
            &dry["events_released"],
            &dry["dry_run"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(true)),
        "{dry}"
    );
    server
        .mwctl()
        .args(["repos", "unlink", &id, "--delete-runs", "--dry-run"])
        .assert()
        .code(0)
        .stderr(contains(
            "would delete 2 run(s) and 1 workflow(s), and mark 1 event(s) PRUNED",
        ));
    assert_eq!(server.runs().len(), 2, "a dry run deletes nothing");
    assert_eq!(server.get("/api/repos").as_array().map(Vec::len), Some(1));

    // Off a terminal, deleting needs --yes.
    server
        .mwctl()
        .args(["repos", "unlink", &id, "--delete-runs"])
        .assert()
        .code(2)
        .stderr(contains("pass --yes"));
    assert_eq!(server.runs().len(), 2);
    assert_eq!(server.get("/api/repos").as_array().map(Vec::len), Some(1));

    server
        .mwctl()
        .args(["repos", "unlink", &id, "--delete-runs", "--yes"])
        .assert()
        .code(0)
        .stderr(contains(
            "deleted 2 run(s) and 1 workflow(s); 1 event(s) marked PRUNED",
        ));
    assert!(server.runs().is_empty());
    assert_eq!(
        server.get(&format!("/api/events/{event}"))["status"],
        "PRUNED"
    );

    // Linked again, the same file is stored and processed again: the runs are back.
    server.link("https://github.com/acme/shop");
    let again = send_path(&server, &file);
    assert_eq!(
        (&again["duplicates"], &again["accepted"]),
        (&json!(0), &json!(2)),
        "{again}"
    );
    server.wait_processed();
    assert_eq!(server.runs().len(), 2);
}

#[test]
fn unlink_delete_runs_asks_on_a_terminal() {
    let server = Server::start();
    server.link("https://github.com/acme/shop");
    send_file(&server, &["q1"]);
    server.wait_processed();
    let id = server.get("/api/repos")[0]["id"].to_string();
    let Some((code, shown)) =
        on_a_terminal(&server, &["repos", "unlink", &id, "--delete-runs"], "n\n")
    else {
        return;
    };
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("would delete 1 run(s)"), "{shown}");
    assert!(shown.contains("Delete them? [y/N]"), "{shown}");
    assert_eq!(server.runs().len(), 1);
    assert_eq!(server.get("/api/repos").as_array().map(Vec::len), Some(1));
    let (code, shown) =
        on_a_terminal(&server, &["repos", "unlink", &id, "--delete-runs"], "y\n").expect("script");
    assert_eq!(code, 0, "{shown}");
    assert!(server.runs().is_empty());
}
