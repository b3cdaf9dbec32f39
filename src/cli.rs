//! Every command-line definition. Doc comments are the help text: the first line is the short
//! help, the rest the long help.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::protocol::admin::{EventStatus, Scope};

const AFTER_HELP: &str = "\
Examples:
  mwctl login --url https://middleware.example.com        # store the server and key once
  mwctl repos link https://github.com/acme/shop            # let the server accept runs of a repo
  mwctl deploy start && ./deploy.sh && mwctl deploy finish --status success
  mwctl send runs.json                                     # backfill exported history

Settings come from flags, then MW_* environment variables, then the config file
(`mwctl config show` tells which). Docs: docs/protocol.md";

/// Send deployments from any CI to Middleware, the open-source DORA metrics platform.
///
/// mwctl reports each deployment (start, finish, or a past one) as a workflow run to
/// Middleware's webhook, so Deployment Frequency and Lead Time are right whatever CI deploys.
/// It also backfills history from exported JSON and manages keys, linked repos and events.
#[derive(Debug, Parser)]
#[command(name = "mwctl", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Middleware server URL, e.g. https://middleware.example.com
    #[arg(long, global = true, env = "MW_URL", value_name = "URL")]
    pub url: Option<String>,

    /// API key (prefer MW_API_KEY or `mwctl login`: flags show up in process lists)
    #[arg(
        long,
        global = true,
        env = "MW_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,

    /// Profile of the config file to use [default: default]
    #[arg(long, global = true, env = "MW_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Config file [default: <config dir>/mwctl/config.toml]
    #[arg(long, global = true, env = "MW_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Output format: text for people, json for scripts
    #[arg(long, short = 'o', global = true, value_enum, env = "MW_OUTPUT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only data and errors
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more detail (requests, retries, where each setting came from)
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save the server URL and an API key in the config file
    ///
    /// Checks that the server answers and accepts the key, then writes them to the profile
    /// (file mode 0600). The key is read from --api-key-stdin, MW_API_KEY / --api-key, or a
    /// hidden prompt on a terminal.
    Login(LoginArgs),

    /// Show or locate the configuration
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Report a deployment from a pipeline (start, finish, or one that already happened)
    ///
    /// Fields come from flags, else the CI environment, else git. These commands never fail
    /// the pipeline unless --strict: a server that is down, slow or refusing gives a warning
    /// and exit code 0, within --timeout.
    #[command(subcommand)]
    Deploy(DeployCommand),

    /// Backfill runs from a file or stdin: a runs file, or a GitHub / GitLab export
    ///
    /// Streams the input (any size, in constant memory): a JSON array of runs,
    /// {"workflow_runs": [...]}, NDJSON, a GitHub Actions runs export
    /// (`gh api repos/O/R/actions/runs --paginate`, with or without --slurp) or a GitLab
    /// pipelines or jobs export, told apart by their records. Each batch of at most 500 runs is
    /// validated with the server's rules, then sent, signed, with --concurrency requests in
    /// flight; failed requests are retried with backoff. Each run goes out with one
    /// repository URL in canonical form (https://host/org/name), as upstream Middleware needs.
    ///
    /// Every batch carries a webhook-id derived from its position and content, so a batch sent
    /// twice is stored once. A checkpoint records the batches the server acknowledged: after an
    /// interruption (Ctrl-C, a crash, a server restart), run the same command with --resume.
    ///
    /// By default the first invalid run stops the send before its batch; --skip-invalid
    /// --rejects FILE sets invalid runs aside and sends the rest. Exits non-zero when any valid
    /// run was not accepted (130 after Ctrl-C), saying what remains and the command that
    /// sends it.
    Send(SendArgs),

    /// Check a runs file or export against the protocol's rules, offline
    ///
    /// Reads the same formats as `send`, in constant memory, and lists every invalid run by
    /// record number (from 0, as `jq '.[N]'` counts).
    Validate(ValidateArgs),

    /// Manage API keys (needs an admin key)
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Manage linked repositories: the server accepts runs only for these (needs an admin key)
    #[command(subcommand)]
    Repos(ReposCommand),

    /// List stored runs (needs an admin key)
    #[command(subcommand)]
    Runs(RunsCommand),

    /// Inspect received webhook events (needs an admin key)
    #[command(subcommand)]
    Events(EventsCommand),

    /// Delete the runs one event wrote, and mark it pruned (needs an admin key)
    ///
    /// Use it to undo a bad backfill or a wrong deployment report. Asks for confirmation on a
    /// terminal unless --yes; --dry-run lists what would be deleted.
    Prune(PruneArgs),

    /// Print a shell completion script
    ///
    /// Example: mwctl completions bash > /etc/bash_completion.d/mwctl
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Read the API key from the first line of standard input
    #[arg(long)]
    pub api_key_stdin: bool,

    /// Save without checking the key against the server
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the settings in effect and where each comes from (the key is redacted)
    Show,
    /// Print the config file's path
    Path,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Report that a deployment started (sends a PENDING run)
    ///
    /// Keeps the run's id and start time in a state file that `deploy finish` in the same
    /// job finds.
    Start(StartArgs),

    /// Report that a deployment finished, with its status and duration
    ///
    /// Uses the state `deploy start` left in this job; without it, sends the final status with
    /// the CI's start time when it has one (the server then works out the duration from the
    /// PENDING run when there is one).
    Finish(FinishArgs),

    /// Report a deployment that already happened, in one request
    Record(RecordArgs),
}

/// What identifies and describes the run. Each defaults to the CI environment, then git.
#[derive(Clone, Debug, Default, Args)]
pub struct RunFieldArgs {
    /// Repository URL [default: from CI, else `git remote get-url origin`]
    #[arg(long, env = "MW_REPO", value_name = "URL")]
    pub repo: Option<String>,

    /// Workflow (deployment pipeline) name [default: the CI workflow or job name]
    #[arg(long, env = "MW_WORKFLOW", value_name = "NAME")]
    pub workflow: Option<String>,

    /// Branch deployed; must be the PRs' base branch (e.g. main) for lead time [default: from CI, else git]
    #[arg(long, env = "MW_BRANCH", value_name = "BRANCH")]
    pub branch: Option<String>,

    /// Commit deployed [default: from CI, else `git rev-parse HEAD`]
    #[arg(long, env = "MW_COMMIT", value_name = "SHA")]
    pub commit: Option<String>,

    /// Unique id of this deployment run [default: the CI run id and attempt]
    #[arg(long, env = "MW_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,

    /// Link to the run [default: the CI run URL]
    #[arg(long, env = "MW_RUN_URL", value_name = "URL")]
    pub run_url: Option<String>,

    /// Who triggered the deployment [default: the CI actor, else $USER]
    #[arg(long, env = "MW_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,

    /// Extra metadata stored with the run (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub meta: Vec<(String, String)>,
}

/// How a deploy command is delivered.
#[derive(Clone, Debug, Args)]
pub struct DeliveryArgs {
    /// Give up after this long, for the whole command (DNS, connect, TLS, retries, answer)
    #[arg(long, env = "MW_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Exit non-zero when the deployment could not be reported (default: warn and exit 0)
    ///
    /// Without it, a missing key, a broken config, a server that is down, slow or refusing
    /// the run only print a warning (an annotation on GitHub Actions) and exit 0, so reporting
    /// never fails a deployment.
    #[arg(long, env = "MW_STRICT")]
    pub strict: bool,

    /// Print each field of the run, its value and where it came from, and the request body;
    /// send nothing
    #[arg(long, visible_alias = "explain")]
    pub dry_run: bool,

    /// Where start keeps the run for finish [default: a file in the CI's temp dir keyed by the job]
    #[arg(long, env = "MW_STATE_FILE", value_name = "FILE")]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub fields: RunFieldArgs,

    /// When the deployment started [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub started_at: Option<DateTime<FixedOffset>>,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    /// How it ended: success, failure or cancelled (also: passed, failed, error, canceled, aborted...)
    ///
    /// Takes what CIs say: GitHub's `${{ job.status }}`, GitLab's $CI_JOB_STATUS, Jenkins'
    /// currentBuild.currentResult, Azure's $AGENT_JOBSTATUS. [default: the job's status where
    /// the CI tells it (GitLab, Azure, Bitbucket, Buildkite, CodeBuild, Drone, Woodpecker,
    /// Travis)]
    #[arg(long, env = "MW_STATUS", value_parser = parse_final_status)]
    pub status: Option<FinalStatus>,

    #[command(flatten)]
    pub fields: RunFieldArgs,

    /// Duration: seconds (90) or a duration (1m30s) [default: now minus the start time]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
    pub duration: Option<u64>,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// How it ended: success, failure, cancelled, or pending
    #[arg(long, value_parser = parse_any_status)]
    pub status: crate::protocol::RunStatus,

    /// When the deployment started (RFC 3339, e.g. 2024-05-01T12:00:00Z)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub started_at: DateTime<FixedOffset>,

    /// When it finished; the duration is the difference
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "duration")]
    pub finished_at: Option<DateTime<FixedOffset>>,

    /// Duration: seconds (90) or a duration (1m30s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_secs)]
    pub duration: Option<u64>,

    #[command(flatten)]
    pub fields: RunFieldArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// A final deployment status, from any common spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalStatus {
    Success,
    Failure,
    Cancelled,
}

impl From<FinalStatus> for crate::protocol::RunStatus {
    fn from(status: FinalStatus) -> Self {
        match status {
            FinalStatus::Success => crate::protocol::RunStatus::Success,
            FinalStatus::Failure => crate::protocol::RunStatus::Failure,
            FinalStatus::Cancelled => crate::protocol::RunStatus::Cancelled,
        }
    }
}

/// Accepts the spellings CIs use: GitHub's `job.status`, GitLab's `CI_JOB_STATUS`, Jenkins'
/// `currentBuild.result`, Buildkite's exit states and plain words.
pub fn parse_final_status(s: &str) -> Result<FinalStatus, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "success"
        | "succeeded"
        | "successful"
        | "passed"
        | "pass"
        | "ok"
        | "done"
        | "0"
        | "succeededwithissues"
        | "partiallysucceeded" => Ok(FinalStatus::Success),
        "failure" | "failed" | "fail" | "error" | "errored" | "broken" | "unstable"
        | "timed_out" | "timedout" | "timeout" => Ok(FinalStatus::Failure),
        "cancelled" | "canceled" | "cancel" | "aborted" | "abort" | "stopped" | "skipped"
        | "not_built" => Ok(FinalStatus::Cancelled),
        "running" | "pending" | "in_progress" | "started" | "created" => Err(format!(
            "{s:?} is not a final status: the job is still running. Run deploy finish where \
             the CI knows the outcome (GitLab: after_script; GitHub: a step with if: always()), \
             or use success, failure or cancelled"
        )),
        _ => Err(format!(
            "{s:?} is not a final status; use success, failure or cancelled"
        )),
    }
}

fn parse_any_status(s: &str) -> Result<crate::protocol::RunStatus, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "pending" | "running" | "started" | "in_progress" => {
            Ok(crate::protocol::RunStatus::Pending)
        }
        _ => parse_final_status(s).map(Into::into),
    }
}

/// The format of a runs file or export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Detect it from the first bytes
    Auto,
    /// A JSON array of runs, or {"workflow_runs": [...]}
    Json,
    /// One run per line (JSON Lines)
    Ndjson,
    /// GitHub Actions runs: `gh api repos/O/R/actions/runs --paginate` (pages, arrays or lines)
    Github,
    /// GitLab pipelines: the pipelines API's objects (arrays, pages or lines)
    Gitlab,
}

/// Where runs come from and how to read them.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The runs file or export; - reads stdin
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Input format
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,

    /// Repository URL of every run of a GitHub or GitLab export [default: from the export]
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,

    /// Workflow name of every run of a GitHub or GitLab export [default: the run's name]
    ///
    /// GitLab's pipelines API lists no workflow name unless pipelines are named: pass the name
    /// of the deployment pipeline, e.g. --workflow-name deploy.
    #[arg(long, value_name = "NAME")]
    pub workflow_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Runs per request (at most 500)
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch_size: u16,

    /// Requests in flight at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Compress request bodies with gzip (saves bandwidth on slow links, costs CPU)
    #[arg(long)]
    pub compress: bool,

    /// Set invalid runs aside (in --rejects) and send the valid ones
    ///
    /// Without it, the first invalid run stops the send before its batch. Runs in batches the
    /// server rejects are set aside too.
    #[arg(long, requires = "rejects")]
    pub skip_invalid: bool,

    /// With --skip-invalid: write each run set aside, with its reasons, to FILE (NDJSON)
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    pub rejects: Option<PathBuf>,

    /// Skip the batches the server already acknowledged, per this file's checkpoint
    ///
    /// The checkpoint is kept in <state dir>/mwctl/checkpoints while a send is incomplete and
    /// removed once everything was accepted. Pass the same --format, --batch-size, --repo and
    /// --workflow-name as the interrupted send: they decide the batches. Without --resume
    /// everything is sent again, and the server recognises the batches it already has.
    #[arg(long)]
    pub resume: bool,

    /// Read and validate everything, build the requests, send nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Per-request timeout
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is shown once
    ///
    /// Example: mwctl keys create --name gitlab-ci --scope deployments --expires 90d
    Create(KeyCreateArgs),
    /// List keys (prefix, scopes, last use; never the key)
    List,
    /// Revoke a key; it stops working on its next request
    Revoke(IdArg),
}

#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// A name that says where the key is used, e.g. gitlab-ci
    #[arg(long)]
    pub name: String,

    /// What the key may do (repeatable): deployments, incidents, admin
    #[arg(long = "scope", value_name = "SCOPE", default_value = "deployments", value_parser = clap::builder::ValueParser::new(parse_scope))]
    pub scopes: Vec<Scope>,

    /// Lifetime, e.g. 90d or 12h [default: never expires]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<Duration>,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The id, as `list` shows it
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum ReposCommand {
    /// Link a repository, e.g. https://github.com/acme/shop
    Link(RepoLinkArgs),
    /// List linked repositories
    List,
    /// Unlink a repository; runs for it are then refused
    Unlink(IdArg),
}

#[derive(Debug, Args)]
pub struct RepoLinkArgs {
    /// Repository URL (https://host/org/name or git@host:org/name.git)
    #[arg(value_name = "URL")]
    pub repo_url: String,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List stored runs, newest first
    List(RunsListArgs),
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Only this repository (org/name or URL)
    #[arg(long)]
    pub repo: Option<String>,

    /// Only this workflow
    #[arg(long)]
    pub workflow: Option<String>,

    /// At most this many
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List events, newest first
    List(EventsListArgs),
    /// Show one event: the request, the answer, the error and the runs it wrote
    Show(IdArg),
}

#[derive(Debug, Args)]
pub struct EventsListArgs {
    /// Only events in this state
    #[arg(long, value_parser = clap::builder::ValueParser::new(parse_event_status))]
    pub status: Option<EventStatus>,

    /// At most this many
    #[arg(long, default_value_t = 50)]
    pub limit: u32,

    /// Only events older than this event id (for paging)
    #[arg(long, value_name = "EVENT_ID")]
    pub before: Option<String>,
}

fn parse_event_status(s: &str) -> Result<EventStatus, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The event whose runs to delete
    pub event_id: String,

    /// List what would be deleted; delete nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

/// `10s`, `500ms`, `90d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); use e.g. 10s, 5m, 90d"))
}

/// A run's duration in whole seconds (what the protocol carries), from [`parse_duration`]'s
/// forms; a fraction of a second is rounded to the nearest second.
fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let d = parse_duration(s)?;
    Ok(d.as_secs() + u64::from(d.subsec_millis() >= 500))
}

fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    crate::protocol::validate::parse_timestamp(s).ok_or_else(|| {
        format!("{s:?} is not a timestamp with an offset; use e.g. 2024-05-01T12:00:00Z")
    })
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_common_invocations() {
        let cli = Cli::try_parse_from([
            "mwctl",
            "deploy",
            "finish",
            "--status",
            "Passed",
            "--workflow",
            "w",
            "-o",
            "json",
        ])
        .expect("parses");
        assert_eq!(cli.global.output, OutputFormat::Json);
        match cli.command {
            Command::Deploy(DeployCommand::Finish(args)) => {
                assert_eq!(args.status, Some(FinalStatus::Success));
                assert_eq!(args.fields.workflow.as_deref(), Some("w"));
                assert_eq!(args.delivery.timeout, Duration::from_secs(10));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "mwctl",
            "keys",
            "create",
            "--name",
            "ci",
            "--scope",
            "admin",
            "--scope",
            "deployments",
            "--expires",
            "90d",
        ])
        .expect("parses");
        match cli.command {
            Command::Keys(KeysCommand::Create(args)) => {
                assert_eq!(args.scopes, [Scope::Admin, Scope::Deployments]);
                assert_eq!(args.expires, Some(Duration::from_secs(90 * 86400)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn positional_repo_url_does_not_shadow_the_global_url() {
        let cli = Cli::try_parse_from([
            "mwctl",
            "--url",
            "http://server",
            "repos",
            "link",
            "https://github.com/a/b",
        ])
        .expect("parses");
        assert_eq!(cli.global.url.as_deref(), Some("http://server"));
        match cli.command {
            Command::Repos(ReposCommand::Link(args)) => {
                assert_eq!(args.repo_url, "https://github.com/a/b")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_values() {
        for argv in [
            &["mwctl", "deploy", "finish", "--status", "maybe"][..],
            &["mwctl", "send", "f.json", "--batch-size", "501"],
            &["mwctl", "send", "f.json", "--batch-size", "0"],
            &["mwctl", "send", "f.json", "--concurrency", "0"],
            &["mwctl", "send", "f.json", "--skip-invalid"],
            &["mwctl", "send", "f.json", "--rejects", "r.ndjson"],
            &["mwctl", "send", "f.json", "--format", "csv"],
            &["mwctl", "keys", "create", "--name", "x", "--scope", "root"],
            &["mwctl", "events", "list", "--status", "lost"],
            &[
                "mwctl",
                "deploy",
                "record",
                "--status",
                "success",
                "--started-at",
                "yesterday",
            ],
            &["mwctl", "deploy", "start", "--timeout", "soon"],
            &["mwctl", "deploy", "finish", "--duration", "-5"],
            &["mwctl", "deploy", "finish", "--duration", "a while"],
            &["mwctl", "deploy", "start", "--meta", "novalue"],
            &["mwctl", "-q", "-v", "keys", "list"],
        ] {
            assert!(Cli::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn durations_are_seconds_or_humane() {
        for (given, secs) in [("90", 90), ("1m30s", 90), ("2h", 7200), ("1500ms", 2)] {
            assert_eq!(parse_duration_secs(given), Ok(secs), "{given}");
        }
        let err = parse_duration_secs("soon").expect_err("not a duration");
        assert!(err.contains("use e.g. 10s"), "{err}");
    }

    #[test]
    fn send_options() {
        let cli = Cli::try_parse_from([
            "mwctl",
            "send",
            "pipelines.json",
            "--format",
            "gitlab",
            "--repo",
            "https://gitlab.com/a/b",
            "--workflow-name",
            "deploy",
            "--skip-invalid",
            "--rejects",
            "rejects.ndjson",
            "--resume",
            "--compress",
        ])
        .expect("parses");
        match cli.command {
            Command::Send(args) => {
                assert_eq!(args.input.format, InputFormat::Gitlab);
                assert_eq!(args.input.workflow_name.as_deref(), Some("deploy"));
                assert_eq!(args.concurrency, 4);
                assert_eq!(args.batch_size, 500);
                assert!(args.skip_invalid && args.resume && args.compress);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn status_spellings() {
        for (s, want) in [
            ("success", FinalStatus::Success),
            ("SUCCEEDED", FinalStatus::Success),
            ("failed", FinalStatus::Failure),
            ("error", FinalStatus::Failure),
            ("cancelled", FinalStatus::Cancelled),
            ("canceled", FinalStatus::Cancelled),
            ("ABORTED", FinalStatus::Cancelled),
            // Jenkins' currentBuild.result
            ("UNSTABLE", FinalStatus::Failure),
            ("NOT_BUILT", FinalStatus::Cancelled),
            // Azure's Agent.JobStatus
            ("SucceededWithIssues", FinalStatus::Success),
            ("Canceled", FinalStatus::Cancelled),
            // GitHub's job.status, GitLab's CI_JOB_STATUS
            ("cancelled", FinalStatus::Cancelled),
            ("failed", FinalStatus::Failure),
        ] {
            assert_eq!(parse_final_status(s), Ok(want), "{s}");
        }
        let running = parse_final_status("running").expect_err("not final");
        assert!(running.contains("after_script"), "{running}");
    }
}
