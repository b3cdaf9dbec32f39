//! `mwctl deploy start` against a plain `curl` POST of the same signed body, side by side.
//!
//!     cargo run --release --example bench_deploy [-- --iterations 200] [--https [--ssl-cert-file]]
//!         [--mwctl PATH --server PATH]
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
//! With `--https`, both go through a TLS front on another loopback port (a private CA made
//! for the run, see `support/tls.rs`), each told to trust that CA the documented way: mwctl
//! with `MW_CA_CERT` (the system's CA certificates stay trusted, so it loads them too), curl
//! with `--cacert`. `--ssl-cert-file` gives mwctl the CA with `SSL_CERT_FILE` instead, which
//! replaces the system's CA certificates as `--cacert` does curl's (so neither loads those).
//! `--mwctl PATH` times another mwctl build (one made with other features, or an older one);
//! with `--server PATH` too, nothing is built.
//!
//! Every request must be accepted. Prints medians, p90s and their ratio, the release binary's
//! size and the machine's load, since the two share the CPU with whatever else runs.

#[path = "support/bench.rs"]
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use mwctl::client::new_webhook_id;
use mwctl::protocol::signing;
use serde_json::Value;

fn main() -> Result<()> {
    let options = options()?;
    let Options {
        iterations, https, ..
    } = options;
    let support::Binaries { mwctl, server } = match (options.mwctl, options.server) {
        (Some(mwctl), Some(server)) => support::Binaries { mwctl, server },
        (mwctl, server) => {
            let built = support::build_release()?;
            support::Binaries {
                mwctl: mwctl.unwrap_or(built.mwctl),
                server: server.unwrap_or(built.server),
            }
        }
    };
    let curl = which("curl").context("curl is not on PATH; install it (apt-get install curl)")?;
    let work = tempfile::tempdir().context("temp dir")?;
    let server = Server(support::spawn_server(
        &server,
        &work.path().join("data"),
        &[],
    )?);
    let admin = |args: &[&str]| -> Result<String> {
        let out = Command::new(&mwctl)
            .args(args)
            .env("MW_URL", &server.0.url)
            .env("MW_API_KEY", &server.0.admin_key)
            .env("MW_CONFIG", work.path().join("config.toml"))
            .output()
            .context("mwctl")?;
        ensure!(
            out.status.success(),
            "mwctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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

    // Where both send: the server itself, or its TLS front and the CA to trust.
    let (target, ca_pem) = if https {
        let front = tls::start(&server.0.url, work.path())?;
        (front.url, Some(front.ca_pem))
    } else {
        (server.0.url.clone(), None)
    };

    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp)?;
    let mwctl_cmd = |run: usize, extra: &[&str]| {
        let mut cmd = Command::new(&mwctl);
        // --strict: anything but an accepted run fails the bench.
        cmd.args(["deploy", "start", "-q", "--strict"])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work.path())
            .env("MW_CONFIG", work.path().join("config.toml"))
            .env("MW_URL", &target)
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
        if let Some(ca) = &ca_pem {
            cmd.env(
                if options.ssl_cert_file {
                    "SSL_CERT_FILE"
                } else {
                    "MW_CA_CERT"
                },
                ca,
            );
        }
        cmd
    };

    // The body mwctl sends, from its own --dry-run; curl sends it with a run id of its own.
    let template = {
        let out = mwctl_cmd(0, &["--dry-run", "-o", "json"])
            .output()
            .context("mwctl")?;
        let report: Value = serde_json::from_slice(&out.stdout)
            .context("mwctl --dry-run -o json printed no JSON")?;
        report["run"].clone()
    };
    let body_file = work.path().join("body.json");
    let answer_file = work.path().join("answer.json");
    let url = format!("{target}/public/webhook/workflow");
    let secret = signing::key_digest(&key);
    let curl_cmd = |run: usize| -> Result<Command> {
        let mut run_json = template.clone();
        run_json["workflow_run_unique_id"] = Value::from(format!("curl-{run}"));
        let body = serde_json::to_vec(&serde_json::json!({ "workflow_runs": [run_json] }))?;
        std::fs::write(&body_file, &body)?;
        let id = new_webhook_id();
        let ts = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
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
        if let Some(ca) = &ca_pem {
            cmd.arg("--cacert").arg(ca);
        }
        Ok(cmd)
    };

    let time = |mut cmd: Command, what: &str| -> Result<Duration> {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
        let elapsed = started.elapsed();
        ensure!(status.success(), "{what} failed ({status})");
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
        let answer = std::fs::read_to_string(&answer_file)?;
        ensure!(
            answer.contains(r#""status":"accepted""#),
            "the server did not accept curl's request: {answer}"
        );
        if i >= warmup {
            ours.push(a);
            theirs.push(b);
        }
    }
    let (m_ours, m_theirs) = (median(&mut ours), median(&mut theirs));
    println!(
        "deploy start vs curl, {iterations} interleaved runs each (after {warmup} warm-up), \
         process start to exit, against the local release server{}:",
        if https {
            " over https (a TLS front, a private CA)"
        } else {
            ""
        }
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
        "  ratio (median mwctl / median curl): {:.2} (target <= 0.30)",
        m_ours.as_secs_f64() / m_theirs.as_secs_f64()
    );
    let size = std::fs::metadata(&mwctl)?.len();
    println!(
        "  release binary: {} ({:.1} MiB)",
        mwctl.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!("  load average (1, 5, 15 min): {}", support::load_average());
    Ok(())
}

struct Options {
    iterations: usize,
    https: bool,
    ssl_cert_file: bool,
    mwctl: Option<PathBuf>,
    server: Option<PathBuf>,
}

fn options() -> Result<Options> {
    let usage = "usage: cargo run --release --example bench_deploy [-- --iterations N] \
                 [--https [--ssl-cert-file]] [--mwctl PATH] [--server PATH]";
    let mut options = Options {
        iterations: 200,
        https: false,
        ssl_cert_file: false,
        mwctl: None,
        server: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--https" => options.https = true,
            "--ssl-cert-file" => options.ssl_cert_file = true,
            "--mwctl" => options.mwctl = Some(args.next().context(usage)?.into()),
            "--server" => options.server = Some(args.next().context(usage)?.into()),
            "--iterations" => {
                let n = args.next().context(usage)?;
                options.iterations = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--iterations {n:?} is not a positive number"))?;
            }
            _ => bail!(usage),
        }
    }
    if options.ssl_cert_file && !options.https {
        bail!("--ssl-cert-file goes with --https");
    }
    Ok(options)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The companion server, killed on drop.
struct Server(support::Spawned);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
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
