//! The processes a benchmark runs: the server (fresh data dir, free port) and `mwctl send`,
//! each with its peak RSS sampled from /proc (VmHWM, which only grows) every few ms.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::Value;

/// Samples a process's peak resident set size (VmHWM) and CPU time until it exits or is told
/// to stop.
pub struct Watch {
    peak: Arc<AtomicU64>,
    cpu_ticks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What [`Watch`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub peak_rss: u64,
    pub cpu_secs: f64,
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

impl Watch {
    pub fn start(pid: u32) -> Watch {
        let peak = Arc::new(AtomicU64::new(0));
        let cpu_ticks = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, cpu_ticks, stop) =
                (Arc::clone(&peak), Arc::clone(&cpu_ticks), Arc::clone(&stop));
            std::thread::spawn(move || {
                let status = format!("/proc/{pid}/status");
                let stat = format!("/proc/{pid}/stat");
                while !stop.load(Ordering::Relaxed) {
                    // Gone, or a zombie (no memory lines): the last sample stands.
                    let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                            })
                    }) else {
                        return;
                    };
                    peak.fetch_max(kib * 1024, Ordering::Relaxed);
                    if let Some(ticks) = std::fs::read_to_string(&stat).ok().and_then(|s| {
                        // Fields after the command name (which may hold spaces): utime, stime
                        // are the 12th and 13th.
                        let rest = s.rsplit_once(')')?.1;
                        let fields: Vec<&str> = rest.split_whitespace().collect();
                        let user: u64 = fields.get(11)?.parse().ok()?;
                        let system: u64 = fields.get(12)?.parse().ok()?;
                        Some(user + system)
                    }) {
                        cpu_ticks.fetch_max(ticks, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Watch {
            peak,
            cpu_ticks,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Usage {
            peak_rss: self.peak.load(Ordering::Relaxed),
            cpu_secs: self.cpu_ticks.load(Ordering::Relaxed) as f64 / TICKS_PER_SEC,
        }
    }
}

pub struct Server {
    child: Option<Child>,
    watch: Option<Watch>,
    pub url: String,
    pub admin_key: String,
    dir: PathBuf,
    http: reqwest::blocking::Client,
}

impl Server {
    /// A fresh server on a free loopback port, with its data in a new dir under `work`, or in
    /// the PostgreSQL database `database_url`, emptied first.
    pub fn start(bin: &Path, work: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("server-")
            .tempdir_in(work)?
            .keep();
        let mut extra = Vec::new();
        if let Some(url) = database_url {
            crate::support::reset_database(url)?;
            extra = vec!["--database-url".to_owned(), url.to_owned()];
        }
        let crate::support::Spawned {
            child,
            url,
            admin_key,
        } = crate::support::spawn_server(bin, &dir, &extra)?;
        let watch = Some(Watch::start(child.id()));
        mwctl::client::install_crypto_provider();
        Ok(Server {
            child: Some(child),
            watch,
            url,
            admin_key,
            dir,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header("x-api-key", &self.admin_key)
            .send()?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json()?)
    }

    pub fn link_repos(&self, urls: &[&str]) -> anyhow::Result<()> {
        for url in urls {
            let response = self
                .http
                .post(format!("{}/api/repos", self.url))
                .header("x-api-key", &self.admin_key)
                .json(&serde_json::json!({ "url": url }))
                .send()?;
            ensure!(
                response.status().is_success(),
                "link {url}: {}",
                response.status()
            );
        }
        Ok(())
    }

    /// Waits until no event is waiting or running.
    pub fn wait_processed(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let busy = ["WAITING", "RUNNING"]
                .iter()
                .try_fold(false, |busy, status| {
                    let events = self.get(&format!("/api/events?status={status}&limit=1"))?;
                    anyhow::Ok(busy || events.as_array().is_some_and(|a| !a.is_empty()))
                })?;
            if !busy {
                let failed = self.get("/api/events?status=FAILURE&limit=1")?;
                ensure!(
                    failed.as_array().is_some_and(Vec::is_empty),
                    "an event failed: {failed}"
                );
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "events still unprocessed after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs in the database (counted directly: the API lists at most 10,000).
    pub fn stored_runs(&self) -> anyhow::Result<u64> {
        let db = rusqlite::Connection::open_with_flags(
            self.dir.join("mwctl.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let n: i64 = db.query_row("SELECT count(*) FROM repo_workflow_runs", [], |row| {
            row.get(0)
        })?;
        Ok(u64::try_from(n)?)
    }

    /// Stops the server (and deletes its data); what it used.
    pub fn stop(mut self) -> Usage {
        let usage = self.watch.take().map_or_else(Usage::default, Watch::finish);
        drop(self);
        usage
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(watch) = self.watch.take() {
            watch.finish();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Sent {
    pub accepted: u64,
    pub usage: Usage,
}

/// `mwctl send FILE -o json` against `server`; its summary and peak RSS.
pub fn mwctl_send(
    mwctl: &Path,
    server: &Server,
    export: &Path,
    extra: &[String],
    work: &Path,
) -> anyhow::Result<Sent> {
    let child = Command::new(mwctl)
        .arg("send")
        .arg(export)
        .args(["-o", "json"])
        .args(extra)
        .env("MW_URL", &server.url)
        .env("MW_API_KEY", &server.admin_key)
        .env("MW_CONFIG", work.join("mwctl-config.toml"))
        // Checkpoints go to the bench's temp dir.
        .env("XDG_STATE_HOME", work.join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start mwctl")?;
    let watch = Watch::start(child.id());
    let output = child.wait_with_output()?;
    let usage = watch.finish();
    ensure!(
        output.status.success(),
        "mwctl send failed: {}",
        output.status
    );
    let summary: Value = serde_json::from_slice(&output.stdout).context("mwctl's summary")?;
    Ok(Sent {
        accepted: summary["accepted"].as_u64().unwrap_or(0),
        usage,
    })
}
