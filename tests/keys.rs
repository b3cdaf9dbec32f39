//! API keys against the real server: scopes on every route, expiry, revocation on the very next
//! request, last use, and rotation without downtime.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, run_json};
use predicates::str::contains;
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

/// Every admin API route, with a body where it takes one. Keep in step with
/// examples/server/routes (a route missing here is a route whose scope is not tested).
fn admin_routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/keys", None),
        (
            "POST",
            "/api/keys",
            Some(json!({"name": "sneaky", "scopes": ["admin"]})),
        ),
        ("DELETE", "/api/keys/key_x", None),
        ("GET", "/api/events", None),
        ("GET", "/api/events/evt_x", None),
        ("POST", "/api/events/evt_x/prune", None),
        ("POST", "/api/events/evt_x/prune?dry_run=true", None),
        ("GET", "/api/repos", None),
        ("POST", "/api/repos", Some(json!({"url": REPO}))),
        ("DELETE", "/api/repos/1", None),
        ("GET", "/api/runs", None),
    ]
}

fn call(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = server
        .http()
        .request(method, format!("{}{path}", server.url));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().expect("answers");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn ingest_one(server: &Server, key: &str, id: &str) -> Value {
    let body = serde_json::to_vec(&json!({"workflow_runs": [run_json(REPO, id, "SUCCESS")]}))
        .expect("json");
    let (status, answer) = server.ingest(Some(key), body);
    assert_eq!(status, 200);
    answer
}

fn key_listing(server: &Server, id: &str) -> Value {
    server
        .get("/api/keys")
        .as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .expect("listed")
}

#[test]
fn scopes_are_enforced_on_every_route() {
    let server = Server::start();
    server.link(REPO);
    let (_, deployments) = server.create_key("ci", &["--scope", "deployments"]);
    let (_, incidents) = server.create_key("pager", &["--scope", "incidents"]);
    let (_, admin_only) = server.create_key("ops", &["--scope", "admin"]);
    let keys_before = server.get("/api/keys").as_array().map(Vec::len);

    for (method, path, body) in admin_routes() {
        for (who, key, want) in [
            ("no key", None, 401),
            ("unknown key", Some("mwk_unknown"), 401),
            ("deployments key", Some(deployments.as_str()), 403),
            ("incidents key", Some(incidents.as_str()), 403),
        ] {
            let (status, error) = call(&server, method, path, key, body.as_ref());
            assert_eq!(status, want, "{who}: {method} {path}: {error}");
            assert!(
                error["error"].is_string() && error["resolution"].is_string(),
                "{who}: {method} {path}: {error}"
            );
        }
        // The admin-only key gets past authorisation (then 200, 201, 404, 409 ...).
        let (status, error) = call(&server, method, path, Some(&admin_only), body.as_ref());
        assert!(
            status != 401 && status != 403,
            "admin key: {method} {path}: {status} {error}"
        );
    }
    assert_eq!(
        server.get("/api/keys").as_array().map(Vec::len),
        keys_before.map(|n| n + 1),
        "only the admin key could create a key"
    );

    // Ingest needs the deployments scope. (The admin key's DELETE /api/repos/1 unlinked it.)
    server.link(REPO);
    assert_eq!(
        ingest_one(&server, &deployments, "d1")["status"],
        "accepted"
    );
    for key in [&incidents, &admin_only] {
        let answer = ingest_one(&server, key, "forbidden");
        assert_eq!(answer["status"], "rejected", "{answer}");
        assert_eq!(answer["exception_type"], "Forbidden", "{answer}");
        assert!(
            answer["resolution"]
                .as_str()
                .is_some_and(|r| r.contains("deployments"))
        );
    }

    // The page and the health check need no key; they hold no data.
    for path in ["/", "/admin.js", "/admin.css", "/healthz"] {
        assert_eq!(call(&server, "GET", path, None, None).0, 200, "{path}");
    }

    // mwctl says what is wrong and how to fix it.
    for args in [
        &["events", "list"][..],
        &["keys", "create", "--name", "x"],
        &["repos", "list"],
        &["prune", "evt_x", "--yes"],
    ] {
        server
            .mwctl()
            .env("MW_API_KEY", &deployments)
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("may not do this"))
            .stderr(contains("admin scope"));
    }
}

#[test]
fn expired_keys_are_refused_and_use_is_recorded() {
    let server = Server::start();
    server.link(REPO);
    let (id, key) = server.create_key(
        "short-lived",
        &[
            "--scope",
            "deployments",
            "--scope",
            "admin",
            "--expires",
            "3s",
        ],
    );
    assert!(key_listing(&server, &id)["last_used_at"].is_null());
    let expires_at = key_listing(&server, &id)["expires_at"]
        .as_str()
        .expect("an expiry")
        .to_owned();

    assert_eq!(ingest_one(&server, &key, "e1")["status"], "accepted");
    assert_eq!(call(&server, "GET", "/api/repos", Some(&key), None).0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while key_listing(&server, &id)["last_used_at"].is_null() {
        assert!(Instant::now() < deadline, "last_used_at was never set");
        std::thread::sleep(Duration::from_millis(50));
    }

    let expiry = chrono::DateTime::parse_from_rfc3339(&expires_at).expect("rfc3339");
    let wait = (expiry.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    std::thread::sleep(wait + Duration::from_millis(200));

    let answer = ingest_one(&server, &key, "e2");
    assert_eq!(answer["exception_type"], "Unauthorized", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("expired")),
        "{answer}"
    );
    let (status, error) = call(&server, "GET", "/api/repos", Some(&key), None);
    assert_eq!(status, 401);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("expired"))
    );
    server
        .mwctl()
        .args(["keys", "list"])
        .assert()
        .success()
        .stdout(contains("expired"));
}

#[test]
fn revocation_takes_effect_on_the_very_next_request() {
    let server = Server::start();
    server.link(REPO);
    let (id, key) = server.create_key("doomed", &["--scope", "deployments"]);
    // A client sends as fast as it can; each request notes when it started and its outcome.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let client = {
        let (stop, log, url, key) = (
            Arc::clone(&stop),
            Arc::clone(&log),
            server.url.clone(),
            key.clone(),
        );
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = json!({"workflow_runs": [run_json(REPO, &format!("r{i}"), "SUCCESS")]});
                let started = Instant::now();
                let answer: Value = http
                    .post(format!("{url}/public/webhook/workflow"))
                    .header("x-api-key", &key)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .and_then(|r| r.json())
                    .expect("answers");
                let outcome = answer["exception_type"]
                    .as_str()
                    .unwrap_or("accepted")
                    .to_owned();
                log.lock().expect("lock").push((started, outcome));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    server
        .mwctl()
        .args(["keys", "revoke", &id])
        .assert()
        .success();
    let revoked = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client");

    let log = log.lock().expect("lock");
    let before = log.iter().filter(|(at, _)| *at < revoked).count();
    let after: Vec<_> = log.iter().filter(|(at, _)| *at >= revoked).collect();
    assert!(
        before > 0 && !after.is_empty(),
        "{before} before, {} after",
        after.len()
    );
    assert!(
        after.iter().all(|(_, outcome)| outcome == "Unauthorized"),
        "a request after the revocation was let in: {after:?}"
    );
}

#[test]
fn keys_rotate_without_downtime() {
    let server = Server::start();
    server.link(REPO);
    let (old_id, old_key) = server.create_key("ci-2025", &["--scope", "deployments"]);
    // Four pipelines send with whatever key is current; none may ever be refused.
    let current = Arc::new(Mutex::new(old_key.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    // Requests completed, per pipeline.
    let sent: Arc<Vec<AtomicUsize>> = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
    let refused: Arc<Mutex<Vec<Value>>> = Arc::default();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (current, stop, sent, refused, url) = (
                Arc::clone(&current),
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(&refused),
                server.url.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = current.lock().expect("lock").clone();
                    let body =
                        json!({"workflow_runs": [run_json(REPO, &format!("c{c}-{i}"), "SUCCESS")]});
                    let answer: Value = http
                        .post(format!("{url}/public/webhook/workflow"))
                        .header("x-api-key", &key)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .and_then(|r| r.json())
                        .expect("answers");
                    sent[c].fetch_add(1, Ordering::Relaxed);
                    if answer["status"] != "accepted" {
                        refused.lock().expect("lock").push(answer);
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    // 1. Create the new key while the old one is in use.
    let (new_id, new_key) = server.create_key("ci-2026", &["--scope", "deployments"]);
    std::thread::sleep(Duration::from_millis(200));
    // 2. Switch the pipelines (in real life: update the CI secret).
    *current.lock().expect("lock") = new_key.clone();
    let switched_at: Vec<usize> = sent.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    // Each pipeline finishes the request it may have begun with the old key, and sends one
    // with the new key, before the old key is revoked.
    while sent
        .iter()
        .zip(&switched_at)
        .any(|(n, at)| n.load(Ordering::Relaxed) < at + 2)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    // 3. Revoke the old key.
    server
        .mwctl()
        .args(["keys", "revoke", &old_id])
        .assert()
        .success();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client");
    }

    let refused = refused.lock().expect("lock");
    assert!(
        refused.is_empty(),
        "requests refused during rotation: {refused:?}"
    );
    assert!(
        sent.iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum::<usize>()
            > 20
    );
    assert_eq!(
        ingest_one(&server, &old_key, "late")["exception_type"],
        "Unauthorized"
    );
    assert_eq!(ingest_one(&server, &new_key, "fresh")["status"], "accepted");
    server.wait_processed();
    let events = server.events();
    assert!(events.iter().any(|e| e.key_id == old_id) && events.iter().any(|e| e.key_id == new_id));
}

/// Issue 10: an admin key that expires (in 4 s, or in 90 days) does not count as the one that
/// keeps the admin API open, so the last admin key without an expiry cannot be revoked.
#[test]
fn expiring_admin_keys_do_not_count_as_the_last_admin_key() {
    let server = Server::start();
    let first_id = server
        .mwctl()
        .args(["keys", "list", "-o", "json"])
        .output()
        .expect("runs");
    let first_id = serde_json::from_slice::<Value>(&first_id.stdout).expect("json")[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, soon) = server.create_key("soon", &["--scope", "admin", "--expires", "4s"]);
    let (late_id, _) = server.create_key("late", &["--scope", "admin", "--expires", "90d"]);
    for key in [&server.admin_key, &soon] {
        server
            .mwctl()
            .env("MW_API_KEY", key)
            .args(["keys", "revoke", &first_id])
            .assert()
            .code(1)
            .stderr(contains("last usable admin key without an expiry"));
    }
    // The expiring ones may go.
    server
        .mwctl()
        .args(["keys", "revoke", &late_id])
        .assert()
        .code(0);
    // Another admin key without an expiry: now the first may go.
    let (_, lasting) = server.create_key("lasting", &["--scope", "admin"]);
    server
        .mwctl()
        .env("MW_API_KEY", &lasting)
        .args(["keys", "revoke", &first_id])
        .assert()
        .code(0);
}

/// Every admin key revoked or expired (a database from before the guard above): start-up names
/// the recovery command, which mints a new admin key into DIR/admin.key (never printed), with
/// the server running, and the key works, also after a restart.
#[test]
fn a_locked_out_server_is_recovered_with_admin_key() {
    let mut server = Server::start();
    let old_key = server.admin_key.clone();
    server.kill9();
    let db = rusqlite::Connection::open(server.dir.path().join("mwctl.db")).expect("opens");
    db.execute(
        "UPDATE api_keys SET revoked_at = '2025-01-01T00:00:00.000Z'",
        [],
    )
    .expect("revokes every key");
    drop(db);
    server.restart_with(&[]);
    let log = server.log();
    assert!(
        log.contains("no usable admin key")
            && log.contains(&format!(
                "mwctl-server admin-key --data-dir {}",
                server.dir.path().display()
            )),
        "{log}"
    );
    server
        .mwctl()
        .args(["keys", "list"])
        .assert()
        .code(1)
        .stderr(contains("revoked"));

    // Recovery, while the server runs.
    let out = std::process::Command::new(common::server_bin())
        .args(["admin-key", "--data-dir"])
        .arg(server.dir.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_file = server.dir.path().join("admin.key");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&key_file.display().to_string()), "{said}");
    let new_key = std::fs::read_to_string(&key_file).expect("written");
    assert!(new_key.starts_with("mwk_") && new_key != old_key);
    assert!(!said.contains(&new_key), "the key is never printed: {said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    server.admin_key = new_key;
    server
        .mwctl()
        .args(["keys", "list"])
        .assert()
        .code(0)
        .stdout(contains("admin (recovered)"));
    server.restart_with(&[]);
    server.mwctl().args(["keys", "list"]).assert().code(0);
    assert!(
        !server.log().contains(&server.admin_key),
        "no key in the log"
    );
}
