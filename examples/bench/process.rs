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

/// The servers of one round: one on SQLite, or several instances sharing one PostgreSQL
/// database (and so one queue).
pub struct Server {
    children: Vec<Child>,
    watches: Vec<Watch>,
    /// One per instance.
    pub urls: Vec<String>,
    pub admin_key: String,
    dirs: Vec<PathBuf>,
    http: reqwest::blocking::Client,
}

/// What the servers of a round used: the highest peak RSS of one instance, the CPU time of
/// all.
pub type ServerUsage = Usage;

impl Server {
    /// Fresh servers on free loopback ports, with their data in new dirs under `work`: one on
    /// SQLite (`database_url` `None`), or `instances` on the (empty) PostgreSQL database
    /// `database_url`.
    pub fn start(
        bin: &Path,
        work: &Path,
        database_url: Option<&str>,
        instances: usize,
    ) -> anyhow::Result<Server> {
        let instances = if database_url.is_some() {
            instances.max(1)
        } else {
            1
        };
        let dirs = (0..instances)
            .map(|_| {
                Ok(tempfile::Builder::new()
                    .prefix("server-")
                    .tempdir_in(work)?
                    .keep())
            })
            .collect::<anyhow::Result<Vec<PathBuf>>>()?;
        let spawned = crate::support::spawn_servers(bin, &dirs, database_url)?;
        mwctl::client::install_crypto_provider();
        let admin_key = spawned[0].admin_key.clone();
        let mut server = Server {
            children: Vec::new(),
            watches: Vec::new(),
            urls: Vec::new(),
            admin_key,
            dirs,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        };
        for s in spawned {
            server.watches.push(Watch::start(s.child.id()));
            server.children.push(s.child);
            server.urls.push(s.url);
        }
        Ok(server)
    }

    /// The first instance's URL.
    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.url()))
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
                .post(format!("{}/api/repos", self.url()))
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

    /// Waits until no event is waiting or running (polling every 20 ms), then checks that
    /// none failed.
    pub fn wait_processed(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let waiting = self.get("/api/events?status=waiting&limit=1")?;
            let running = self.get("/api/events?status=running&limit=1")?;
            if crate::support::backlog(&waiting, &running) == 0 {
                let failed = self.get("/api/events?status=failure&limit=1")?;
                ensure!(
                    failed["total"].as_u64() == Some(0),
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

    /// Runs stored (the `total` of `GET /api/runs`).
    pub fn stored_runs(&self) -> anyhow::Result<u64> {
        let page = self.get("/api/runs?limit=1")?;
        page["total"]
            .as_u64()
            .with_context(|| format!("GET /api/runs has no total: {page}"))
    }

    /// Stops the servers (and deletes their data dirs); what they used.
    pub fn stop(mut self) -> ServerUsage {
        let usages: Vec<Usage> = self.watches.drain(..).map(Watch::finish).collect();
        drop(self);
        Usage {
            peak_rss: usages.iter().map(|u| u.peak_rss).max().unwrap_or(0),
            cpu_secs: usages.iter().map(|u| u.cpu_secs).sum(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for watch in self.watches.drain(..) {
            watch.finish();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub struct Sent {
    pub accepted: u64,
    pub usage: Usage,
}

/// `mwctl send FILE -o json` against the server at `url`; its summary and peak RSS.
pub fn mwctl_send(
    mwctl: &Path,
    url: &str,
    admin_key: &str,
    export: &Path,
    extra: &[String],
    work: &Path,
) -> anyhow::Result<Sent> {
    let child = Command::new(mwctl)
        .arg("send")
        .arg(export)
        .args(["-o", "json"])
        .args(extra)
        .env("MW_URL", url)
        .env("MW_API_KEY", admin_key)
        .env("MW_CONFIG", work.join("mwctl-config.toml"))
        // Checkpoints go to the bench's temp dir (one per sender: several send at once).
        .env(
            "XDG_STATE_HOME",
            work.join("state")
                .join(export.file_stem().unwrap_or_default()),
        )
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
