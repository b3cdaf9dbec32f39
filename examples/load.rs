//! Load benchmark: N concurrent deployment pipelines, each sending `deploy start` (a PENDING
//! run) then `deploy finish` (the final status), signed as mwctl signs them, for a fixed time.
//! Prints requests per second and the time to the 200 answer (p50, p90, p99, max), then how long
//! after the last answer the last event was processed; SQLite and PostgreSQL side by side.
//!
//! ```sh
//! cargo run --release --example load -- --pairs 8 --seconds 15
//! ```
//!
//! By default it builds the release companion server (`mwctl-server`) and runs the load twice:
//! against one server on SQLite (a temporary directory), then against `--instances` servers (2 by
//! default) sharing one new database on a throwaway PostgreSQL cluster (the one the tests use;
//! `--database-url` for another), the pipelines spread over them; all on free loopback ports.
//! `--backend` runs one; `--url` and `--admin-key` load a running server instead. Each pipeline
//! keeps one HTTP connection alive, so the figures are the server's, not process start-up's.

#[path = "support/bench.rs"]
mod support;

use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use mwctl::protocol::signing::{
    HEADER_API_KEY, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, key_digest, sign,
};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/load";

/// Load benchmark of the companion server's ingest.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent pipelines, each sending start, finish, start, finish...
    #[arg(long, default_value_t = 8)]
    pairs: usize,

    /// How long to send, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,

    /// One backend only (default: both, one after the other)
    #[arg(long, value_enum, conflicts_with = "url")]
    backend: Option<support::Backend>,

    /// Server instances sharing the PostgreSQL database (the pipelines take turns)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    instances: u16,

    /// Run PostgreSQL on this database instead of a throwaway cluster; it is EMPTIED (with
    /// psql) first, so give a database of its own
    #[arg(long, value_name = "URL", conflicts_with = "url")]
    database_url: Option<String>,

    /// A running server to load instead of starting one (needs --admin-key).
    #[arg(long, requires = "admin_key")]
    url: Option<String>,

    /// An admin key of the server given with --url.
    #[arg(long, env = "MW_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
}

#[derive(Default)]
struct Tally {
    /// Time to the 200 answer of each request, in microseconds.
    latencies: Vec<u64>,
    accepted: u64,
    rejected: u64,
    errors: u64,
    first_error: Option<String>,
}

/// What one load printed, for the summary.
struct Figures {
    label: String,
    requests_per_sec: f64,
    p50: f64,
    p99: f64,
    max: f64,
    /// Seconds from the last answer until no event waits or runs (`None`: still busy).
    drained: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let (Some(url), Some(key)) = (&args.url, &args.admin_key) {
        let url = url.trim_end_matches('/').to_owned();
        runtime.block_on(load(&args, "server", &[url], key))?;
        return Ok(());
    }
    let bin = support::build_release()?.server;
    let mut figures = Vec::new();
    for backend in support::Backend::chosen(args.backend) {
        let (database, instances) = match backend {
            support::Backend::Sqlite => (None, 1),
            support::Backend::Postgres => (
                Some(support::postgres_database(args.database_url.as_deref())?),
                usize::from(args.instances),
            ),
        };
        let label = backend.label(instances);
        let started = StartedServers::start(&bin, database.as_deref(), instances)?;
        let result = runtime.block_on(load(&args, &label, &started.urls, &started.admin_key));
        drop(started);
        figures.push(result?);
    }
    println!();
    println!(
        "summary: {} pipelines for {} s; machine load after: {}",
        args.pairs,
        args.seconds,
        support::load_average()
    );
    let row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: String = figures.iter().map(|f| format!("{:>16}", cell(f))).collect();
        println!("  {name:<44}{cells}");
    };
    row("", &|f| f.label.clone());
    row("requests/s", &|f| format!("{:.0}", f.requests_per_sec));
    row("time to 200 p50 (ms)", &|f| format!("{:.2}", f.p50));
    row("time to 200 p99 (ms)", &|f| format!("{:.2}", f.p99));
    row("time to 200 max (ms)", &|f| format!("{:.2}", f.max));
    row("last event processed (s after the last answer)", &|f| {
        f.drained
            .map_or_else(|| "> 120".to_owned(), |s| format!("{s:.2}"))
    });
    Ok(())
}

/// Loads the servers at `urls` (pipeline `n` sends to `urls[n % len]`); prints and returns
/// the figures.
async fn load(
    args: &Args,
    label: &str,
    urls: &[String],
    admin_key: &str,
) -> anyhow::Result<Figures> {
    mwctl::client::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = urls[0].as_str();
    // A linked repo and a deployments key, as a team would set up.
    let linked = http
        .post(format!("{url}/api/repos"))
        .header(HEADER_API_KEY, admin_key)
        .json(&json!({ "url": REPO }))
        .send()
        .await?;
    if !linked.status().is_success() {
        bail!("cannot link {REPO}: HTTP {}", linked.status());
    }
    let created: Value = http
        .post(format!("{url}/api/keys"))
        .header(HEADER_API_KEY, admin_key)
        .json(&json!({ "name": "load-bench", "scopes": ["deployments"] }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = created["key"]
        .as_str()
        .context("the server did not return a key")?
        .to_owned();

    println!(
        "load ({label}): {} pipelines (deploy start + finish) for {} s against {}; machine load before: {}",
        args.pairs,
        args.seconds,
        urls.join(" "),
        support::load_average()
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let key = Arc::new(key);
    let tasks: Vec<_> = (0..args.pairs)
        .map(|n| {
            let (url, key) = (urls[n % urls.len()].clone(), Arc::clone(&key));
            tokio::spawn(async move { pipeline(n, &url, &key, deadline).await })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        let t = task.await?;
        tally.latencies.extend(t.latencies);
        tally.accepted += t.accepted;
        tally.rejected += t.rejected;
        tally.errors += t.errors;
        tally.first_error = tally.first_error.or(t.first_error);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = tally.latencies.len() as u64 + tally.errors;
    tally.latencies.sort_unstable();
    let pct = |p: usize| -> f64 {
        let v = &tally.latencies;
        if v.is_empty() {
            return f64::NAN;
        }
        v[(v.len() * p / 100).min(v.len() - 1)] as f64 / 1000.0
    };
    println!(
        "requests: {requests} in {elapsed:.1} s = {:.0} requests/s ({:.0} deployments/s); {} accepted, {} rejected, {} failed",
        requests as f64 / elapsed,
        requests as f64 / elapsed / 2.0,
        tally.accepted,
        tally.rejected,
        tally.errors,
    );
    println!(
        "time to 200: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(50),
        pct(90),
        pct(99),
        pct(100),
    );
    if let Some(e) = &tally.first_error {
        println!("first problem: {e}");
    }

    // The worker processes asynchronously: how far behind was it?
    let drained = Instant::now();
    let page = |status: &'static str| {
        let request = http
            .get(format!("{url}/api/events?status={status}&limit=1"))
            .header(HEADER_API_KEY, admin_key);
        async move {
            anyhow::Ok(
                request
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<Value>()
                    .await?,
            )
        }
    };
    let drained = loop {
        let (waiting, running) = (page("waiting").await?, page("running").await?);
        if support::backlog(&waiting, &running) == 0 {
            let secs = drained.elapsed().as_secs_f64();
            println!("processing: every event processed {secs:.2} s after the last answer");
            break Some(secs);
        }
        if drained.elapsed() > Duration::from_secs(120) {
            println!("processing: still busy 120 s after the load");
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if tally.errors > 0 || tally.rejected > 0 {
        bail!(
            "{} requests failed, {} were rejected",
            tally.errors,
            tally.rejected
        );
    }
    Ok(Figures {
        label: label.to_owned(),
        requests_per_sec: requests as f64 / elapsed,
        p50: pct(50),
        p99: pct(99),
        max: pct(100),
        drained,
    })
}

/// One pipeline: start and finish deployments until the deadline, on one connection.
async fn pipeline(n: usize, url: &str, key: &str, deadline: Instant) -> Tally {
    mwctl::client::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let secret = key_digest(key);
    let endpoint = format!("{url}/public/webhook/workflow");
    let mut tally = Tally::default();
    let mut i = 0u64;
    while Instant::now() < deadline {
        let run_id = format!("load-{n}-{i}");
        let started_at = chrono::Utc::now();
        for finish in [false, true] {
            let mut run = json!({
                "workflow_name": "production",
                "repo_urls": [REPO],
                "event_actor": "load",
                "head_branch": "main",
                "workflow_run_unique_id": run_id,
                "status": if finish { "SUCCESS" } else { "PENDING" },
                "workflow_run_conducted_at": started_at.to_rfc3339(),
                "commit_sha": "4f1c2d3e",
            });
            if finish {
                run["duration"] = json!(1);
            }
            let body = json!({ "workflow_runs": [run] }).to_string();
            let webhook_id = format!("msg_load_{n}_{i}_{finish}");
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let signature = sign(&secret, &webhook_id, timestamp, body.as_bytes());
            let sent = Instant::now();
            let answer = http
                .post(&endpoint)
                .header(HEADER_API_KEY, key)
                .header("content-type", "application/json")
                .header(HEADER_ID, &webhook_id)
                .header(HEADER_TIMESTAMP, timestamp.to_string())
                .header(HEADER_SIGNATURE, signature)
                .body(body)
                .send()
                .await;
            let answer = match answer {
                Ok(response) if response.status().is_success() => response.bytes().await,
                Ok(response) => {
                    tally.errors += 1;
                    tally
                        .first_error
                        .get_or_insert(format!("HTTP {}", response.status()));
                    continue;
                }
                Err(e) => Err(e),
            };
            match answer {
                Ok(bytes) => {
                    tally.latencies.push(sent.elapsed().as_micros() as u64);
                    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if answer["status"] == "accepted" {
                        tally.accepted += 1;
                    } else {
                        tally.rejected += 1;
                        tally.first_error.get_or_insert(answer.to_string());
                    }
                }
                Err(e) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(e.to_string());
                }
            }
        }
        i += 1;
    }
    tally
}

/// The release companion servers of one load: one on SQLite, or `instances` on one PostgreSQL
/// database; each on a free port with a temporary data dir; killed on drop.
struct StartedServers {
    children: Vec<Child>,
    urls: Vec<String>,
    admin_key: String,
    _dirs: Vec<tempfile::TempDir>,
}

impl StartedServers {
    fn start(
        bin: &std::path::Path,
        database_url: Option<&str>,
        instances: usize,
    ) -> anyhow::Result<StartedServers> {
        let dirs = (0..instances)
            .map(|_| tempfile::tempdir())
            .collect::<std::io::Result<Vec<_>>>()?;
        let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_owned()).collect();
        let spawned = support::spawn_servers(bin, &paths, database_url)?;
        let admin_key = spawned[0].admin_key.clone();
        let (children, urls) = spawned.into_iter().map(|s| (s.child, s.url)).unzip();
        Ok(StartedServers {
            children,
            urls,
            admin_key,
            _dirs: dirs,
        })
    }
}

impl Drop for StartedServers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
