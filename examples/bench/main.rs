//! Reproducible benchmarks of mwctl against its companion server.
//!
//! `cargo run --release --example bench -- backfill --runs 1000000`
//!
//! Builds the release `mwctl` and server, generates a synthetic export, and per round: starts
//! a fresh server (temp data dir, free port), runs `mwctl send`, waits until every run is
//! processed, and sends the same export with a simple baseline (`curl`, one request per batch
//! of 500, sequentially) to another fresh server. Prints medians over the rounds, the ratio,
//! and mwctl's peak RSS for a smaller export too (memory must not grow with the input).

mod export;
mod process;
#[path = "../support/bench.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};

use process::{Server, Usage, mwctl_send};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmarks of mwctl against its companion server"
)]
struct Args {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// `mwctl send` of a synthetic export vs curl per batch
    Backfill(BackfillArgs),
}

#[derive(clap::Args)]
struct BackfillArgs {
    /// Runs in the export
    #[arg(long, default_value_t = 1_000_000)]
    runs: u64,

    /// Runs in the smaller export whose mwctl peak RSS is compared (0: skip)
    #[arg(long, default_value_t = 100_000)]
    compare_runs: u64,

    /// Rounds; figures are medians
    #[arg(long, default_value_t = 3)]
    rounds: usize,

    /// mwctl send --concurrency
    #[arg(long, default_value_t = 4)]
    concurrency: u16,

    /// Skip the curl baseline
    #[arg(long)]
    no_baseline: bool,

    /// Run the server on this PostgreSQL database instead of SQLite; it is EMPTIED (with
    /// psql) before every round, so give a database of its own
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

    /// Extra arguments for mwctl send (e.g. --compress)
    #[arg(last = true)]
    send_args: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Bench::Backfill(args) => backfill(&args),
    }
}

/// One `mwctl send` round.
struct SendRound {
    accepted_secs: f64,
    processed_secs: f64,
    mwctl: Usage,
    server: Usage,
}

fn backfill(args: &BackfillArgs) -> anyhow::Result<()> {
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    let support::Binaries {
        mwctl,
        server: server_bin,
    } = support::build_release()?;
    let work = tempfile::tempdir().context("temp dir")?;
    let big = work.path().join("export.json");
    let t = Instant::now();
    let bytes = export::write_array(&big, 0, args.runs)?;
    eprintln!(
        "generated {} runs ({:.0} MB) in {:.1}s",
        args.runs,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let small = work.path().join("export-small.json");
    if args.compare_runs > 0 {
        export::write_array(&small, 0, args.compare_runs)?;
    }
    let batches = work.path().join("batches");
    if !args.no_baseline {
        export::write_batches(&batches, 0, args.runs, 500)?;
    }

    eprintln!(
        "server storage: {}",
        if args.database_url.is_some() {
            "PostgreSQL (--database-url)"
        } else {
            "SQLite"
        }
    );
    let load_before = support::load_average();
    let mut rounds = Vec::new();
    let mut small_rss = Vec::new();
    let mut baseline_secs = Vec::new();
    for round in 1..=args.rounds {
        eprintln!("round {round}/{}", args.rounds);
        if args.compare_runs > 0 {
            let r = send_round(
                &mwctl,
                &server_bin,
                &small,
                args.compare_runs,
                args,
                work.path(),
            )?;
            small_rss.push(r.mwctl.peak_rss);
        }
        let r = send_round(&mwctl, &server_bin, &big, args.runs, args, work.path())?;
        eprintln!(
            "  mwctl: accepted in {:.2}s, processed in {:.2}s; mwctl {} MB, {:.1} CPU s; server {} MB, {:.1} CPU s",
            r.accepted_secs,
            r.processed_secs,
            r.mwctl.peak_rss >> 20,
            r.mwctl.cpu_secs,
            r.server.peak_rss >> 20,
            r.server.cpu_secs
        );
        rounds.push(r);
        if !args.no_baseline {
            let secs = baseline_round(&server_bin, &batches, args, work.path())?;
            eprintln!("  baseline: accepted in {secs:.2}s");
            baseline_secs.push(secs);
        }
    }
    let load_after = support::load_average();

    let rate = |secs: f64| args.runs as f64 / secs;
    let accepted = median(rounds.iter().map(|r| r.accepted_secs).collect());
    let processed = median(rounds.iter().map(|r| r.processed_secs).collect());
    let mwctl_rss = median_u64(rounds.iter().map(|r| r.mwctl.peak_rss).collect());
    let server_rss = median_u64(rounds.iter().map(|r| r.server.peak_rss).collect());
    let mwctl_cpu = median(rounds.iter().map(|r| r.mwctl.cpu_secs).collect());
    let server_cpu = median(rounds.iter().map(|r| r.server.cpu_secs).collect());
    println!();
    println!(
        "mwctl send: {} runs ({:.0} MB of JSON), {} rounds, medians; load average {load_before} before, {load_after} after",
        args.runs,
        bytes as f64 / 1e6,
        args.rounds
    );
    println!(
        "  accepted:          {:>8.0} runs/s ({accepted:.2}s)",
        rate(accepted)
    );
    println!("  all processed:     {processed:>8.2} s after the start");
    println!("  mwctl peak RSS:    {:>8.1} MB", mb(mwctl_rss));
    if !small_rss.is_empty() {
        println!(
            "  mwctl peak RSS:    {:>8.1} MB with {} runs",
            mb(median_u64(small_rss)),
            args.compare_runs
        );
    }
    println!("  server peak RSS:   {:>8.1} MB", mb(server_rss));
    println!("  CPU time:          {mwctl_cpu:>8.1} s mwctl, {server_cpu:.1} s server");
    if !baseline_secs.is_empty() {
        let baseline = median(baseline_secs);
        println!(
            "baseline (curl, one request per batch of 500, sequential): {:.0} runs/s ({baseline:.2}s)",
            rate(baseline)
        );
        println!(
            "mwctl / baseline:    {:>8.2}x runs/s accepted",
            baseline / accepted
        );
    }
    Ok(())
}

/// A fresh server, `mwctl send`, then waiting until every run is processed.
fn send_round(
    mwctl: &Path,
    server_bin: &Path,
    export: &Path,
    runs: u64,
    args: &BackfillArgs,
    work: &Path,
) -> anyhow::Result<SendRound> {
    let server = Server::start(server_bin, work, args.database_url.as_deref())?;
    server.link_repos(export::REPOS)?;
    let mut send_args = vec!["--concurrency".to_owned(), args.concurrency.to_string()];
    send_args.extend(args.send_args.iter().cloned());
    let started = Instant::now();
    let sent = mwctl_send(mwctl, &server, export, &send_args, work)?;
    let accepted_secs = started.elapsed().as_secs_f64();
    ensure!(
        sent.accepted == runs,
        "mwctl accepted {} of {runs} runs",
        sent.accepted
    );
    server.wait_processed(Duration::from_secs(600))?;
    let processed_secs = started.elapsed().as_secs_f64();
    let stored = server.stored_runs()?;
    ensure!(stored == runs, "the server stored {stored} of {runs} runs");
    let server = server.stop();
    Ok(SendRound {
        accepted_secs,
        processed_secs,
        mwctl: sent.usage,
        server,
    })
}

/// The same runs, one `curl` per batch file, one after another; seconds until all accepted.
fn baseline_round(
    server_bin: &Path,
    batches: &Path,
    args: &BackfillArgs,
    work: &Path,
) -> anyhow::Result<f64> {
    let runs = args.runs;
    let server = Server::start(server_bin, work, args.database_url.as_deref())?;
    server.link_repos(export::REPOS)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(batches)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let url = format!("{}/public/webhook/workflow", server.url);
    let key = format!("x-api-key: {}", server.admin_key);
    let started = Instant::now();
    for file in &files {
        let out = Command::new("curl")
            .args(["-sS", "-H", "content-type: application/json", "-H", &key])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(&url)
            .stderr(Stdio::inherit())
            .output()
            .context("curl (install it, or pass --no-baseline)")?;
        if !String::from_utf8_lossy(&out.stdout).contains("\"accepted\"") {
            bail!(
                "curl {}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    server.wait_processed(Duration::from_secs(600))?;
    let stored = server.stored_runs()?;
    ensure!(
        stored == runs,
        "baseline: the server stored {stored} of {runs} runs"
    );
    drop(server);
    Ok(secs)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}
