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
    // ID-ATTEMPT, as `mwctl deploy` names the run in the job.
    let done = &stored["9001-1"];
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
    assert_eq!(stored["9002-1"].status, "FAILURE");
    assert_eq!(stored["9003-1"].status, "CANCELLED");
    assert_eq!(stored["9004-1"].status, "PENDING");
    assert_eq!(stored["9004-1"].duration, None);
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
            "no workflow_runs (or incidents, data) array",
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

/// The GitHub Actions variables of run `id`, attempt `attempt`, of workflow "Deploy production".
fn in_github_actions(cmd: &mut assert_cmd::Command, dir: &Path, id: &str, attempt: &str) {
    cmd.env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8")
        .env("GITHUB_RUN_ID", id)
        .env("GITHUB_RUN_ATTEMPT", attempt)
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_TRIGGERING_ACTOR", "monalisa")
        .env("GITHUB_WORKFLOW", "Deploy production")
        .env("GITHUB_JOB", "deploy")
        .env("RUNNER_TEMP", dir);
}

#[test]
fn a_github_run_reported_live_then_backfilled_from_an_export_is_one_run() {
    let server = Server::start();
    server.link(REPO);
    for step in [
        &["deploy", "start"][..],
        &["deploy", "finish", "--status", "success"],
    ] {
        let mut cmd = server.mwctl();
        cmd.args(step);
        in_github_actions(&mut cmd, server.dir.path(), "1658821493", "2");
        cmd.assert().code(0);
    }
    // The same run in `gh api repos/acme/shop/actions/runs`, with another of the workflow.
    let mut live = github_run(1658821493, "completed", json!("success"), REPO);
    live["run_attempt"] = json!(2);
    live["triggering_actor"] = json!({"login": "monalisa"});
    let page = json!({"total_count": 2, "workflow_runs": [
        live,
        github_run(1658821400, "completed", json!("failure"), REPO),
    ]});
    let file = server.write("gh-runs.json", page.to_string());
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["accepted"], 2);

    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["1658821493-2".to_owned(), "1658821400-1".to_owned()]),
        "one row for the run reported live and backfilled"
    );
    let run = &stored["1658821493-2"];
    assert_eq!(run.workflow, "Deploy production");
    assert_eq!(run.event_actor, "monalisa");
    assert_eq!(run.status, "SUCCESS");
}

#[test]
fn per_repository_build_numbers_are_runs_of_their_own_repository() {
    let server = Server::start();
    let other = "https://gitlab.com/acme/api";
    server.link(REPO);
    server.link(other);
    // Build numbers restart in each repository: id 1 of `deploy` exists in both.
    let all = json!([
        run_json(REPO, "1", "SUCCESS"),
        run_json(other, "1", "SUCCESS"),
        run_json(REPO, "2", "FAILURE"),
        run_json("git@gitlab.com:acme/api.git", "2", "SUCCESS"),
    ]);
    let file = server.write("multi.json", all.to_string());
    server.mwctl().arg("validate").arg(&file).assert().code(0);
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["accepted"], 4);
    server.wait_processed();
    let mut stored: Vec<(String, String)> = server
        .runs()
        .into_iter()
        .map(|r| (r.repo, r.workflow_run_unique_id))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("acme/api".to_owned(), "1".to_owned()),
            ("acme/api".to_owned(), "2".to_owned()),
            ("acme/shop".to_owned(), "1".to_owned()),
            ("acme/shop".to_owned(), "2".to_owned()),
        ]
    );
    // The same repository in another spelling is the same run: still a repeat.
    let again = json!([
        run_json(REPO, "3", "SUCCESS"),
        run_json("git@github.com:ACME/shop.git", "3", "SUCCESS"),
    ]);
    let file = server.write("again.json", again.to_string());
    server
        .mwctl()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(contains(
            "already used by an earlier run of workflow \"deploy\" of github.com/acme/shop",
        ));
    // The server's own batch check agrees.
    let body =
        json!({"workflow_runs": [run_json(REPO, "9", "SUCCESS"), run_json(other, "9", "SUCCESS")]});
    let (status, answer) = server.ingest(Some(&server.admin_key), body.to_string());
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
}

#[test]
fn formats_are_told_by_their_records_not_the_keys_around_them() {
    let server = Server::start();
    server.link(REPO);
    // Our own runs in GitHub's page wrapper.
    let wrapped = json!({"total_count": 3, "workflow_runs": runs("w", 3)});
    let file = server.write("wrapped.json", wrapped.to_string());
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["format"], "json");
    assert_eq!(summary["accepted"], 3);

    // `gh api --paginate --slurp`: an array of pages.
    let slurped = json!([
        {"total_count": 3, "workflow_runs": [
            github_run(7001, "completed", json!("success"), REPO),
            github_run(7002, "completed", json!("failure"), REPO),
        ]},
        {"total_count": 3, "workflow_runs": [github_run(7003, "completed", json!("success"), REPO)]},
    ]);
    let file = server.write("slurped.json", slurped.to_string());
    let (code, summary) = send(&server, &file, &["--batch-size", "2"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["format"], "github");
    assert_eq!(summary["read"], 3);
    assert_eq!(summary["accepted"], 3);
    server.wait_processed();
    let stored = by_id(&server);
    assert!(
        stored.contains_key("w2") && stored.contains_key("7003-1"),
        "{:?}",
        stored.keys()
    );
}

/// `mwctl send ARGS` as the summary's resume command spells it: the binary as run, quoted.
fn command(args: &[&str]) -> String {
    let bin = env!("CARGO_BIN_EXE_mwctl");
    shlex::try_join(std::iter::once(bin).chain(args.iter().copied())).expect("quotable")
}

#[tokio::test]
async fn ctrl_c_mid_send_says_what_remains_and_the_exact_command_to_resume() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    // A slow server: each batch takes 300 ms to be answered.
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/public/webhook/workflow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "accepted", "event_id": "evt_1", "accepted": 2, "message": "ok"}))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&mock)
        .await;
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("my runs.json");
    std::fs::write(&file, serde_json::to_vec(&runs("c", 40)).expect("json")).expect("writes");
    let file_arg = file.to_str().expect("utf-8").to_owned();
    let args = [
        "send",
        "-o",
        "json",
        &file_arg,
        "--batch-size",
        "2",
        "--concurrency",
        "1",
    ];
    let child = common::mwctl_process(home.path())
        .env("MW_URL", mock.uri())
        .env("MW_API_KEY", "mwk_test")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Ctrl-C once a few batches are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    while mock.received_requests().await.map_or(0, |r| r.len()) < 3 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("finishes"))
        .await
        .expect("joins");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let summary = stdout_json(&out);
    assert_eq!(summary["outcome"], "interrupted", "{summary}");
    let accepted = summary["accepted"].as_u64().expect("accepted");
    assert!((3..40).contains(&accepted), "{summary}");
    let remaining = &summary["remaining"];
    assert_eq!(
        remaining["total"].as_u64(),
        Some(40 - accepted),
        "{summary}"
    );
    assert_eq!(
        remaining["not_sent"].as_u64().unwrap_or(0) + remaining["unread"].as_u64().unwrap_or(0),
        40 - accepted,
        "{summary}"
    );
    let resume = command(&[
        "send",
        "-o",
        "json",
        &file_arg,
        "--batch-size",
        "2",
        "--concurrency",
        "1",
        "--resume",
    ]);
    assert!(
        resume.contains("'"),
        "the path with a space is quoted: {resume}"
    );
    assert_eq!(summary["resume_command"].as_str(), Some(resume.as_str()));

    // Said for people too (the same numbers, without -o json).
    let words = shlex::split(&resume).expect("a shell command");
    assert_eq!(words[0], env!("CARGO_BIN_EXE_mwctl"));
    let url = mock.uri();
    let home_path = home.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        common::mwctl_process(&home_path)
            .env("MW_URL", url)
            .env("MW_API_KEY", "mwk_test")
            .args(&words[1..])
            .output()
            .expect("runs")
    })
    .await
    .expect("joins");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the command resumes: {stderr}");
    let resumed = stdout_json(&out);
    assert_eq!(resumed["outcome"], "complete");
    assert_eq!(resumed["resumed"].as_u64(), Some(accepted), "{resumed}");
    assert_eq!(
        resumed["accepted"].as_u64(),
        Some(40 - accepted),
        "{resumed}"
    );
    assert!(
        stderr.contains(&format!(
            "Resuming: {} batches ({accepted} runs) accepted before",
            accepted / 2
        )),
        "{stderr}"
    );
}

#[test]
fn an_interrupted_send_says_so_in_words() {
    // The text summary of an interruption, with the real server slowed by nothing but a
    // small batch size: SIGINT as soon as a checkpoint exists.
    let server = Server::start();
    server.link(REPO);
    let n = 3000;
    let file = server.write("big.json", serde_json::to_vec(&runs("t", n)).expect("json"));
    let child = server
        .mwctl_process()
        .args(["send", "--batch-size", "2", "--concurrency", "1"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(server.dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint written");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    let out = child.wait_with_output().expect("finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("warning: interrupted: "), "{stderr}");
    assert!(stderr.contains(" runs on the server; "), "{stderr}");
    assert!(stderr.contains(" not read yet)"), "{stderr}");
    let resume = command(&[
        "send",
        "--batch-size",
        "2",
        "--concurrency",
        "1",
        file.to_str().expect("utf-8"),
        "--resume",
    ]);
    assert!(
        stderr.contains(&format!("warning: to send the rest: {resume}\n")),
        "{stderr}"
    );
}

#[test]
fn a_send_that_ended_with_a_refused_run_is_not_called_interrupted() {
    let server = Server::start();
    server.link(REPO);
    let unlinked = "https://github.com/acme/unlinked";
    let all = json!([
        run_json(REPO, "f0", "SUCCESS"),
        run_json(REPO, "f1", "SUCCESS"),
        run_json(REPO, "f2", "SUCCESS"),
        run_json(unlinked, "f3", "SUCCESS"),
    ]);
    let file = server.write("runs.json", all.to_string());
    let rejects = server.dir.path().join("rejects.ndjson");
    let args = [
        "--batch-size",
        "2",
        "--concurrency",
        "1",
        "--skip-invalid",
        "--rejects",
        rejects.to_str().expect("utf-8"),
    ];
    let out = server
        .mwctl()
        .arg("send")
        .arg(&file)
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("interrupted"), "{stderr}");
    assert!(
        stderr.contains("warning: not every run was accepted: 3 runs on the server; 1 run remains (1 refused by the server)"),
        "{stderr}"
    );
    let mut resume_args = vec!["send", file.to_str().expect("utf-8")];
    resume_args.extend(args);
    resume_args.push("--resume");
    assert!(
        stderr.contains(&format!("to send the rest: {}", command(&resume_args))),
        "{stderr}"
    );

    // The next send of the file says how the last one ended.
    let out = server
        .mwctl()
        .arg("send")
        .arg(&file)
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "ended with 1 run refused by the server; 1 batch (2 runs) accepted; pass --resume"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("interrupted"), "{stderr}");

    // Fixed (the repository linked), --resume sends the batch that held the refused run.
    server.link(unlinked);
    let (code, summary) = send(&server, &file, &[&args[..], &["--resume"]].concat());
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["outcome"], "complete");
    assert_eq!(summary["resumed"], 2);
    assert_eq!(summary["accepted"], 2);
    server.wait_processed();
    assert_eq!(server.runs().len(), 4);
}

#[test]
fn a_send_that_sent_nothing_does_not_advise_resume() {
    let server = Server::start();
    server.link(REPO);
    let mut all = runs("s", 3);
    all[0]["status"] = json!("finished");
    let file = server.write("runs.json", serde_json::to_vec(&all).expect("json"));
    let out = server
        .mwctl()
        .arg("send")
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("--resume"), "{stderr}");
    assert!(
        stderr.contains("warning: stopped: nothing is on the server; 3 runs remain (2 read but not sent, 1 invalid)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: once fixed, to send it: {}",
            command(&["send", file.to_str().expect("utf-8")])
        )),
        "{stderr}"
    );
    assert!(stderr.contains("error: record 0: status"), "{stderr}");
    assert!(server.events().is_empty());
}

#[test]
fn a_complete_send_says_nothing_remains() {
    let server = Server::start();
    server.link(REPO);
    let file = server.write(
        "runs.json",
        serde_json::to_vec(&runs("e", 5)).expect("json"),
    );
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0);
    assert_eq!(summary["outcome"], "complete");
    assert!(summary.get("remaining").is_none() && summary.get("resume_command").is_none());
    let out = server
        .mwctl()
        .arg("send")
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stderr.contains("Repositories of the valid runs read, as mwctl sends them:\n  https://github.com/acme/shop: 5 runs\n"),
        "{stderr}"
    );
}

#[test]
fn a_server_gone_mid_send_stops_with_what_remains_and_how_to_resume() {
    let mut server = Server::start();
    server.link(REPO);
    let n = 4000;
    let file = server.write("big.json", serde_json::to_vec(&runs("g", n)).expect("json"));
    let args = [
        "send",
        "-o",
        "json",
        "--batch-size",
        "4",
        "--concurrency",
        "1",
    ];
    let child = server
        .mwctl_process()
        .args(args)
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
    // Gone for good: mwctl retries (about 15 to 30 s), then gives up.
    server.kill9();
    let out = child.wait_with_output().expect("finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let summary = stdout_json(&out);
    assert_eq!(summary["outcome"], "stopped", "{summary}");
    assert!(
        summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach")),
        "{summary}"
    );
    let accepted = summary["accepted"].as_u64().expect("accepted");
    assert!(accepted > 0 && accepted < n as u64, "{summary}");
    assert_eq!(
        summary["remaining"]["total"].as_u64(),
        Some(n as u64 - accepted),
        "{summary}"
    );
    let file_arg = file.to_str().expect("utf-8");
    let resume = command(&[&args[..], &[file_arg, "--resume"]].concat());
    assert_eq!(summary["resume_command"].as_str(), Some(resume.as_str()));

    // Back, the command sends the rest and nothing twice.
    server.restart_with(&[]);
    let words = shlex::split(&resume).expect("a shell command");
    let out = server
        .mwctl_process()
        .args(&words[1..])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = stdout_json(&out);
    assert_eq!(
        resumed["accepted"].as_u64().unwrap_or(0) + resumed["resumed"].as_u64().unwrap_or(0),
        n as u64,
        "{resumed}"
    );
    assert_stored_once(&server, n as u64, n / 4);
}

#[test]
fn a_gitlab_job_reported_live_then_backfilled_from_a_jobs_export_is_one_run() {
    let server = Server::start();
    let project = "https://gitlab.com/acme/platform/api";
    server.link(project);
    let mut live = server.mwctl();
    live.args(["deploy", "finish", "--status", "success"])
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_PROJECT_URL", project)
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_SHA", "1ecfd275763eff1d6b4844ea3168962458c9f27a")
        .env("CI_PIPELINE_ID", "1000")
        .env("CI_JOB_ID", "4242")
        .env("CI_JOB_URL", format!("{project}/-/jobs/4242"))
        .env("CI_JOB_NAME", "deploy:production")
        .env("CI_JOB_STARTED_AT", "2025-02-01T09:00:00Z")
        .env("GITLAB_USER_LOGIN", "dev1");
    live.assert().code(0);
    // `glab api projects/:id/jobs` filtered to the deployment job, one job per line.
    let job = |id: u64| {
        json!({
            "id": id, "name": "deploy:production", "stage": "deploy", "status": "success",
            "ref": "main", "tag": false, "created_at": "2025-02-01T08:59:00.000Z",
            "started_at": "2025-02-01T09:00:00.000Z", "finished_at": "2025-02-01T09:04:00.000Z",
            "duration": 240.2, "queued_duration": 1.5,
            "web_url": format!("{project}/-/jobs/{id}"),
            "commit": {"id": "1ecfd275763eff1d6b4844ea3168962458c9f27a", "short_id": "1ecfd275"},
            "pipeline": {"id": 1000, "project_id": 7, "ref": "main", "sha": "1ecfd275763eff1d6b4844ea3168962458c9f27a", "status": "success"},
            "user": {"id": 1, "username": "dev1"}
        })
    };
    let file = server.write("jobs.ndjson", format!("{}\n{}\n", job(4242), job(4100)));
    let (code, summary) = send(&server, &file, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["format"], "gitlab");
    server.wait_processed();
    let stored = by_id(&server);
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["4242".to_owned(), "4100".to_owned()])
    );
    assert_eq!(stored["4242"].workflow, "deploy:production");
    assert_eq!(
        stored["4100"].commit_sha.as_deref(),
        Some("1ecfd275763eff1d6b4844ea3168962458c9f27a")
    );
}
