//! Harness for end-to-end tests: the real companion server (`mwctl-server`) on a free loopback port with a temp
//! data dir, and the real mwctl binary with an isolated config and a clean environment.

#![allow(dead_code)]

pub mod action;
/// A throwaway PostgreSQL cluster shared by this test binary (the server's tests use it too).
#[path = "../../examples/server/testing/pg_cluster.rs"]
pub mod pg;
pub mod release;
#[path = "../../examples/support/tls.rs"]
pub mod tls;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mwctl::protocol::admin::{Event, EventPage, EventStatus, RunPage, StoredRun};
use serde_json::Value;
use tempfile::TempDir;

/// The companion server's executable (package and binary `mwctl-server`, a member of this
/// workspace), built once per test process (a no-op when it is fresh).
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args([
                "build",
                "-p",
                SERVER_PACKAGE,
                "--bin",
                SERVER_PACKAGE,
                "--message-format=json",
                "--quiet",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(output.status.success(), "building {SERVER_PACKAGE} failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|msg| {
                msg["reason"] == "compiler-artifact" && msg["target"]["name"] == SERVER_PACKAGE
            })
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the server executable")
    })
}

/// The companion server's package and binary name.
pub const SERVER_PACKAGE: &str = "mwctl-server";

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub dir: TempDir,
    pub admin_key: String,
    extra_args: Vec<String>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts with extra flags, e.g. `["--max-body", "64KiB"]`.
    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Server {
            child: None,
            url: String::new(),
            dir,
            admin_key: String::new(),
            extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.spawn(None);
        server.admin_key = std::fs::read_to_string(server.dir.path().join("admin.key"))
            .expect("admin.key written on first start")
            .trim()
            .to_owned();
        server
    }

    /// An instance on the PostgreSQL database `database_url` (see [`pg::database`]), with a
    /// data dir of its own (where the first instance writes admin.key). `admin_key`: the key
    /// of an instance started earlier on the same database; `None` for the first.
    pub fn start_pg(database_url: &str, admin_key: Option<&str>, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut extra_args = vec!["--database-url".to_owned(), database_url.to_owned()];
        extra_args.extend(args.iter().map(|a| (*a).to_owned()));
        let mut server = Server {
            child: None,
            url: String::new(),
            dir,
            admin_key: String::new(),
            extra_args,
        };
        server.spawn(None);
        server.admin_key = match admin_key {
            Some(key) => key.to_owned(),
            None => std::fs::read_to_string(server.dir.path().join("admin.key"))
                .expect("admin.key written on the first start on the database")
                .trim()
                .to_owned(),
        };
        server
    }

    /// Starts the process; `port` reuses a previous port after a restart.
    fn spawn(&mut self, port: Option<u16>) {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        // The log goes to a file in the data dir, kept across restarts (see `log`).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut child = Command::new(server_bin())
            .args(["--listen", &listen, "--data-dir"])
            .arg(self.dir.path())
            .args(&self.extra_args)
            // SQLite unless the test says otherwise.
            .env_remove("MW_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("server printed its address before exiting")
                .expect("stdout readable");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.url = url;
        self.child = Some(child);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// What the server logged (stderr) so far, every start included.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("url has a port")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("reaped");
        }
    }

    /// Starts again on the same port and data dir, with `args` instead of the first start's.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.kill9();
        self.extra_args = args.iter().map(|a| (*a).to_owned()).collect();
        let port = self.port();
        // The port may take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.spawn(Some(port));
    }

    /// mwctl with this server, the admin key, an isolated config and no CI variables.
    pub fn mwctl(&self) -> assert_cmd::Command {
        let mut cmd = mwctl_isolated(self.dir.path());
        cmd.env("MW_URL", &self.url)
            .env("MW_API_KEY", &self.admin_key);
        cmd
    }

    pub fn http(&self) -> reqwest::blocking::Client {
        mwctl::client::install_crypto_provider();
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// GET an admin endpoint with the admin key, as JSON.
    pub fn get(&self, path: &str) -> Value {
        let response = self
            .http()
            .get(format!("{}{path}", self.url))
            .header("x-api-key", &self.admin_key)
            .send()
            .expect("request");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().expect("json")
    }

    /// POST a raw ingest body with a key; returns (HTTP status, answer).
    pub fn ingest(&self, key: Option<&str>, body: impl Into<Vec<u8>>) -> (u16, Value) {
        let mut request = self
            .http()
            .post(format!("{}/public/webhook/workflow", self.url))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        (status, response.json().expect("answer is JSON"))
    }

    pub fn link(&self, url: &str) {
        self.mwctl().args(["repos", "link", url]).assert().success();
    }

    /// `mwctl keys create --name NAME ARGS…` with the admin key; the new key's id and secret.
    pub fn create_key(&self, name: &str, args: &[&str]) -> (String, String) {
        let out = self
            .mwctl()
            .args(["keys", "create", "--name", name, "-o", "json"])
            .args(args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let created = stdout_json(&out);
        (
            created["id"].as_str().expect("id").to_owned(),
            created["key"].as_str().expect("key").to_owned(),
        )
    }

    /// Every stored run, newest first, however many (following the pages' `next`).
    pub fn runs(&self) -> Vec<StoredRun> {
        let mut all = Vec::new();
        let mut path = "/api/runs?limit=10000".to_owned();
        loop {
            let page: RunPage = serde_json::from_value(self.get(&path)).expect("a page of runs");
            all.extend(page.runs);
            match page.next {
                Some(next) => path = format!("/api/runs?limit=10000&cursor={next}"),
                None => return all,
            }
        }
    }

    /// The newest events (one page: at most 500).
    pub fn events(&self) -> Vec<Event> {
        let page: EventPage =
            serde_json::from_value(self.get("/api/events?limit=500")).expect("a page of events");
        page.events
    }

    /// Every event, newest first, however many (following the pages' `next`).
    pub fn all_events(&self) -> Vec<Event> {
        let mut all = Vec::new();
        let mut path = "/api/events?limit=500".to_owned();
        loop {
            let page: EventPage =
                serde_json::from_value(self.get(&path)).expect("a page of events");
            all.extend(page.events);
            match page.next {
                Some(next) => path = format!("/api/events?limit=500&cursor={next}"),
                None => return all,
            }
        }
    }

    /// mwctl as a plain process (see [`mwctl_process`]), with this server and the admin key.
    pub fn mwctl_process(&self) -> Command {
        let mut cmd = mwctl_process(self.dir.path());
        cmd.env("MW_URL", &self.url)
            .env("MW_API_KEY", &self.admin_key);
        cmd
    }

    /// Writes a file in the server's temp dir.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("writes");
        path
    }

    /// Every run the server received, oldest request first, exactly as sent (from the
    /// stored request bodies), so tests check the fields mwctl sent, not what was stored.
    pub fn sent_runs(&self) -> Vec<Value> {
        let mut events = self.events();
        events.reverse();
        events
            .iter()
            .flat_map(|e| {
                let detail = self.get(&format!("/api/events/{}", e.id));
                let body: Value = serde_json::from_str(detail["body"].as_str().expect("body kept"))
                    .expect("body is JSON");
                body["workflow_runs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// `script` run by bash as a CI runs a step (`bash --noprofile --norc -eo pipefail`), in
    /// `dir`, with mwctl on PATH, this server's URL and admin key, and `env` on top of a clean
    /// environment.
    pub fn shell(
        &self,
        dir: &Path,
        script: &str,
        env: &[(String, String)],
    ) -> std::process::Output {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .env_clear()
            .env("PATH", path_with_mwctl())
            .env("HOME", self.dir.path())
            .env("MW_CONFIG", self.dir.path().join("mwctl-config.toml"))
            .env("TMPDIR", self.dir.path())
            .env("MW_URL", &self.url)
            .env("MW_API_KEY", &self.admin_key)
            .current_dir(dir)
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("bash runs")
    }

    /// Waits until no event is WAITING or RUNNING.
    pub fn wait_processed(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // By status: with many events, the oldest waiting one may not be on the first page.
            let busy = [EventStatus::Waiting, EventStatus::Running]
                .iter()
                .any(|status| {
                    let page = self.get(&format!("/api/events?status={status}&limit=1"));
                    page["total"].as_u64().expect("a page of events") > 0
                });
            if !busy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "events still unprocessed after 60 s"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// mwctl with a private config path and without the environment of whoever runs the tests
/// (CI variables would change what deploy commands send).
pub fn mwctl_isolated(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(mwctl_process(home));
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// [`mwctl_isolated`] as a plain process, for tests that start it and act while it runs.
/// Its state dir (checkpoints) is under `home` too.
pub fn mwctl_process(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mwctl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("MW_CONFIG", home.join("mwctl-config.toml"))
        .env("TMPDIR", home)
        .current_dir(home);
    cmd
}

/// The checkpoint files mwctl left under `home`.
pub fn checkpoints(home: &Path) -> Vec<PathBuf> {
    let dir = home.join(".local/state/mwctl/checkpoints");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default()
}

/// PATH with the mwctl under test first, as a CI image with mwctl installed would have it.
pub fn path_with_mwctl() -> std::ffi::OsString {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mwctl"))
        .parent()
        .expect("mwctl is in a directory")
        .to_owned();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&rest)))
        .expect("PATH joins")
}

/// A git repository in `dir` with one commit by `author`, on `branch`, with `origin`.
pub fn git_repo(dir: &Path, author: &str, branch: &str, origin: &str) {
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", branch]);
    git(&["remote", "add", "origin", origin]);
    git(&[
        "-c",
        &format!("user.name={author}"),
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "first",
    ]);
}

/// A valid run for `repo`, with `id` as its unique id.
pub fn run_json(repo: &str, id: &str, status: &str) -> Value {
    serde_json::json!({
        "workflow_name": "deploy",
        "repo_urls": [repo],
        "event_actor": "alice",
        "head_branch": "main",
        "workflow_run_unique_id": id,
        "status": status,
        "workflow_run_conducted_at": "2025-01-09T10:00:00Z",
        "duration": 42,
        "html_url": format!("https://ci.example.com/runs/{id}"),
        "commit_sha": "abcdef1234567"
    })
}

/// Parses a command's stdout as JSON.
pub fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
