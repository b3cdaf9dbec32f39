//! Backfill at scale: every input format, invalid runs both ways, retries, duplicates,
//! interruptions and resuming, hostile inputs. The real mwctl against the real server; a
//! mock server only for faults the real one cannot produce (503, 429).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Server, checkpoints, mwctl_isolated, run_json, stdout_json};
use mwctl::protocol::admin::{EventStatus, StoredRun};
use predicates::str::contains;
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/shop";

fn runs(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| run_json(REPO, &format!("{prefix}{i}"), "SUCCESS"))
        .collect()
}

fn by_id(server: &Server) -> HashMap<String, StoredRun> {
    server
        .runs()
        .into_iter()
        .map(|r| (r.workflow_run_unique_id.clone(), r))
        .collect()
}

/// `mwctl send` with `-o json`; the exit code and the summary.
fn send(server: &Server, file: &Path, args: &[&str]) -> (i32, Value) {
    let out = server
        .mwctl()
        .args(["send", "-o", "json"])
        .arg(file)
        .args(args)
        .output()
        .expect("runs");
    let code = out.status.code().unwrap_or(-1);
    (code, stdout_json(&out))
}

#[test]
fn every_runs_format_is_read_and_stored() {
    let server = Server::start();
    server.link(REPO);
    let array = server.write(
        "array.json",
        serde_json::to_vec(&runs("a", 3)).expect("json"),
    );
    let wrapped = server.write(
        "wrapped.json",
        serde_json::to_vec(&json!({
            "exported_at": "2025-01-10", "meta": {"nested": [1, {"x": null}]},
            "workflow_runs": runs("w", 3), "total": 3
        }))
        .expect("json"),
    );
    let ndjson: String = runs("n", 3).iter().map(|r| format!("{r}\n\n")).collect();
    let lines = server.write("runs.ndjson", &ndjson);
    for (file, format) in [(&array, "json"), (&wrapped, "json"), (&lines, "ndjson")] {
        let (code, summary) = send(&server, file, &[]);
        assert_eq!(code, 0, "{}: {summary}", file.display());
        assert_eq!(summary["format"], format);
        assert_eq!(summary["accepted"], 3);
    }
    // stdin, and the format forced.
    let ndjson_stdin: String = runs("s", 2).iter().map(|r| format!("{r}\n")).collect();
    server
        .mwctl()
        .args(["send", "-", "--format", "ndjson"])
        .write_stdin(ndjson_stdin)
        .assert()
        .success();

    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(stored.len(), 11);
    let n1 = &stored["n1"];
    assert_eq!(n1.repo, "acme/shop");
    assert_eq!(n1.workflow, "deploy");
    assert_eq!(n1.status, "SUCCESS");
    assert_eq!(n1.duration, Some(42));
    assert_eq!(n1.commit_sha.as_deref(), Some("abcdef1234567"));
    assert!(stored.contains_key("w2") && stored.contains_key("s1"));
}

/// A workflow run as the GitHub API lists it (most fields the mapping ignores kept).
fn github_run(id: u64, status: &str, conclusion: Value, repo: &str) -> Value {
    json!({
        "id": id,
        "name": "Deploy production",
        "node_id": "WFR_kwLOABC",
        "head_branch": "main",
        "head_sha": format!("{id:040x}"),
        "path": ".github/workflows/deploy.yml",
        "display_title": "Bump version",
        "run_number": id % 1000,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 161335,
        "url": format!("https://api.github.com/repos/acme/shop/actions/runs/{id}"),
        "html_url": format!("https://github.com/acme/shop/actions/runs/{id}"),
        "pull_requests": [],
        "created_at": "2025-01-08T09:59:00Z",
        "updated_at": "2025-01-08T10:02:30Z",
        "actor": {"login": "octocat", "id": 1, "type": "User", "site_admin": false},
        "run_attempt": 1,
        "run_started_at": "2025-01-08T10:00:00Z",
        "triggering_actor": {"login": "octocat", "id": 1},
        "head_commit": {"id": "x", "message": "Bump version\n\nLong text", "author": {"name": "Mona"}},
        "repository": {"id": 1296269, "name": "shop", "full_name": "acme/shop", "private": false, "html_url": repo},
        "head_repository": {"id": 1296269, "full_name": "acme/shop", "html_url": repo}
    })
}

#[test]
fn a_paginated_github_export_is_mapped_like_middleware_does() {
    let server = Server::start();
    server.link(REPO);
    // What `gh api repos/acme/shop/actions/runs --paginate` prints: pages, one after another.
    let page1 = json!({"total_count": 4, "workflow_runs": [
        github_run(9001, "completed", json!("success"), REPO),
        github_run(9002, "completed", json!("failure"), REPO),
    ]});
    let page2 = json!({"total_count": 4, "workflow_runs": [
        github_run(9003, "completed", json!("cancelled"), REPO),
        github_run(9004, "in_progress", Value::Null, REPO),
    ]});
    let file = server.write("gh-runs.json", format!("{page1}\n{page2}\n"));
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["format"], "github");
    assert_eq!(summary["read"], 4);
    assert_eq!(summary["accepted"], 4);

    server.wait_processed();
    let stored = by_id(&server);
    let done = &stored["9001"];
    assert_eq!(done.workflow, "Deploy production");
    assert_eq!(done.repo, "acme/shop");
    assert_eq!(done.event_actor, "octocat");
    assert_eq!(done.head_branch, "main");
    assert_eq!(done.status, "SUCCESS");
    assert_eq!(done.conducted_at.to_rfc3339(), "2025-01-08T10:00:00+00:00");
    assert_eq!(done.duration, Some(150), "updated_at - run_started_at");
    assert_eq!(
        done.html_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/9001")
    );
    assert_eq!(done.commit_sha.as_deref(), Some(&*format!("{:040x}", 9001)));
    assert_eq!(stored["9002"].status, "FAILURE");
    assert_eq!(stored["9003"].status, "CANCELLED");
    assert_eq!(stored["9004"].status, "PENDING");
    assert_eq!(stored["9004"].duration, None);
}

#[test]
fn a_gitlab_export_is_mapped_with_the_workflow_name_given() {
    let server = Server::start();
    let project = "https://gitlab.example.com/acme/platform/api";
    server.link(project);
    let pipeline = |id: u64, status: &str| {
        json!({
            "id": id, "iid": id - 100, "project_id": 42, "status": status, "source": "push",
            "ref": "main", "sha": format!("{id:040x}"),
            "web_url": format!("{project}/-/pipelines/{id}"),
            "created_at": "2025-01-07T08:00:00.000Z", "updated_at": "2025-01-07T08:06:00.000Z",
            "started_at": "2025-01-07T08:00:30.000Z", "finished_at": "2025-01-07T08:05:30.000Z",
            "duration": 300, "queued_duration": 30,
            "user": {"id": 7, "username": "dana", "name": "Dana", "state": "active"}
        })
    };
    let export = json!([
        pipeline(501, "success"),
        pipeline(502, "failed"),
        pipeline(503, "canceled"),
        pipeline(504, "running"),
    ]);
    let file = server.write("pipelines.json", export.to_string());

    // Without a workflow name, every pipeline is refused, saying how to fix it.
    server
        .mwctl()
        .arg("send")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("record 0: workflow_name"))
        .stderr(contains("--workflow-name"));

    let (code, summary) = send(&server, &file, &["--workflow-name", "deploy-api"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["format"], "gitlab");
    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(stored.len(), 4);
    let ok = &stored["501"];
    assert_eq!(ok.workflow, "deploy-api");
    assert_eq!(ok.repo, "acme/platform/api");
    assert_eq!(ok.event_actor, "dana");
    assert_eq!(ok.head_branch, "main");
    assert_eq!(ok.status, "SUCCESS");
    assert_eq!(ok.duration, Some(300));
    assert_eq!(ok.conducted_at.to_rfc3339(), "2025-01-07T08:00:30+00:00");
    assert_eq!(
        ok.html_url.as_deref(),
        Some("https://gitlab.example.com/acme/platform/api/-/pipelines/501")
    );
    assert_eq!(stored["502"].status, "FAILURE");
    assert_eq!(stored["503"].status, "CANCELLED");
    assert_eq!(stored["504"].status, "PENDING");
}

#[test]
fn an_invalid_run_stops_the_send_before_its_batch_and_resume_continues() {
    let server = Server::start();
    server.link(REPO);
    let mut all = runs("v", 6);
    all[3]["status"] = json!("finished");
    let file = server.write("runs.json", serde_json::to_vec(&all).expect("json"));
    let out = server
        .mwctl()
        .args(["send", "--batch-size", "2", "--concurrency", "1"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("record 3: status"), "{stderr}");
    assert!(
        stderr.contains("record 3 is invalid; stopped before sending its batch (records 2-3)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--resume") && stderr.contains("--skip-invalid"),
        "{stderr}"
    );
    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["v0".to_owned(), "v1".to_owned()]),
        "only the batch before the invalid run"
    );

    // Fixed, the file changed: everything is sent again and the first batch is recognised.
    all[3]["status"] = json!("SUCCESS");
    std::fs::write(&file, serde_json::to_vec(&all).expect("json")).expect("writes");
    let out = server
        .mwctl()
        .args(["send", "-o", "json", "--batch-size", "2", "--resume"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let summary = stdout_json(&out);
    assert_eq!(summary["accepted"], 6);
    assert_eq!(summary["duplicates"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not resuming: the file changed"));
    server.wait_processed();
    assert_eq!(server.runs().len(), 6);
}

#[test]
fn skip_invalid_sets_runs_aside_in_the_rejects_file_and_sends_the_rest() {
    let server = Server::start();
    server.link(REPO);
    let mut all = runs("k", 5);
    all[1]["duration"] = json!(-3);
    all[4] = all[0].clone(); // a repeated id
    // A repo the server does not know: its run is refused by the server, the others of the
    // batch are sent again without it.
    all.push(run_json(
        "https://github.com/acme/unlinked",
        "k9",
        "SUCCESS",
    ));
    all.push(json!("not a run"));
    let file = server.write("runs.json", serde_json::to_vec(&all).expect("json"));
    let rejects = server.dir.path().join("rejects.ndjson");
    let (code, summary) = send(
        &server,
        &file,
        &[
            "--skip-invalid",
            "--rejects",
            rejects.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 1, "a valid run was not accepted: {summary}");
    assert_eq!(summary["read"], 7);
    assert_eq!(summary["invalid"], 3);
    assert_eq!(summary["rejected"], 1);
    assert_eq!(summary["accepted"], 3);

    let lines: Vec<Value> = std::fs::read_to_string(&rejects)
        .expect("rejects written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let by_record: HashMap<u64, &Value> = lines
        .iter()
        .map(|l| (l["record"].as_u64().expect("record"), l))
        .collect();
    assert_eq!(
        by_record.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 4, 5, 6])
    );
    assert_eq!(by_record[&1]["errors"][0]["field"], "duration");
    assert_eq!(by_record[&1]["input"]["workflow_run_unique_id"], "k1");
    assert_eq!(by_record[&1]["rejected_by"], "validation");
    assert!(
        by_record[&4]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already used")),
        "{}",
        by_record[&4]
    );
    assert_eq!(by_record[&5]["rejected_by"], "server");
    assert!(by_record[&5]["event_id"].is_string());
    assert_eq!(by_record[&6]["input"], "not a run");

    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["k0".to_owned(), "k2".to_owned(), "k3".to_owned()])
    );
}

#[test]
fn resending_stores_nothing_twice() {
    let server = Server::start();
    server.link(REPO);
    let file = server.write(
        "runs.json",
        serde_json::to_vec(&runs("d", 45)).expect("json"),
    );
    let args = ["--batch-size", "10", "--concurrency", "3"];
    let (code, first) = send(&server, &file, &args);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["batches"], 5);
    assert_eq!(first["duplicates"], 0);
    let (code, again) = send(&server, &file, &args);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["accepted"], 45);
    assert_eq!(again["duplicates"], 45);
    // A copy elsewhere has the same batches: recognised too.
    let copy = server.write("copy.json", std::fs::read(&file).expect("reads"));
    assert_eq!(send(&server, &copy, &args).1["duplicates"], 45);
    server.wait_processed();
    assert_eq!(server.all_events().len(), 5, "one event per batch");
    assert_eq!(server.runs().len(), 45);
}

#[test]
fn dry_run_and_compression() {
    let server = Server::start();
    server.link(REPO);
    let file = server.write(
        "runs.json",
        serde_json::to_vec(&runs("z", 12)).expect("json"),
    );
    let (code, summary) = send(&server, &file, &["--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(summary["valid"], 12);
    assert_eq!(summary["dry_run"], true);
    assert!(server.events().is_empty(), "a dry run sends nothing");

    let (code, summary) = send(&server, &file, &["--compress", "--batch-size", "5"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["accepted"], 12);
    server.wait_processed();
    assert_eq!(server.runs().len(), 12);
    // Piped stderr gets no progress bar. Uncompressed, the same batches have the same ids.
    let out = server
        .mwctl()
        .args(["send", "--batch-size", "5"])
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ETA") && !stderr.contains('\r'),
        "{stderr}"
    );
    assert!(
        stderr.contains("accepted 12 (12 already stored)"),
        "{stderr}"
    );
}

/// Sends `file` in the background until a checkpoint shows progress, then kills mwctl -9.
fn kill_mwctl_mid_send(server: &Server, file: &Path, args: &[&str]) {
    let mut child = server
        .mwctl_process()
        .arg("send")
        .arg(file)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(server.dir.path()).is_empty() {
        assert!(
            child.try_wait().expect("waits").is_none(),
            "mwctl finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint written");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.try_wait().expect("waits").is_none(), "still sending");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

/// Each batch stored by exactly one event, each run created exactly once.
fn assert_stored_once(server: &Server, runs: u64, batches: usize) {
    server.wait_processed();
    let events = server.all_events();
    let stored: Vec<_> = events
        .iter()
        .filter(|e| e.status == EventStatus::Success)
        .collect();
    assert_eq!(stored.len(), batches, "one accepted event per batch");
    assert_eq!(stored.iter().map(|e| e.runs_created).sum::<u64>(), runs);
    assert_eq!(stored.iter().map(|e| e.runs_updated).sum::<u64>(), 0);
    let webhook_ids: BTreeSet<_> = stored.iter().map(|e| e.webhook_id.clone()).collect();
    assert_eq!(webhook_ids.len(), batches);
}

#[test]
fn kill_9_mid_send_then_resume_stores_each_run_once() {
    let server = Server::start();
    server.link(REPO);
    let n = 4000;
    let file = server.write("big.json", serde_json::to_vec(&runs("r", n)).expect("json"));
    let args = ["--batch-size", "4", "--concurrency", "1"];
    kill_mwctl_mid_send(&server, &file, &args);

    // Other batches than the checkpoint's: refused, naming the options that resume it.
    server
        .mwctl()
        .args(["send", "--resume"])
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains(
            "checkpoint was written with --format json --batch-size 4; pass the same options",
        ));
    assert!(!checkpoints(server.dir.path()).is_empty(), "kept");

    let (code, summary) = send(&server, &file, &[&args[..], &["--resume"]].concat());
    assert_eq!(code, 0, "{summary}");
    let resumed = summary["resumed"].as_u64().expect("resumed");
    assert!(resumed > 0, "the checkpoint was used: {summary}");
    assert_eq!(
        summary["accepted"].as_u64().expect("accepted") + resumed,
        n as u64
    );
    assert!(
        checkpoints(server.dir.path()).is_empty(),
        "removed once complete"
    );
    assert_stored_once(&server, n as u64, n / 4);
}

#[test]
fn a_server_killed_mid_send_and_restarted_loses_and_doubles_nothing() {
    let mut server = Server::start();
    server.link(REPO);
    let n = 4000;
    let file = server.write("big.json", serde_json::to_vec(&runs("x", n)).expect("json"));
    let child = server
        .mwctl_process()
        .args([
            "send",
            "-o",
            "json",
            "--batch-size",
            "4",
            "--concurrency",
            "2",
        ])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(server.dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill9();
    std::thread::sleep(Duration::from_millis(300));
    server.restart_with(&[]);
    let out = child.wait_with_output().expect("finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying"), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["accepted"], n);
    assert!(summary["retries"].as_u64() > Some(0));
    assert_stored_once(&server, n as u64, n / 4);
}

#[tokio::test]
async fn retries_after_503_and_after_429_with_retry_after() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let accepted =
        json!({"status": "accepted", "event_id": "evt_1", "accepted": 1, "message": "ok"});
    for (status, retry_after) in [(503, None), (429, Some("1"))] {
        let mock = MockServer::start().await;
        let mut fault = ResponseTemplate::new(status);
        if let Some(secs) = retry_after {
            fault = fault.insert_header("retry-after", secs);
        }
        Mock::given(method("POST"))
            .and(path("/public/webhook/workflow"))
            .respond_with(fault)
            .up_to_n_times(1)
            .mount(&mock)
            .await;
        Mock::given(method("POST"))
            .and(path("/public/webhook/workflow"))
            .respond_with(ResponseTemplate::new(200).set_body_json(&accepted))
            .mount(&mock)
            .await;

        let home = tempfile::tempdir().expect("tempdir");
        let file = home.path().join("runs.json");
        std::fs::write(&file, serde_json::to_vec(&runs("m", 1)).expect("json")).expect("writes");
        let url = mock.uri();
        let started = Instant::now();
        let home_path = home.path().to_owned();
        let out = tokio::task::spawn_blocking(move || {
            mwctl_isolated(&home_path)
                .env("MW_URL", url)
                .env("MW_API_KEY", "mwk_test")
                .args(["send", "-o", "json"])
                .arg(&file)
                .output()
                .expect("runs")
        })
        .await
        .expect("joins");
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{status}: {stderr}");
        assert!(stderr.contains("retrying"), "{status}: {stderr}");
        let summary = stdout_json(&out);
        assert_eq!(summary["retries"], 1, "{status}");
        assert_eq!(summary["accepted"], 1, "{status}");
        if retry_after.is_some() {
            assert!(
                elapsed >= Duration::from_secs(1),
                "Retry-After honoured: {elapsed:?}"
            );
        }
        let requests = mock.received_requests().await.expect("recorded");
        assert_eq!(requests.len(), 2, "{status}");
        let ids: BTreeSet<_> = requests
            .iter()
            .map(|r| {
                r.headers
                    .get("webhook-id")
                    .expect("signed")
                    .to_str()
                    .expect("ascii")
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1, "the same webhook-id on the retry");
        assert!(
            requests
                .iter()
                .all(|r| r.headers.contains_key("webhook-signature"))
        );
    }
}

#[test]
fn a_rejected_batch_is_not_retried() {
    let server = Server::start();
    // No repo linked: the server refuses the batch, once.
    let file = server.write(
        "runs.json",
        serde_json::to_vec(&runs("u", 3)).expect("json"),
    );
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 1);
    assert_eq!(summary["rejected"], 3);
    assert_eq!(summary["retries"], 0);
    assert_eq!(summary["errors"][0]["index"], 0);
    assert!(
        summary["resolution"]
            .as_str()
            .is_some_and(|r| r.contains("mwctl repos link"))
    );
    assert_eq!(server.events().len(), 1);
}

#[test]
fn broken_and_hostile_inputs_get_clear_errors_from_every_reader() {
    let server = Server::start();
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let huge_line = format!("{{\"workflow_name\": \"{}\"}}\n", "x".repeat(2 << 20));
    let cases: Vec<(&str, Vec<u8>, &[&str], &str)> = vec![
        ("empty", vec![], &[], "is empty"),
        ("whitespace", b"  \n\t ".to_vec(), &[], "is empty"),
        (
            "csv",
            b"id,status\n1,ok\n".to_vec(),
            &[],
            "does not start with [ or {",
        ),
        (
            "binary",
            vec![0, 159, 146, 150, 255],
            &[],
            "does not start with",
        ),
        (
            "truncated array",
            br#"[{"workflow_name": "d", "status""#.to_vec(),
            &[],
            "line 1, column",
        ),
        (
            "no comma",
            b"[{}\n{}]".to_vec(),
            &[],
            "line 2, column 1: expected , or ]",
        ),
        (
            "garbage after",
            b"[] nonsense".to_vec(),
            &[],
            "line 1, column 4",
        ),
        (
            "no workflow_runs",
            br#"{"runs": []}"#.to_vec(),
            &[],
            "no workflow_runs array",
        ),
        (
            "workflow_runs not array",
            br#"{"workflow_runs": {}}"#.to_vec(),
            &[],
            "not an array",
        ),
        ("deep nesting", deep.into_bytes(), &[], "record 0"),
        (
            "huge record",
            format!("[{}]", huge_line.trim()).into_bytes(),
            &[],
            "larger than 1 MiB",
        ),
        (
            "bad ndjson line",
            b"{\"workflow_name\": \"d\"}\n{\"a\": tru\n".to_vec(),
            &["--format", "ndjson"],
            "line 2, column",
        ),
        (
            "ndjson not utf-8",
            b"{\"workflow_name\": \"d\"}\n\xff\xfe\n".to_vec(),
            &["--format", "ndjson"],
            "line 2, column 1: not UTF-8",
        ),
        (
            "huge ndjson line",
            huge_line.clone().into_bytes(),
            &["--format", "ndjson"],
            "line 1 is longer than 1 MiB",
        ),
        (
            "truncated github page",
            br#"{"total_count": 2, "workflow_runs": [{"id": 1, "head_sha": "ab"#.to_vec(),
            &[],
            "cut short",
        ),
        (
            "github page of junk",
            br#"{"total_count": 1, "workflow_runs": [5, null, "x"]}"#.to_vec(),
            &["--format", "github"],
            "record 0: workflow_runs: expected a run object",
        ),
        (
            "gitlab odd types",
            br#"[{"id": {}, "status": 5, "user": "x", "web_url": 7, "sha": "zz", "ref": []}]"#
                .to_vec(),
            &["--format", "gitlab"],
            "record 0:",
        ),
    ];
    for (name, content, args, says) in cases {
        let file = server.write("hostile.json", &content);
        let out = server
            .mwctl()
            .arg("validate")
            .arg(&file)
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            stderr.contains(says),
            "{name}: expected {says:?} in: {stderr}"
        );
        // send reads the same way, and stores nothing.
        let out = server
            .mwctl()
            .arg("send")
            .arg(&file)
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "send {name}");
    }
    assert!(server.runs().is_empty());
}

#[test]
fn validate_reads_every_format_and_lists_problems_by_record() {
    let server = Server::start();
    let mut all = runs("q", 4);
    all[2]["commit_sha"] = json!("xyz");
    let ndjson: String = all.iter().map(|r| format!("{r}\n")).collect();
    let file = server.write("runs.ndjson", ndjson);
    let out = server
        .mwctl()
        .args(["validate", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let report = stdout_json(&out);
    assert_eq!(report["format"], "ndjson");
    assert_eq!(report["read"], 4);
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["errors"][0]["index"], 2);
    server
        .mwctl()
        .arg("validate")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("record 2 (line 3): commit_sha"));
    // Export overrides make no sense for runs files.
    server
        .mwctl()
        .args(["validate", "--repo", REPO])
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains("apply to GitHub and GitLab exports"));
}

#[test]
fn validate_counts_every_problem_beyond_those_it_lists() {
    let server = Server::start();
    let mut all = runs("m", 1200);
    for run in &mut all {
        run["commit_sha"] = json!("xyz");
    }
    let file = server.write("many.json", serde_json::to_vec(&all).expect("json"));
    let out = server
        .mwctl()
        .args(["validate", "-o", "json"])
        .arg(&file)
        .output()
        .expect("runs");
    let report = stdout_json(&out);
    assert_eq!(report["invalid"], 1200);
    assert_eq!(report["problems"], 1200);
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(1000));
    assert_eq!(report["errors_truncated"], true);
    server
        .mwctl()
        .arg("validate")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains(
            "… and 1150 more problems (--output json lists the first 1000)",
        ));
}

#[test]
fn resume_needs_a_file() {
    let server = Server::start();
    server
        .mwctl()
        .args(["send", "-", "--resume"])
        .write_stdin(serde_json::to_vec(&runs("i", 1)).expect("json"))
        .assert()
        .code(2)
        .stderr(contains("--resume needs a file"));
}
