//! What every benchmark example needs: the release binaries, companion servers on free
//! loopback ports (SQLite, or several instances on one PostgreSQL database), and the machine's
//! load to print beside the figures.
//!
//! Included by each benchmark with `#[path]` (a folder without `main.rs`, so cargo does not
//! take it for an example of its own). PostgreSQL comes from the throwaway cluster the tests use
//! (`examples/server/testing/pg_cluster.rs`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail, ensure};

#[path = "../server/testing/pg_cluster.rs"]
mod pg_cluster;

/// The release `mwctl` and companion server (`mwctl-server`).
pub struct Binaries {
    #[allow(
        dead_code,
        reason = "the load benchmark speaks HTTP itself, without mwctl"
    )]
    pub mwctl: PathBuf,
    pub server: PathBuf,
}

/// `cargo build --release` of the mwctl binary and the companion server (package
/// `mwctl-server`); their paths.
pub fn build_release() -> anyhow::Result<Binaries> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("building the release mwctl and mwctl-server...");
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "mwctl",
            "-p",
            "mwctl-server",
            "--bin",
            "mwctl",
            "--bin",
            "mwctl-server",
        ])
        .args(["--message-format=json", "--quiet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    ensure!(output.status.success(), "cargo build failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Cargo reports each built target as a JSON line; the executables are in there.
    let executable = |name: &str| {
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .with_context(|| format!("cargo did not report the {name} executable"))
    };
    Ok(Binaries {
        mwctl: executable("mwctl")?,
        server: executable("mwctl-server")?,
    })
}

/// A companion server process started by [`spawn_server`].
pub struct Spawned {
    pub child: Child,
    pub url: String,
    pub admin_key: String,
}

/// Starts the server `bin` on a free loopback port with its data in `data_dir` (and `extra`
/// arguments, e.g. `--database-url URL`); returns once it listens. The caller owns (and must
/// kill) the child. `admin_key` is empty when the server wrote none (a further instance on a
/// PostgreSQL database: the first one wrote it).
pub fn spawn_server(bin: &Path, data_dir: &Path, extra: &[String]) -> anyhow::Result<Spawned> {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let Some(line) = lines.next() else {
            let _ = child.kill();
            bail!("the server exited before listening");
        };
        if let Some(url) = line?.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let admin_key = std::fs::read_to_string(data_dir.join("admin.key"))
        .map(|key| key.trim().to_owned())
        .unwrap_or_default();
    Ok(Spawned {
        child,
        url,
        admin_key,
    })
}

/// Empties the PostgreSQL database at `url` (every table of the public schema) with `psql`,
/// so that a round starts as on a fresh server. (Only the backfill bench takes a database.)
#[allow(dead_code)]
pub fn reset_database(url: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c"])
        .arg("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .stdout(Stdio::null())
        .status()
        .context("cannot run psql (apt-get install postgresql-client) to empty the database")?;
    ensure!(
        status.success(),
        "psql could not empty the database at {url}"
    );
    Ok(())
}

/// The storage a benchmark runs the server on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[allow(dead_code, reason = "bench_deploy starts one SQLite server itself")]
impl Backend {
    /// `both` (the default of the benchmarks) or one of them.
    pub fn chosen(arg: Option<Backend>) -> Vec<Backend> {
        arg.map_or_else(|| vec![Backend::Sqlite, Backend::Postgres], |b| vec![b])
    }

    /// The column heading: the backend and how many server instances share it.
    pub fn label(self, instances: usize) -> String {
        match self {
            Backend::Sqlite => "SQLite".to_owned(),
            Backend::Postgres if instances == 1 => "PostgreSQL".to_owned(),
            Backend::Postgres => format!("PostgreSQL x{instances}"),
        }
    }
}

/// An empty PostgreSQL database for one round: `url` emptied with psql when given, else a
/// new database on the throwaway cluster the tests use (started on first use, stopped after the
/// benchmark; it runs with fsync off, so its figures are an upper bound for a durable setup).
#[allow(dead_code, reason = "bench_deploy starts one SQLite server itself")]
pub fn postgres_database(url: Option<&str>) -> anyhow::Result<String> {
    if let Some(url) = url {
        reset_database(url)?;
        return Ok(url.to_owned());
    }
    pg_cluster::database().context(
        "MW_SKIP_POSTGRES=1 and PostgreSQL is not installed: pass --backend sqlite, or \
         --database-url for a PostgreSQL server of yours",
    )
}

/// Starts the servers of one round: one on SQLite in `dirs[0]`, or one per dir on the
/// PostgreSQL database `database_url` (sharing its queue). Every returned server carries the
/// admin key (the first instance mints it). On error the ones started are killed.
#[allow(dead_code, reason = "bench_deploy starts one SQLite server itself")]
pub fn spawn_servers(
    bin: &Path,
    dirs: &[PathBuf],
    database_url: Option<&str>,
) -> anyhow::Result<Vec<Spawned>> {
    let extra: Vec<String> = database_url
        .map(|url| vec!["--database-url".to_owned(), url.to_owned()])
        .unwrap_or_default();
    let mut spawned: Vec<Spawned> = Vec::new();
    for dir in dirs {
        match spawn_server(bin, dir, &extra) {
            Ok(mut server) => {
                if let Some(first) = spawned.first() {
                    server.admin_key.clone_from(&first.admin_key);
                }
                spawned.push(server);
            }
            Err(e) => {
                for mut server in spawned {
                    let _ = server.child.kill();
                    let _ = server.child.wait();
                }
                return Err(e);
            }
        }
    }
    match spawned.first() {
        Some(first) if first.admin_key.is_empty() => bail!("the server wrote no admin.key"),
        Some(_) => Ok(spawned),
        None => bail!("no server to start"),
    }
}

/// Events not processed yet (waiting or running), from the `total` of `GET /api/events`
/// pages.
#[allow(dead_code, reason = "bench_deploy starts one SQLite server itself")]
pub fn backlog(waiting_page: &serde_json::Value, running_page: &serde_json::Value) -> u64 {
    [waiting_page, running_page]
        .iter()
        .map(|page| page["total"].as_u64().unwrap_or(u64::MAX / 2))
        .sum()
}

/// The 1, 5 and 15 minute load averages: these machines are shared, so figures come with it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
