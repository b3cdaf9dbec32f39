//! `mwctl deploy start` against a plain `curl` POST of the same signed body, side by side.
//!
//!     cargo run --release --example bench_deploy [-- --iterations 200]
//!
//! Builds the release `mwctl` and companion server, starts the server on a free loopback
//! port with a temp data dir, links a repo and makes a deployments key, then times, in
//! alternating order, N runs of each from process start to exit:
//!
//! - `mwctl deploy start` in a GitHub Actions environment (every field from the CI, as in a
//!   pipeline), with its state file in the runner's temp dir;
//! - `curl` POSTing the body mwctl sends for that run (same fields, a fresh id), signed the
//!   same way, with the same headers.
//!
//! Every request must be accepted. Prints medians, p90s and their ratio, the release binary's
//! size and the machine's load, since the two share the CPU with whatever else runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mwctl::client::new_webhook_id;
use mwctl::protocol::signing;
use serde_json::Value;

fn main() {
    if let Err(e) = bench() {
        eprintln!("bench_deploy: {e}");
        std::process::exit(1);
    }
}

type Result<T> = std::result::Result<T, String>;

fn bench() -> Result<()> {
    let iterations = iterations()?;
    let (mwctl, server_bin) = build()?;
    let curl = which("curl").ok_or("curl is not on PATH; install it (apt-get install curl)")?;
    let work = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let server = Server::start(&server_bin, work.path())?;
    let admin = |args: &[&str]| -> Result<String> {
        let out = Command::new(&mwctl)
            .args(args)
            .env("MW_URL", &server.url)
            .env("MW_API_KEY", &server.admin_key)
            .env("MW_CONFIG", work.path().join("config.toml"))
            .output()
            .map_err(|e| format!("mwctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mwctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    admin(&["repos", "link", "https://github.com/acme/shop"])?;
    let key = admin(&[
        "keys",
        "create",
        "--name",
        "bench",
        "--scope",
        "deployments",
        "-q",
    ])?;

    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).map_err(|e| e.to_string())?;
    let mwctl_cmd = |run: usize, extra: &[&str]| {
        let mut cmd = Command::new(&mwctl);
        // --strict: anything but an accepted run fails the bench.
        cmd.args(["deploy", "start", "-q", "--strict"])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work.path())
            .env("MW_CONFIG", work.path().join("config.toml"))
            .env("MW_URL", &server.url)
            .env("MW_API_KEY", &key)
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_SHA", "9fceb02d0ae598e95dc970b74767f19372d61af8")
            .env("GITHUB_RUN_ID", (100_000 + run).to_string())
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_WORKFLOW", "Deploy production")
            .env("GITHUB_JOB", "deploy")
            .env("RUNNER_TEMP", &runner_temp)
            .stdin(Stdio::null());
        cmd
    };

    // The body mwctl sends, from its own --dry-run; curl sends it with a run id of its own.
    let template = {
        let out = mwctl_cmd(0, &["--dry-run", "-o", "json"])
            .output()
            .map_err(|e| format!("mwctl: {e}"))?;
        let report: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("mwctl --dry-run -o json printed no JSON: {e}"))?;
        report["run"].clone()
    };
    let body_file = work.path().join("body.json");
    let answer_file = work.path().join("answer.json");
    let url = format!("{}/public/webhook/workflow", server.url);
    let secret = signing::key_digest(&key);
    let curl_cmd = |run: usize| -> Result<Command> {
        let mut run_json = template.clone();
        run_json["workflow_run_unique_id"] = Value::from(format!("curl-{run}"));
        let body = serde_json::to_vec(&serde_json::json!({ "workflow_runs": [run_json] }))
            .map_err(|e| e.to_string())?;
        std::fs::write(&body_file, &body).map_err(|e| e.to_string())?;
        let id = new_webhook_id();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs() as i64;
        let signature = signing::sign(&secret, &id, ts, &body);
        let mut cmd = Command::new(&curl);
        cmd.args(["-sSf", "-X", "POST", &url, "-o"])
            .arg(&answer_file)
            .args(["-H", &format!("x-api-key: {key}")])
            .args(["-H", "content-type: application/json"])
            .args(["-H", &format!("webhook-id: {id}")])
            .args(["-H", &format!("webhook-timestamp: {ts}")])
            .args(["-H", &format!("webhook-signature: {signature}")])
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()))
            .stdin(Stdio::null());
        Ok(cmd)
    };

    let time = |mut cmd: Command, what: &str| -> Result<Duration> {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let status = cmd.status().map_err(|e| format!("{what}: {e}"))?;
        let elapsed = started.elapsed();
        if !status.success() {
            return Err(format!("{what} failed ({status})"));
        }
        Ok(elapsed)
    };

    let warmup = 5;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..warmup + iterations {
        // Alternate who goes first, so neither always runs right after the other.
        let run = i + 1;
        let (a, b) = if i % 2 == 0 {
            let a = time(mwctl_cmd(run, &[]), "mwctl deploy start")?;
            let b = time(curl_cmd(run)?, "curl")?;
            (a, b)
        } else {
            let b = time(curl_cmd(run)?, "curl")?;
            let a = time(mwctl_cmd(run, &[]), "mwctl deploy start")?;
            (a, b)
        };
        let answer = std::fs::read_to_string(&answer_file).map_err(|e| e.to_string())?;
        if !answer.contains(r#""status":"accepted""#) {
            return Err(format!(
                "the server did not accept curl's request: {answer}"
            ));
        }
        if i >= warmup {
            ours.push(a);
            theirs.push(b);
        }
    }
    let (m_ours, m_theirs) = (median(&mut ours), median(&mut theirs));
    println!(
        "deploy start vs curl, {iterations} interleaved runs each (after {warmup} warm-up), \
         process start to exit, against the local release server:"
    );
    println!(
        "  mwctl deploy start  median {:>6.2} ms   p90 {:>6.2} ms",
        ms(m_ours),
        ms(percentile(&ours, 0.9))
    );
    println!(
        "  curl POST           median {:>6.2} ms   p90 {:>6.2} ms",
        ms(m_theirs),
        ms(percentile(&theirs, 0.9))
    );
    println!(
        "  ratio (median mwctl / median curl): {:.2} (target <= 1.50)",
        m_ours.as_secs_f64() / m_theirs.as_secs_f64()
    );
    let size = std::fs::metadata(&mwctl).map_err(|e| e.to_string())?.len();
    println!(
        "  release binary: {} ({:.1} MiB)",
        mwctl.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  load average (1, 5, 15 min): {}",
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".to_owned())
    );
    Ok(())
}

fn iterations() -> Result<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(200),
        [flag, n] if flag == "--iterations" => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--iterations {n:?} is not a positive number")),
        _ => Err("usage: cargo run --release --example bench_deploy [-- --iterations N]".into()),
    }
}

/// Builds the release mwctl and server, and returns their paths.
fn build() -> Result<(PathBuf, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "mwctl",
            "--example",
            "server",
            "--message-format=json",
            "--quiet",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err("building the release mwctl and server failed".into());
    }
    let artifact = |name: &str| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| format!("cargo did not report the {name} executable"))
    };
    Ok((artifact("mwctl")?, artifact("server")?))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

struct Server {
    child: std::process::Child,
    url: String,
    admin_key: String,
}

impl Server {
    fn start(bin: &Path, dir: &Path) -> Result<Server> {
        use std::io::{BufRead, BufReader};
        let data = dir.join("data");
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("server: {e}"))?;
        let stdout = child.stdout.take().ok_or("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => return Err("the server exited before listening".into()),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let admin_key = std::fs::read_to_string(data.join("admin.key"))
            .map_err(|e| format!("admin.key: {e}"))?
            .trim()
            .to_owned();
        Ok(Server {
            child,
            url,
            admin_key,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    percentile(samples, 0.5)
}

/// `samples` must be sorted.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let i = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
