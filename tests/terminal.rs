//! Nothing a server or an input file says can drive the terminal of whoever reads mwctl's
//! output: escape sequences, control characters and bidirectional overrides in stored data,
//! relayed errors and request bodies are shown visibly escaped (`\u{1b}`), in tables, details,
//! notes and warnings; `-o json` carries the exact values.
//!
//! Against the real server, with what any key holder can store; and against a test double of a
//! hostile (or compromised) server that puts such text in every field mwctl prints.

mod common;

use std::process::Output;

use common::{Server, run_json, stdout_json};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

/// Every kind of character a terminal acts on: CSI (clear the screen), OSC 0 (retitle the
/// window) ended by BEL, an OSC 8 hyperlink ended by ST, C1 CSI / OSC / ST, DEL, a
/// right-to-left override and an isolate, and a CR, LF and tab that would forge lines and
/// table columns.
fn hostile(label: &str) -> String {
    format!(
        "{label}{}",
        concat!(
            "\u{1b}[2J",
            "\u{1b}]0;owned\u{7}",
            "\u{1b}]8;;https://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\",
            "\u{9b}31m\u{9d}0;c1\u{9c}\u{7f}",
            "\u{202e}txt.exe\u{2066}",
            "\r\nforged\tcell"
        )
    )
}

/// An actor whose name is a hyperlink to somewhere else.
const LINKED_ACTOR: &str = "\u{1b}]8;;https://evil.example/login\u{1b}\\alice\u{1b}]8;;\u{1b}\\";

/// What is shown of [`hostile`]'s first sequence: visible, not acted on.
const SHOWN: &str = "\\u{1b}[2J\\u{1b}]0;owned\\u{7}";

/// Characters that must never reach a terminal (a newline and a tab may: mwctl's own
/// multi-line notes and its tab-separated tables use them).
fn acted_on(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Both streams, checked: UTF-8, and nothing a terminal would act on.
fn inert(what: &str, out: &Output) -> (String, String) {
    let stdout = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8");
    for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if let Some(c) = text.chars().find(|&c| acted_on(c)) {
            panic!(
                "{what}: U+{:04X} reached {stream} raw: {text:?}",
                u32::from(c)
            );
        }
    }
    (stdout, stderr)
}

fn text_mode(mut cmd: assert_cmd::Command, args: &[&str]) -> Output {
    cmd.args(args).output().expect("runs")
}

#[test]
fn stored_text_from_any_key_holder_reaches_the_terminal_inert() {
    let server = Server::start();
    server.link(REPO);
    // A key with only the deployments scope: enough to store what admins later read.
    let key_name = hostile("ci");
    let out = text_mode(
        server.mwctl(),
        &[
            "keys",
            "create",
            "--name",
            &key_name,
            "--scope",
            "deployments",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let (stdout, stderr) = inert("keys create", &out);
    assert!(stderr.contains(&format!("(ci{SHOWN}")), "{stderr}");
    let key = stdout.trim().to_owned();
    assert!(key.starts_with("mwk_"), "{stdout}");

    let mut run = run_json(REPO, &hostile("id"), "SUCCESS");
    run["workflow_name"] = json!(hostile("deploy"));
    run["event_actor"] = json!(LINKED_ACTOR);
    run["head_branch"] = json!(hostile("main"));
    run["meta"] = json!({ "note": hostile("meta") });
    run["html_url"] = json!("https://ci.example.com/runs/1");
    let body = serde_json::to_vec(&json!({ "workflow_runs": [run] })).expect("json");
    let (_, answer) = server.ingest(Some(&key), body);
    assert_eq!(answer["status"], "accepted", "{answer}");
    let accepted = answer["event_id"].as_str().expect("event id").to_owned();
    // A body that is not even JSON (raw control characters) is rejected and kept as sent.
    let raw_body = format!("{{\"workflow_runs\": [\"{}\"]}}", hostile("raw"));
    let (_, answer) = server.ingest(Some(&key), raw_body.clone());
    assert_eq!(answer["status"], "rejected", "{answer}");
    let rejected = answer["event_id"].as_str().expect("event id").to_owned();
    server.wait_processed();

    // runs list: every text column, piped (tab-separated: one line, nine columns).
    let out = text_mode(server.mwctl(), &["runs", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = inert("runs list", &out);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(stdout.matches('\t').count(), 8, "{stdout}");
    for shown in [
        format!("deploy{SHOWN}"),
        format!("main{SHOWN}"),
        format!("id{SHOWN}"),
        "\\u{202e}txt.exe\\u{2066}\\r\\nforged\\tcell".to_owned(),
        "\\u{1b}]8;;https://evil.example/login\\u{1b}\\alice".to_owned(),
    ] {
        assert!(stdout.contains(&shown), "{shown} in {stdout}");
    }

    // ... and exact in JSON: serde_json escapes C0 controls, the rest comes through as is.
    let out = text_mode(server.mwctl(), &["runs", "list", "-o", "json"]);
    let page = stdout_json(&out);
    let runs = &page["runs"];
    assert_eq!(runs[0]["workflow"], hostile("deploy").as_str());
    assert_eq!(runs[0]["event_actor"], LINKED_ACTOR);
    assert_eq!(runs[0]["head_branch"], hostile("main").as_str());
    assert_eq!(runs[0]["workflow_run_unique_id"], hostile("id").as_str());
    assert_eq!(runs[0]["meta"]["note"], hostile("meta").as_str());
    let raw = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        raw.contains("\u{202e}txt.exe\u{2066}"),
        "JSON is not rewritten: {raw}"
    );

    // keys list: the key's name.
    let out = text_mode(server.mwctl(), &["keys", "list"]);
    let (stdout, _) = inert("keys list", &out);
    assert!(stdout.contains(&format!("ci{SHOWN}")), "{stdout}");
    assert_eq!(stdout.lines().count(), 2, "admin key and ci key: {stdout}");

    // events list and show, accepted and rejected: the stored body, the runs it wrote.
    let out = text_mode(server.mwctl(), &["events", "list"]);
    assert_eq!(out.status.code(), Some(0));
    inert("events list", &out);
    let out = text_mode(server.mwctl(), &["events", "show", &accepted]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = inert("events show (accepted)", &out);
    assert!(stdout.contains(&format!("deploy{SHOWN}")), "{stdout}");
    assert!(stdout.contains("request body:"), "{stdout}");
    let out = text_mode(server.mwctl(), &["events", "show", &rejected]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = inert("events show (rejected)", &out);
    assert!(stdout.contains(&format!("raw{SHOWN}")), "{stdout}");
    assert!(stdout.contains("status       REJECTED"), "{stdout}");
    let shown = stdout_json(&text_mode(
        server.mwctl(),
        &["events", "show", &rejected, "-o", "json"],
    ));
    assert_eq!(shown["body"], raw_body.as_str(), "the body, exactly");

    // prune's preview lists the runs.
    let out = text_mode(server.mwctl(), &["prune", &accepted, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = inert("prune --dry-run", &out);
    assert!(stdout.contains(&format!("deploy{SHOWN}")), "{stdout}");

    // Errors the server relays quote what they were given.
    for args in [["keys", "revoke"], ["repos", "unlink"], ["events", "show"]] {
        let id = hostile("no-such-id");
        let out = text_mode(server.mwctl(), &[args[0], args[1], &id]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let (_, stderr) = inert(&format!("{args:?} error"), &out);
        assert!(stderr.contains(&format!("no-such-id{SHOWN}")), "{stderr}");
    }

    // On a terminal: the aligned table, the same guarantee.
    let Some(shown) = on_a_terminal(&server, &["runs", "list"]) else {
        return;
    };
    if let Some(c) = shown.chars().find(|&c| acted_on(c)) {
        panic!("U+{:04X} reached the terminal: {shown:?}", u32::from(c));
    }
    assert!(
        shown.contains("WORKFLOW"),
        "aligned, with a header: {shown}"
    );
    assert!(shown.contains(&format!("deploy{SHOWN}")), "{shown}");
}

/// What `mwctl ARGS` shows on a pseudo-terminal (util-linux `script`), without the CRs the
/// terminal adds to each line end. None when `script` is missing.
fn on_a_terminal(server: &Server, args: &[&str]) -> Option<String> {
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
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("MW_URL", &server.url)
        .env("MW_API_KEY", &server.admin_key)
        .env("MW_CONFIG", server.dir.path().join("pty-config.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

/// A server that answers every admin call with hostile text in every string field.
mod hostile_server {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    pub struct Double {
        pub server: MockServer,
        _rt: tokio::runtime::Runtime,
    }

    const AT: &str = "2025-01-09T10:00:00Z";

    fn key() -> Value {
        json!({
            "id": hostile("key_id"), "name": hostile("name"), "prefix": hostile("prefix"),
            "scopes": ["deployments"], "created_at": AT, "expires_at": AT,
            "last_used_at": null, "revoked_at": null
        })
    }

    fn repo() -> Value {
        json!({
            "id": 1, "host": hostile("host"), "org": hostile("org"), "name": hostile("repo"),
            "url": hostile("url"), "created_at": AT
        })
    }

    fn unlinked() -> Value {
        let mut report = repo();
        for (k, v) in [
            ("dry_run", json!(false)),
            ("runs_kept", json!(3)),
            ("runs_deleted", json!(0)),
            ("workflows_deleted", json!(0)),
            ("events_released", json!(0)),
        ] {
            report[k] = v;
        }
        report
    }

    pub fn run() -> Value {
        json!({
            "id": 1, "repo": hostile("repo"), "workflow": hostile("workflow"),
            "workflow_run_unique_id": hostile("uid"), "event_actor": LINKED_ACTOR,
            "head_branch": hostile("branch"), "status": hostile("status"),
            "conducted_at": AT, "duration": 5, "html_url": hostile("html"),
            "commit_sha": hostile("sha"), "meta": {"k": hostile("meta")},
            "created_at": AT, "updated_at": AT
        })
    }

    fn event() -> Value {
        json!({
            "id": hostile("evt"), "key_id": hostile("key"), "request_type": hostile("type"),
            "webhook_id": hostile("webhook"), "received_at": AT, "status": "REJECTED",
            "error": hostile("error"), "attempts": 1, "processed_at": AT,
            "runs_received": 1, "runs_created": 0, "runs_updated": 0, "runs_unchanged": 0
        })
    }

    fn run_ref() -> Value {
        json!({
            "run_id": 1, "action": hostile("action"), "repo": hostile("repo"),
            "workflow": hostile("workflow"), "unique_id": hostile("uid"),
            "status": hostile("status")
        })
    }

    pub fn detail() -> Value {
        let mut detail = event();
        let extra = json!({
            "body": hostile("body"),
            "response": {
                "status": hostile("answer"), "exception_type": hostile("kind"),
                "message": hostile("message"), "resolution": hostile("resolution"),
                "errors": [{"index": hostile("index"), "field": hostile("field"),
                            "message": hostile("field-message")}]
            },
            "runs": [run_ref()]
        });
        for (k, v) in extra.as_object().expect("object") {
            detail[k] = v.clone();
        }
        detail
    }

    fn prune() -> Value {
        let mut run = run_ref();
        run["outcome"] = json!("deleted");
        json!({
            "event_id": hostile("evt"), "dry_run": false, "already_pruned": false,
            "runs": [run], "workflows_deleted": 1
        })
    }

    fn refusal() -> Value {
        json!({"error": hostile("error"), "resolution": hostile("resolution")})
    }

    pub fn start() -> Double {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(async {
            let server = MockServer::start().await;
            let mut created = key();
            created["key"] = json!(hostile("mwk_"));
            let routes = [
                ("GET", "/api/keys", 200, json!([key()])),
                ("POST", "/api/keys", 201, created),
                ("DELETE", "/api/keys/other", 200, key()),
                ("GET", "/api/repos", 200, json!([repo()])),
                ("POST", "/api/repos", 200, repo()),
                ("DELETE", "/api/repos/1", 200, unlinked()),
                (
                    "GET",
                    "/api/runs",
                    200,
                    json!({"runs": [run()], "total": 1, "next": null}),
                ),
                (
                    "GET",
                    "/api/events",
                    200,
                    json!({"events": [event()], "total": 1, "next": null}),
                ),
                ("GET", "/api/events/evt_1", 200, detail()),
                ("POST", "/api/events/evt_1/prune", 200, prune()),
                ("GET", "/api/events/evt_missing", 404, refusal()),
                ("DELETE", "/api/repos/2", 409, refusal()),
            ];
            for (verb, route, status, body) in routes {
                Mock::given(method(verb))
                    .and(path(route))
                    .respond_with(ResponseTemplate::new(status).set_body_json(body))
                    .mount(&server)
                    .await;
            }
            server
        });
        Double { server, _rt: rt }
    }
}

#[test]
fn every_field_a_hostile_server_sends_is_shown_inert() {
    let double = hostile_server::start();
    let home = tempfile::tempdir().expect("tempdir");
    let mwctl = || {
        let mut cmd = common::mwctl_isolated(home.path());
        cmd.env("MW_URL", double.server.uri())
            .env("MW_API_KEY", "mwk_admin_key_for_the_double");
        cmd
    };
    let cases: &[(&[&str], i32, &[&str])] = &[
        // (command, exit code, labels whose escaped form must show)
        (&["keys", "list"], 0, &["key_id", "name", "prefix"]),
        (
            &["keys", "create", "--name", "x"],
            0,
            &["mwk_", "key_id", "name"],
        ),
        (&["keys", "revoke", "other"], 0, &["key_id", "name"]),
        (&["repos", "list"], 0, &["org", "repo", "url"]),
        (&["repos", "link", REPO], 0, &["host", "org", "repo"]),
        (&["repos", "unlink", "1"], 0, &["host", "org", "repo"]),
        (&["repos", "unlink", "2"], 1, &["error", "resolution"]),
        (
            &["runs", "list"],
            0,
            &["repo", "workflow", "uid", "branch", "status"],
        ),
        (&["events", "list"], 0, &["evt", "error"]),
        (
            &["events", "show", "evt_1"],
            0,
            &[
                "evt",
                "key",
                "type",
                "webhook",
                "error",
                "answer",
                "kind",
                "resolution",
                "field",
                "field-message",
                "action",
                "repo",
                "workflow",
                "uid",
                "status",
                "body",
            ],
        ),
        (
            &["events", "show", "evt_missing"],
            1,
            &["error", "resolution"],
        ),
        (
            &["prune", "evt_1", "--dry-run"],
            0,
            &["evt", "workflow", "uid"],
        ),
        (&["prune", "evt_1", "--yes"], 0, &["evt"]),
    ];
    for (args, code, labels) in cases {
        let out = mwctl().args(*args).output().expect("runs");
        let (stdout, stderr) = inert(&args.join(" "), &out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        let both = format!("{stdout}{stderr}");
        for label in *labels {
            assert!(
                both.contains(&format!("{label}{SHOWN}")),
                "{args:?} shows {label}: {both}"
            );
        }
    }
    // The actor's hyperlink is shown, not followed.
    let out = mwctl().args(["runs", "list"]).output().expect("runs");
    let (stdout, _) = inert("runs list", &out);
    assert!(stdout.contains("\\u{1b}]8;;https://evil.example/login\\u{1b}\\alice"));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(stdout.matches('\t').count(), 8, "{stdout}");

    // JSON: exactly what the server sent.
    let out = mwctl()
        .args(["runs", "list", "-o", "json"])
        .output()
        .expect("runs");
    assert_eq!(
        stdout_json(&out),
        json!({"runs": [hostile_server::run()], "total": 1, "next": null})
    );
    let out = mwctl()
        .args(["events", "show", "evt_1", "-o", "json"])
        .output()
        .expect("runs");
    assert_eq!(stdout_json(&out), hostile_server::detail());
    let raw = String::from_utf8(out.stdout).expect("utf-8");
    assert!(raw.contains('\u{202e}') && raw.contains('\u{9b}'), "{raw}");
}
