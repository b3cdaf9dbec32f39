//! mwctl's companion server (`mwctl-server`): the reference implementation of the webhook
//! protocol, with embedded SQLite storage.
//!
//! `cargo run --release -p mwctl-server -- --listen 127.0.0.1:8787 --data-dir DIR`, or
//! `cargo install --path examples/server`.

mod app;
mod auth;
mod body;
mod extract;
mod ids;
mod log;
mod notify;
mod ops;
#[cfg(test)]
#[path = "testing/pg_cluster.rs"]
mod pg_cluster;
mod routes;
mod rules;
mod serve;
mod store;
mod worker;

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mwctl::protocol::admin::Scope;
use mwctl::protocol::signing::key_digest_hex;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{AppState, Config, app};
use crate::log::LogFormat;
use crate::notify::Notifier;
use crate::rules::keys::AdminAccess;
use crate::store::{PgStore, SqliteStore, Store};

/// Validation allocates many small values on several threads at once; glibc's malloc spends
/// much of that time in locks and cross-thread frees.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas
/// (madvise), and each 2 MiB page counts whole in the resident set however little of it is in
/// use: with them, a 1,000,000-run backfill peaked at 174 MB; without, at 81 MB, as fast.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("warning: cannot turn transparent huge pages off ({e}): more memory is used");
    }
}

/// The companion server of mwctl: receives workflow runs and stores them for DORA metrics.
///
/// Without a subcommand it serves (`mwctl-server --listen ADDR --data-dir DIR` is
/// `mwctl-server serve --listen ADDR --data-dir DIR`).
#[derive(Debug, Parser)]
#[command(name = "mwctl-server", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the webhook, the admin API and the admin page (the default)
    Serve(Args),

    /// Mint a new admin key and write it to DIR/admin.key (mode 0600): recovery when every
    /// admin key is revoked or expired
    ///
    /// Works on the database directly, whether or not servers are running on it (SQLite
    /// serialises the writes; with --database-url, every instance sees the new key at once).
    /// The key is written to the file only, never printed; the old keys are left as they are.
    AdminKey(AdminKeyArgs),
}

/// Where the data lives: shared by every subcommand that opens the store.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    /// Directory for the database (mwctl.db) and the admin key (admin.key); created if
    /// missing. With --database-url, only admin.key goes here.
    #[arg(long, default_value = "./mwctl-data")]
    data_dir: PathBuf,

    /// Store in PostgreSQL instead of SQLite, e.g. postgres://mwctl:PASSWORD@db:5432/mwctl:
    /// several instances on one database share keys, repos, events, runs and one queue.
    #[arg(long, value_name = "URL", env = "MW_DATABASE_URL", value_parser = parse_database_url)]
    database_url: Option<String>,
}

impl StoreArgs {
    /// Opens (creating if needed) the store: PostgreSQL with --database-url, else SQLite in
    /// --data-dir. `notify`: rejected and failed events go to the notification outbox. The
    /// directory is created either way (admin.key goes there).
    async fn open(&self, notify: bool) -> anyhow::Result<Arc<dyn Store>> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create {}", self.data_dir.display()))?;
        if let Some(url) = &self.database_url {
            let store = PgStore::connect(url)
                .await
                .context("cannot open the PostgreSQL database of --database-url")?;
            return Ok(Arc::new(if notify { store.notifying() } else { store }));
        }
        let db_path = self.data_dir.join("mwctl.db");
        let store = SqliteStore::open(&db_path)
            .with_context(|| format!("cannot open {}", db_path.display()))?;
        Ok(Arc::new(if notify { store.notifying() } else { store }))
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir.join("admin.key")
    }

    /// The recovery command for this store, to name in messages (never the database URL:
    /// it may hold a password).
    fn recovery_command(&self) -> String {
        let mut command = format!(
            "mwctl-server admin-key --data-dir {}",
            self.data_dir.display()
        );
        if self.database_url.is_some() {
            command.push_str(" --database-url URL");
        }
        command
    }
}

#[derive(Debug, clap::Args)]
struct AdminKeyArgs {
    #[command(flatten)]
    store: StoreArgs,

    /// The new key's name, as `mwctl keys list` shows it.
    #[arg(long, default_value = "admin (recovered)")]
    name: String,
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed as `listening on http://ADDR`).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,

    #[command(flatten)]
    store: StoreArgs,

    /// How long a claim on an event or a notification lasts without renewal (a live instance
    /// renews its claims): an instance that died holds its work this long before another
    /// takes it over. A restarted SQLite server takes its own back at once.
    #[arg(long, default_value = "10s", value_parser = parse_lease)]
    lease: Duration,

    /// Largest ingest body, before and after gzip decompression: bytes, or with a KiB / MiB /
    /// GiB suffix.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    max_body: usize,

    /// Refuse ingest requests that carry no `webhook-signature`.
    #[arg(long)]
    require_signature: bool,

    /// Store and answer requests but do not process them (maintenance, tests); the next start
    /// without it processes what waited.
    #[arg(long)]
    no_worker: bool,

    /// POST a Slack-compatible `{"text": ...}` message here for every rejected or failed event
    /// (sent in the background, with retries; the key's name and id, never the key).
    #[arg(long, value_name = "URL", env = "MW_NOTIFY_URL", value_parser = parse_notify_url)]
    notify_url: Option<String>,

    /// Most connections served at once; more wait until one closes.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Most connections served at once from one client address (an IPv4 address, or an IPv6
    /// /64); more are closed at once, unanswered. At most half of --max-connections, so that one
    /// client always leaves room for others. Behind a proxy every client has the proxy's
    /// address: raise it.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_client: u32,

    /// Longest wait for a request's headers (and for the next request on an idle keep-alive
    /// connection), e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    header_timeout: Duration,

    /// Longest pause while a request body arrives, e.g. 10s; the whole request has at most
    /// 120 s.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    body_timeout: Duration,

    /// Slowest a request body may arrive, in bytes per second (KiB / MiB suffixes): T seconds
    /// after the server starts reading a body, at least this × (T − --body-grace) bytes must
    /// have come, or the request is answered (ingest: InvalidPayload; admin API: 408) and its
    /// connection closed.
    #[arg(long, default_value = "1KiB", value_parser = parse_size)]
    min_body_rate: usize,

    /// How long a request body may take to get going before --min-body-rate applies, e.g. 5s.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    body_grace: Duration,

    /// How stderr logs: `text` lines, or `json` objects (one per line) for a log collector.
    /// One line per request: request id, method, path, status, event id, key id, latency.
    /// Keys and signatures are never logged. RUST_LOG filters (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "MW_LOG_FORMAT")]
    log_format: LogFormat,

    /// Largest page of the runs and events lists (tests of paging; the defaults are 10,000 and
    /// 500).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    max_page: Option<u32>,
}

#[tokio::main]
async fn main() -> ExitCode {
    no_huge_pages();
    // The --notify-url client speaks TLS through ring, as mwctl does.
    mwctl::client::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::AdminKey(args)) => {
            log::init(LogFormat::Text);
            admin_key(args).await
        }
        Some(Command::Serve(args)) => {
            log::init(args.log_format);
            run(args).await
        }
        None => {
            log::init(cli.serve.log_format);
            run(cli.serve).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // What a stopped server was processing is taken over when its lease ends (SQLite: at
    // once, see SqliteStore::open).
    let store = args.store.open(args.notify_url.is_some()).await?;
    bootstrap_admin(store.as_ref(), &args.store).await?;

    let config = Config {
        max_body: args.max_body,
        require_signature: args.require_signature,
        body_timeout: args.body_timeout,
        max_page: args.max_page,
        lease: args.lease,
    };
    let state = AppState::new(Arc::clone(&store), config);
    let notifier = match &args.notify_url {
        Some(url) => Notifier::start(url, store, Arc::clone(&state.owner), args.lease)?,
        None => Notifier::default(),
    };
    let state = state.with_notifier(notifier);
    // Events stored by other instances wake this one's worker too.
    state
        .store
        .listen(Arc::clone(&state.wake))
        .await
        .context("cannot listen for stored events")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    say(&format!("listening on http://{addr}"))?;

    let (stop, stopped) = watch::channel(false);
    let worker = if args.no_worker {
        tracing::info!("--no-worker: accepted events wait until a start without it");
        None
    } else {
        Some(worker::spawn(state.clone(), stopped).context("cannot start the worker")?)
    };
    let limits = serve::Limits {
        max_connections: args.max_connections as usize,
        max_per_client: args.max_connections_per_client as usize,
        header_timeout: args.header_timeout,
        min_body_rate: serve::MinRate {
            bytes_per_sec: args.min_body_rate as u64,
            grace: args.body_grace,
        },
    };
    if limits.per_client() < limits.max_per_client {
        tracing::info!(
            "--max-connections-per-client {} is over half of --max-connections {}: using {}",
            limits.max_per_client,
            limits.max_connections,
            limits.per_client()
        );
    }
    serve::serve(listener, app(state), limits, shutdown_signal()).await;
    if let Some(worker) = worker {
        tracing::info!("shutting down: finishing the current event");
        let _ = stop.send(true);
        tokio::task::spawn_blocking(move || worker.join())
            .await
            .context("worker task")?
            .map_err(|_| anyhow::anyhow!("the worker panicked"))?;
    }
    Ok(())
}

/// Prints a line to stdout and flushes it at once (tests read it through a pipe).
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// On first start (no keys at all), creates the admin key, prints it once and writes it to
/// DIR/admin.key (mode 0600); of several instances starting on one empty database, one does.
/// On a later start, points to the key file when its key is a usable admin key, and names the
/// recovery command when no admin key is usable.
async fn bootstrap_admin(store: &dyn Store, where_: &StoreArgs) -> anyhow::Result<()> {
    let key_file = where_.key_file();
    if store.count_keys().await? > 0 {
        let now = store::now();
        match rules::keys::admin_access(&store.list_keys().await?, now) {
            AdminAccess::Lasting => {}
            AdminAccess::Expiring(last) => tracing::warn!(
                "every admin key expires (the last at {}): create one without --expires \
                 (`mwctl keys create --name NAME --scope admin`), or the admin API locks then",
                store::ts(last)
            ),
            AdminAccess::Locked => {
                tracing::error!(
                    "no usable admin key: every admin key is revoked or expired, so the admin \
                     API refuses everyone; run `{}` to mint a new one",
                    where_.recovery_command()
                );
                return Ok(());
            }
        }
        if let Ok(key) = std::fs::read_to_string(&key_file) {
            let usable = store
                .find_key(&key_digest_hex(key.trim()))
                .await?
                .is_some_and(|k| rules::keys::usable_admin(&k.key, now));
            if usable {
                say(&format!("admin key in {}", key_file.display()))?;
            }
        }
        return Ok(());
    }
    let Some(key) = mint_admin_key(store, &key_file, "admin", First::Only).await? else {
        // Another instance starting on the same database minted it first.
        return Ok(());
    };
    say(&format!("admin key: {key}"))?;
    say(&format!(
        "admin key written to {} (shown only once)",
        key_file.display()
    ))?;
    Ok(())
}

/// `mwctl-server admin-key`: a new admin key in DIR/admin.key, whatever the keys in the store.
async fn admin_key(args: AdminKeyArgs) -> anyhow::Result<()> {
    let store = args.store.open(false).await?;
    let key_file = args.store.key_file();
    mint_admin_key(store.as_ref(), &key_file, &args.name, First::Any).await?;
    say(&format!(
        "new admin key {:?} written to {} (mode 0600); use it with `mwctl login` or MW_API_KEY",
        args.name,
        key_file.display()
    ))?;
    Ok(())
}

/// Whether [`mint_admin_key`] stores its key whatever keys exist, or only as the first key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    Any,
    /// Only into a store without keys ([`Store::insert_first_key`]).
    Only,
}

/// Mints a key with every scope, writes it to `key_file` (mode 0600) and stores it; returns it.
/// `None` (and no file) when `first` is [`First::Only`] and the store has a key already.
async fn mint_admin_key(
    store: &dyn Store,
    key_file: &Path,
    name: &str,
    first: First,
) -> anyhow::Result<Option<String>> {
    let scopes = vec![Scope::Admin, Scope::Deployments, Scope::Incidents];
    let (meta, key) =
        ids::mint_key(name, scopes, None, store::now()).map_err(anyhow::Error::msg)?;
    // The file first: a key that was stored but could not be saved would be lost.
    write_secret(key_file, &key).with_context(|| format!("cannot write {}", key_file.display()))?;
    let digest = key_digest_hex(&key);
    let stored = match first {
        First::Any => store.insert_key(&meta, &digest).await.map(|()| true),
        First::Only => store.insert_first_key(&meta, &digest).await,
    };
    match stored {
        Ok(true) => Ok(Some(key)),
        Ok(false) => {
            let _ = std::fs::remove_file(key_file);
            Ok(None)
        }
        Err(e) => {
            let _ = std::fs::remove_file(key_file);
            Err(e.into())
        }
    }
}

/// Writes a secret to a new file created with mode 0600 (never readable by others, not even
/// briefly). No trailing newline, so the file's content is exactly the key.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// A timeout of at least a millisecond: `10s`, `500ms`, `2m`.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d >= Duration::from_millis(1) => Ok(d),
        Ok(_) => Err("the timeout must be at least 1ms".to_owned()),
        Err(e) => Err(format!(
            "{s:?} is not a duration ({e}); use e.g. 10s or 500ms"
        )),
    }
}

/// At least 1 s (renewals go three times per lease) and at most an hour.
fn parse_lease(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) => Ok(d),
        Ok(_) => Err("the lease must be between 1s and 1h".to_owned()),
        Err(e) => Err(format!("{s:?} is not a duration ({e}); use e.g. 10s")),
    }
}

fn parse_database_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a PostgreSQL URL; give e.g. postgres://USER:PASSWORD@HOST:5432/DATABASE (for SQLite, give --data-dir alone)"
        ))
    }
}

fn parse_notify_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    if (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "http://".len() + 1 {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an http(s) URL; give e.g. a Slack incoming-webhook URL"
        ))
    }
}

/// Parses `8388608`, `512KiB`, `8MiB`, `8 MiB`, `1GiB` (K/M/G and KB/MB/GB are read as binary
/// units too).
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size; use e.g. 8MiB, 512KiB or 1048576"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}; use KiB, MiB or GiB")),
    };
    match number.checked_mul(factor) {
        Some(0) => Err("the size must be more than 0".to_owned()),
        Some(n) => Ok(n),
        None => Err(format!("{s} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Parses a serving command line (with or without `serve`).
    fn serving(args: &[&str]) -> Result<Args, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("server").chain(args.iter().copied()))?;
        Ok(match cli.command {
            Some(Command::Serve(args)) => args,
            Some(Command::AdminKey(_)) => panic!("not serving: {args:?}"),
            None => cli.serve,
        })
    }

    #[test]
    fn args_parse() {
        Cli::command().debug_assert();
        for prefix in [&[][..], &["serve"][..]] {
            let line: Vec<&str> = prefix
                .iter()
                .copied()
                .chain([
                    "--listen",
                    "127.0.0.1:0",
                    "--data-dir",
                    "d",
                    "--max-body",
                    "1 MiB",
                ])
                .collect();
            let args = serving(&line).expect("valid");
            assert_eq!(args.max_body, 1 << 20);
            assert_eq!(args.listen, "127.0.0.1:0");
            assert_eq!(args.store.data_dir, Path::new("d"));
        }
        assert_eq!(serving(&[]).expect("defaults").max_body, 8 << 20);

        let cli = Cli::try_parse_from(["server", "admin-key", "--data-dir", "d"]).expect("valid");
        let Some(Command::AdminKey(args)) = cli.command else {
            panic!("admin-key: {cli:?}");
        };
        assert_eq!(args.store.data_dir, Path::new("d"));
        assert!(
            Cli::try_parse_from(["server", "--listen", "127.0.0.1:0", "admin-key"]).is_err(),
            "serving options do not mix with a subcommand"
        );
    }

    #[test]
    fn limits_and_notifications_parse() {
        let args = serving(&[
            "--notify-url",
            "https://hooks.example.com/T0/B0",
            "--max-connections",
            "4",
            "--header-timeout",
            "1s",
            "--body-timeout",
            "500ms",
            "--max-connections-per-client",
            "2",
            "--min-body-rate",
            "100",
            "--body-grace",
            "1s",
        ])
        .expect("valid");
        assert_eq!(
            args.notify_url.as_deref(),
            Some("https://hooks.example.com/T0/B0")
        );
        assert_eq!(args.max_connections, 4);
        assert_eq!(args.header_timeout, Duration::from_secs(1));
        assert_eq!(args.body_timeout, Duration::from_millis(500));
        assert_eq!(args.max_connections_per_client, 2);
        assert_eq!(args.min_body_rate, 100);
        assert_eq!(args.body_grace, Duration::from_secs(1));
        let defaults = serving(&[]).expect("defaults");
        assert_eq!(defaults.max_connections, 512);
        assert_eq!(defaults.max_connections_per_client, 64);
        assert_eq!(defaults.min_body_rate, 1024);
        assert_eq!(defaults.body_grace, Duration::from_secs(5));
        assert_eq!(defaults.header_timeout, Duration::from_secs(10));
        for bad in [
            ["--notify-url", "ftp://hooks.example.com"],
            ["--notify-url", "hooks.example.com"],
            ["--max-connections", "0"],
            ["--max-connections-per-client", "0"],
            ["--min-body-rate", "0"],
            ["--min-body-rate", "fast"],
            ["--body-grace", "0s"],
            ["--header-timeout", "0s"],
            ["--body-timeout", "soon"],
        ] {
            assert!(serving(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn database_urls_and_leases_parse() {
        let args = serving(&[
            "--database-url",
            "postgres://mwctl:pw@db:5432/mwctl",
            "--lease",
            "3s",
        ])
        .expect("valid");
        assert_eq!(
            args.store.database_url.as_deref(),
            Some("postgres://mwctl:pw@db:5432/mwctl")
        );
        assert_eq!(args.lease, Duration::from_secs(3));
        let defaults = serving(&[]).expect("defaults");
        assert_eq!(defaults.lease, Duration::from_secs(10));
        for bad in [
            ["--database-url", "mysql://db/mwctl"],
            ["--database-url", "./mwctl-data/mwctl.db"],
            ["--lease", "100ms"],
            ["--lease", "2h"],
        ] {
            assert!(serving(&bad).is_err(), "{bad:?}");
        }

        // admin-key takes the store's options, not the serving ones.
        let cli = Cli::try_parse_from([
            "server",
            "admin-key",
            "--data-dir",
            "d",
            "--database-url",
            "postgresql://db/mwctl",
        ])
        .expect("valid");
        let Some(Command::AdminKey(args)) = cli.command else {
            panic!("admin-key: {cli:?}");
        };
        assert_eq!(
            args.store.database_url.as_deref(),
            Some("postgresql://db/mwctl")
        );
        assert_eq!(
            args.store.recovery_command(),
            "mwctl-server admin-key --data-dir d --database-url URL"
        );
        for bad in [
            &["admin-key", "--database-url", "mysql://db/mwctl"][..],
            &["admin-key", "--lease", "3s"][..],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("server").chain(bad.iter().copied())).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512kib"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[tokio::test]
    async fn the_first_start_creates_one_admin_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("mwctl.db")).expect("opens");
        let at = StoreArgs {
            data_dir: dir.path().to_owned(),
            database_url: None,
        };
        bootstrap_admin(&store, &at).await.expect("first start");
        let key = std::fs::read_to_string(dir.path().join("admin.key")).expect("written");
        let found = store
            .find_key(&key_digest_hex(&key))
            .await
            .expect("reads")
            .expect("the file holds the stored key");
        assert_eq!(
            found.key.scopes,
            [Scope::Deployments, Scope::Incidents, Scope::Admin]
        );
        bootstrap_admin(&store, &at).await.expect("second start");
        assert_eq!(store.count_keys().await.expect("counts"), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("admin.key")).expect("kept"),
            key
        );
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_written_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.key");
        write_secret(&path, "old").expect("write");
        write_secret(&path, "mwk_x").expect("overwrite");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "mwk_x");
    }
}
