//! A throwaway PostgreSQL cluster for tests (the server's contract suite and the end-to-end
//! tests include this file), started from the installed binaries: `initdb` into a temporary
//! directory as the unprivileged `postgres` user (through `runuser` when the tests run as
//! root), listening on a free loopback port with its socket in that directory.
//!
//! One cluster serves every test process of one test binary (nextest runs each test in a
//! process of its own): the first process starts it under a file lock, each test takes a fresh
//! database of its own ([`database`]), and a small watchdog stops the cluster
//! (`pg_ctl stop -m immediate`) and removes its directory once no process of that binary is
//! left.
//!
//! Without PostgreSQL the tests that need it fail, saying how to install it, unless
//! `MW_SKIP_POSTGRES=1` (then [`database`] answers `None` and they return at once).

#![allow(dead_code)]

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How to get PostgreSQL, for the failure message.
const INSTALL_HINT: &str = "PostgreSQL is needed by this test: install it (Debian/Ubuntu: `apt-get install postgresql`; the binaries are found with `pg_config --bindir` or in /usr/lib/postgresql/*/bin, or set MW_PG_BINDIR), or set MW_SKIP_POSTGRES=1 to skip the PostgreSQL tests";

/// The watchdog: stops the cluster and removes its directory once no registered process has
/// been alive for three checks in a row (the lock taken, so no test starts meanwhile).
const WATCHDOG: &str = r#"
dir=$1; shift
idle=0
alive() {
  n=0
  for f in "$dir"/users/*; do
    [ -e "$f" ] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then n=1; else rm -f "$f"; fi
  done
  [ $n = 1 ]
}
while :; do
  sleep 1
  if alive; then idle=0; continue; fi
  idle=$((idle + 1))
  [ $idle -ge 3 ] || continue
  exec 9>>"$dir/lock"
  flock 9
  if ! alive; then
    "$@" >/dev/null 2>&1
    rm -rf "$dir"
    exit 0
  fi
  flock -u 9
  idle=0
done
"#;

pub struct Cluster {
    pub port: u16,
    bindir: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Whether PostgreSQL tests are skipped when PostgreSQL is missing.
pub fn skipping() -> bool {
    std::env::var("MW_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// The URL of a new, empty database on this test binary's cluster (started on first use);
/// `None` when PostgreSQL is missing and `MW_SKIP_POSTGRES=1`. Panics when PostgreSQL is
/// missing otherwise, saying how to install it.
pub fn database() -> Option<String> {
    let cluster = match CLUSTER.get_or_init(start_shared) {
        Ok(cluster) => cluster,
        Err(e) if e == INSTALL_HINT && skipping() => {
            eprintln!("MW_SKIP_POSTGRES=1: skipped (PostgreSQL is not installed)");
            return None;
        }
        Err(e) => panic!("{e}"),
    };
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let status = Command::new(cluster.bindir.join("createdb"))
        .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()])
        .args(["-U", "postgres", &name])
        .status()
        .expect("runs createdb");
    assert!(status.success(), "createdb {name} failed");
    Some(format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        cluster.port
    ))
}

/// The installed server binaries: MW_PG_BINDIR, `pg_config --bindir`, or the newest
/// /usr/lib/postgresql/*/bin.
fn bindir() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("MW_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|d| has_initdb(d));
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| has_initdb(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_initdb(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The shared directory of this test binary's cluster.
fn shared_dir() -> PathBuf {
    let mut hasher = DefaultHasher::new();
    std::env::current_exe()
        .unwrap_or_default()
        .hash(&mut hasher);
    let uid = fs::metadata("/proc/self").map_or(0, |m| m.uid());
    std::env::temp_dir().join(format!("mwctl-pg-{uid}-{:016x}", hasher.finish()))
}

/// Takes the directory's lock; retries when the watchdog removed the directory meanwhile.
fn lock(dir: &Path) -> Result<File, String> {
    loop {
        fs::create_dir_all(dir.join("users")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("lock");
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("lock {}: {e}", path.display()))?;
        let same = fs::metadata(&path)
            .ok()
            .zip(file.metadata().ok())
            .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
        if same {
            return Ok(file);
        }
    }
}

fn start_shared() -> Result<Cluster, String> {
    let bindir = bindir().ok_or_else(|| INSTALL_HINT.to_owned())?;
    let dir = shared_dir();
    let _lock = lock(&dir)?;
    // Registered before the lock is released: the watchdog keeps the cluster for us.
    File::create(dir.join("users").join(std::process::id().to_string()))
        .map_err(|e| format!("cannot register with the test cluster: {e}"))?;
    if let Some(port) = fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        && TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
            .is_ok()
    {
        return Ok(Cluster { port, bindir });
    }
    let data = dir.join("data");
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&data);
                c
            },
            "chown",
        )?;
    }
    let mut initdb = as_postgres(&bindir.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        .args(["--locale=C"]);
    run(initdb, "initdb")?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    // A throwaway cluster: nothing is made durable. Nor are new WAL files zero-filled first (a
    // long-running cluster recycles them; a fresh one would spend a tenth of a backfill's
    // database CPU writing zeros).
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c wal_init_zero=off -c max_connections=400 \
         -c shared_buffers=64MB",
        data.display()
    );
    let mut start = as_postgres(&bindir.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(data.join("log"))
        .args(["-o", &options, "-w", "-t", "60", "start"]);
    run(start, "pg_ctl start")?;
    // The watchdog outlives this process: it stops the cluster after the last test.
    let mut stop: Vec<String> = Vec::new();
    if is_root() {
        stop.extend(["runuser", "-u", "postgres", "--"].map(str::to_owned));
    }
    stop.push(bindir.join("pg_ctl").display().to_string());
    stop.extend(["-D".to_owned(), data.display().to_string()]);
    stop.extend(["stop", "-m", "immediate"].map(str::to_owned));
    Command::new("sh")
        .args(["-c", WATCHDOG, "watchdog"])
        .arg(&dir)
        .args(&stop)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    let mut file = File::create(dir.join("port")).map_err(|e| e.to_string())?;
    write!(file, "{port}").map_err(|e| e.to_string())?;
    Ok(Cluster { port, bindir })
}
