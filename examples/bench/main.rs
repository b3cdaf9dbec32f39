//! Reproducible benchmarks of mwctl against its companion server.
//!
//! `cargo run --release --example bench -- backfill --runs 1000000`
//!
//! Builds the release `mwctl` and server, generates a synthetic export, and per backend (SQLite,
//! then PostgreSQL with two server instances on one database) and round: starts fresh servers
//! (temp data dir, free port; a new database on a throwaway PostgreSQL cluster), runs
//! `mwctl send`, waits until every run is processed, and, on SQLite, sends the same export with a
//! simple baseline (`curl`, one request per batch of 500, sequentially) to another fresh server.
//! Prints medians over the rounds side by side, the ratio, and mwctl's peak RSS for a smaller
//! export too (memory must not grow with the input).

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
use support::Backend;

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

    /// mwctl send --concurrency (of each mwctl, one per server instance)
    #[arg(long, default_value_t = 4)]
    concurrency: u16,

    /// Skip the curl baseline
    #[arg(long)]
    no_baseline: bool,

    /// One backend only (default: both, side by side)
    #[arg(long, value_enum)]
    backend: Option<Backend>,

    /// Server instances sharing the PostgreSQL database; the export is split between them,
    /// one `mwctl send` each, at once
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    instances: u16,

    /// Run PostgreSQL on this database instead of a throwaway cluster; it is EMPTIED (with
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
    /// From the start to the last answer (of every sender).
    accepted_secs: f64,
    /// From the start until no event is left waiting or running.
    processed_secs: f64,
    /// The highest of the senders.
    mwctl: Usage,
    /// The highest peak of one instance; the CPU of all.
    server: Usage,
}

/// The medians of a backend's rounds.
struct Figures {
    label: String,
    accepted_secs: f64,
    processed_secs: f64,
    mwctl_rss: u64,
    server_rss: u64,
    mwctl_cpu: f64,
    server_cpu: f64,
}

impl Figures {
    fn of(label: String, rounds: &[SendRound]) -> Figures {
        Figures {
            label,
            accepted_secs: median(rounds.iter().map(|r| r.accepted_secs).collect()),
            processed_secs: median(rounds.iter().map(|r| r.processed_secs).collect()),
            mwctl_rss: median_u64(rounds.iter().map(|r| r.mwctl.peak_rss).collect()),
            server_rss: median_u64(rounds.iter().map(|r| r.server.peak_rss).collect()),
            mwctl_cpu: median(rounds.iter().map(|r| r.mwctl.cpu_secs).collect()),
            server_cpu: median(rounds.iter().map(|r| r.server.cpu_secs).collect()),
        }
    }
}

/// What one backend's rounds need.
struct Setup<'a> {
    backend: Backend,
    instances: usize,
    /// The export, and its parts, one per instance (the export itself for one).
    parts: &'a [PathBuf],
}

fn backfill(args: &BackfillArgs) -> anyhow::Result<()> {
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    let backends = Backend::chosen(args.backend);
    let support::Binaries {
        mwctl,
        server: server_bin,
    } = support::build_release()?;
    let work = tempfile::tempdir().context("temp dir")?;
    let big = work.path().join("export.json");
    let t = Instant::now();
    let bytes = export::write_array(&big, 0, args.runs)?;
    let instances = usize::from(args.instances);
    // The same runs split between the PostgreSQL instances.
    let mut parts = Vec::new();
    if backends.contains(&Backend::Postgres) && instances > 1 {
        let per = args.runs.div_ceil(instances as u64);
        for i in 0..instances as u64 {
            let first = (i * per).min(args.runs);
            let path = work.path().join(format!("part-{i}.json"));
            export::write_array(&path, first, per.min(args.runs - first))?;
            parts.push(path);
        }
    }
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
    let baseline = !args.no_baseline && backends.contains(&Backend::Sqlite);
    if baseline {
        export::write_batches(&batches, 0, args.runs, 500)?;
    }

    let load_before = support::load_average();
    let whole = [big.clone()];
    let mut figures = Vec::new();
    let mut small_rss = Vec::new();
    let mut baseline_secs = Vec::new();
    for &backend in &backends {
        let setup = match backend {
            Backend::Sqlite => Setup {
                backend,
                instances: 1,
                parts: &whole,
            },
            Backend::Postgres => Setup {
                backend,
                instances,
                parts: if instances > 1 { &parts } else { &whole },
            },
        };
        let label = backend.label(setup.instances);
        let mut rounds = Vec::new();
        for round in 1..=args.rounds {
            eprintln!("{label}: round {round}/{}", args.rounds);
            if args.compare_runs > 0 && backend == backends[0] {
                let one = Setup {
                    parts: std::slice::from_ref(&small),
                    instances: 1,
                    ..setup
                };
                let r = send_round(
                    &mwctl,
                    &server_bin,
                    &one,
                    args.compare_runs,
                    args,
                    work.path(),
                )?;
                small_rss.push(r.mwctl.peak_rss);
            }
            let r = send_round(&mwctl, &server_bin, &setup, args.runs, args, work.path())?;
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
            if baseline && backend == Backend::Sqlite {
                let secs = baseline_round(&server_bin, &batches, args, work.path())?;
                eprintln!("  baseline: accepted in {secs:.2}s");
                baseline_secs.push(secs);
            }
        }
        figures.push(Figures::of(label, &rounds));
    }
    let load_after = support::load_average();

    let rate = |secs: f64| args.runs as f64 / secs;
    println!();
    println!(
        "mwctl send: {} runs ({:.0} MB of JSON), {} rounds, medians; load average {load_before} before, {load_after} after",
        args.runs,
        bytes as f64 / 1e6,
        args.rounds
    );
    let row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: String = figures.iter().map(|f| format!("{:>16}", cell(f))).collect();
        println!("  {name:<38}{cells}");
    };
    row("", &|f| f.label.clone());
    row("accepted (runs/s)", &|f| {
        format!("{:.0}", rate(f.accepted_secs))
    });
    row("last answer (s after the start)", &|f| {
        format!("{:.2}", f.accepted_secs)
    });
    row("all processed (s after the last answer)", &|f| {
        format!("{:.2}", (f.processed_secs - f.accepted_secs).max(0.0))
    });
    row("processed (runs/s, from the start)", &|f| {
        format!("{:.0}", rate(f.processed_secs))
    });
    row("server peak RSS (MB, per instance)", &|f| {
        format!("{:.1}", mb(f.server_rss))
    });
    row("mwctl peak RSS (MB)", &|f| {
        format!("{:.1}", mb(f.mwctl_rss))
    });
    row("CPU time (s): mwctl / server", &|f| {
        format!("{:.1} / {:.1}", f.mwctl_cpu, f.server_cpu)
    });
    if !small_rss.is_empty() {
        println!(
            "  mwctl peak RSS with {} runs: {:.1} MB ({})",
            args.compare_runs,
            mb(median_u64(small_rss)),
            figures[0].label
        );
    }
    if !baseline_secs.is_empty() {
        let baseline = median(baseline_secs);
        println!(
            "baseline (curl, one request per batch of 500, sequential, SQLite): {:.0} runs/s ({baseline:.2}s)",
            rate(baseline)
        );
        if let Some(sqlite) = figures.iter().find(|f| f.label == "SQLite") {
            println!(
                "mwctl / baseline:    {:>8.2}x runs/s accepted",
                baseline / sqlite.accepted_secs
            );
        }
    }
    Ok(())
}

/// Fresh servers, one `mwctl send` per instance (each its part of the export, at once), then
/// waiting until every run is processed.
fn send_round(
    mwctl: &Path,
    server_bin: &Path,
    setup: &Setup<'_>,
    runs: u64,
    args: &BackfillArgs,
    work: &Path,
) -> anyhow::Result<SendRound> {
    let database = match setup.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(support::postgres_database(args.database_url.as_deref())?),
    };
    let server = Server::start(server_bin, work, database.as_deref(), setup.instances)?;
    server.link_repos(export::REPOS)?;
    let mut send_args = vec!["--concurrency".to_owned(), args.concurrency.to_string()];
    send_args.extend(args.send_args.iter().cloned());
    let started = Instant::now();
    let sent = std::thread::scope(|scope| {
        let senders: Vec<_> = setup
            .parts
            .iter()
            .zip(server.urls.iter().cycle())
            .map(|(part, url)| {
                let (send_args, key) = (&send_args, &server.admin_key);
                scope.spawn(move || mwctl_send(mwctl, url, key, part, send_args, work))
            })
            .collect();
        senders
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|_| bail!("a sender panicked")))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let accepted_secs = started.elapsed().as_secs_f64();
    let accepted: u64 = sent.iter().map(|s| s.accepted).sum();
    ensure!(accepted == runs, "mwctl accepted {accepted} of {runs} runs");
    server.wait_processed(Duration::from_secs(600))?;
    let processed_secs = started.elapsed().as_secs_f64();
    let stored = server.stored_runs()?;
    ensure!(stored == runs, "the server stored {stored} of {runs} runs");
    let server = server.stop();
    Ok(SendRound {
        accepted_secs,
        processed_secs,
        mwctl: Usage {
            peak_rss: sent.iter().map(|s| s.usage.peak_rss).max().unwrap_or(0),
            cpu_secs: sent.iter().map(|s| s.usage.cpu_secs).sum(),
        },
        server,
    })
}

/// The same runs, one `curl` per batch file, one after another, to a server on SQLite;
/// seconds until all accepted.
fn baseline_round(
    server_bin: &Path,
    batches: &Path,
    args: &BackfillArgs,
    work: &Path,
) -> anyhow::Result<f64> {
    let runs = args.runs;
    let server = Server::start(server_bin, work, None, 1)?;
    server.link_repos(export::REPOS)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(batches)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let url = format!("{}/public/webhook/workflow", server.url());
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
