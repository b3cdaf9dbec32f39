//! Every command-line definition. Doc comments are the help text: the first line is the short
//! help, the rest the long help.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::protocol::RepoFilter;
use crate::protocol::admin::{EventStatus, Scope};

const AFTER_HELP: &str = "\
Examples:
  mwctl login --url https://middleware.example.com        # store the server and key once
  mwctl repos link https://github.com/acme/shop            # let the server accept runs of a repo
  mwctl deploy start; s=0; ./deploy.sh || s=$?             # report a deployment, failed ones too:
  mwctl deploy finish --status $s; exit $s                 # exit status 0 = success, else failure
  mwctl send runs.json                                     # backfill exported history

Settings come from flags, then MW_* environment variables, then the config file
(`mwctl config show` tells which). Docs: docs/protocol.md";

/// The exit codes of `deploy start|finish|record`, shown in each one's help.
macro_rules! deploy_exit_codes {
    () => {
        "\
Exit codes:
  0  reported; or not reported, with a warning: by default reporting never fails a deployment.
     A server that is down, slow or refusing, a missing key, or a value that cannot be used
     (MW_TIMEOUT=soon, --status \"\", --meta novalue...) is a warning; a bad value is replaced
     by its default, or the run is not sent when it has none (an unknown status)
  1  only with --strict / MW_STRICT=1: the deployment was not reported, or a value could not
     be used (then nothing is sent)
  2  the command line itself is wrong: a mistyped flag name, a value that starts with - and
     is not a number (write --timeout=-5s instead), or --status / --started-at missing from
     `deploy record`. A flag left without its value (--branch $UNSET) counts as not given

--strict=BOOL and MW_STRICT take 1/0, true/false, yes/no, on/off (any case); empty is unset. Any
other value is a warning and counts as not strict: a deployment fails only when clearly asked to."
    };
}
const DEPLOY_EXIT_CODES: &str = deploy_exit_codes!();

/// The exit codes of `incident open|ack|resolve`: the deploy steps' contract.
const INCIDENT_EXIT_CODES: &str = "\
Exit codes:
  0  reported; or not reported, with a warning: by default reporting never fails the alert hook,
     runbook or rollback job that calls it. A server that is down, slow or refusing, a missing
     key, or a value that cannot be used (MW_TIMEOUT=soon, --type maybe...) is a warning
  1  only with --strict / MW_STRICT=1: the incident was not reported, or a value could not be
     used (then nothing is sent)
  2  the command line itself is wrong: a mistyped flag name, or --key / --title missing from
     `incident open`

--strict=BOOL and MW_STRICT take 1/0, true/false, yes/no, on/off (any case); empty is unset.";

/// `mwctl deploy --help`: how to finish a failed deployment too, and the exit codes.
const DEPLOY_AFTER_HELP: &str = concat!(
    "\
Finish the run whatever happens, or a failed deployment stays PENDING (works under set -e):
  mwctl deploy start; s=0; ./deploy.sh || s=$?
  mwctl deploy finish --status $s; exit $s

",
    deploy_exit_codes!()
);

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

/// Flags every command takes, listed apart from each command's own in its help.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
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
    // An empty MW_CONFIG (an unset pipeline variable) means the default, not a usage error.
    #[arg(long, global = true, env = "MW_CONFIG", value_name = "FILE", value_parser = path_or_empty())]
    pub config: Option<PathBuf>,

    /// CA certificates (PEM) to trust for an https:// server, besides the system's
    ///
    /// For a server whose certificate a private CA signed. The system's CA certificates stay
    /// trusted; SSL_CERT_FILE / SSL_CERT_DIR replace those, as for OpenSSL.
    // Empty (an unset pipeline variable) means none.
    #[arg(long, global = true, env = "MW_CA_CERT", value_name = "FILE", value_parser = path_or_empty())]
    pub ca_cert: Option<PathBuf>,

    /// Output format: text for people, json for scripts (empty: text)
    #[arg(long, short = 'o', global = true, env = "MW_OUTPUT", value_name = "FORMAT", default_value = "text", value_parser = parse_output)]
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

/// `text` or `json` in any case; empty is the default, text (an unset `MW_OUTPUT` in a
/// pipeline must not make every command a usage error).
fn parse_output(s: &str) -> Result<OutputFormat, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "text" => Ok(OutputFormat::Text),
        "json" => Ok(OutputFormat::Json),
        _ => Err(format!("{s:?} is not an output format; use text or json")),
    }
}

/// A path, where an empty value is allowed (and means "not given", see `main`).
fn path_or_empty() -> impl TypedValueParser<Value = PathBuf> {
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
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
    /// the pipeline unless --strict: a server that is down, slow or refusing, or a value that
    /// cannot be used, gives a warning and exit code 0, within --timeout.
    #[command(subcommand, after_help = DEPLOY_AFTER_HELP)]
    Deploy(DeployCommand),

    /// Report an incident from an alert hook, a runbook or a rollback job (open, ack, resolve)
    ///
    /// Incidents give the change failure rate and the time to restore (see `mwctl dora`).
    /// Like the deploy steps, these never fail the caller unless --strict: a server that is
    /// down, slow or refusing, or a value that cannot be used, gives a warning and exit code 0,
    /// within --timeout.
    #[command(subcommand, after_help = INCIDENT_EXIT_CODES)]
    Incident(IncidentCommand),

    /// List stored incidents, newest first (needs an admin key)
    #[command(subcommand)]
    Incidents(IncidentsCommand),

    /// The DORA figures the server computes from stored runs and incidents (needs an admin key)
    ///
    /// Deployment frequency, change failure rate, time to restore and deployment duration, per
    /// interval and in total, each with the counts it was computed from. Lead time for changes
    /// is shown as not available: it needs pull-request data that deployment webhooks do not
    /// carry, and no stand-in figure is given.
    Dora(DoraArgs),

    /// Backfill runs or incidents from a file or stdin, or an export of a CI or incident tool
    ///
    /// Streams the input (any size, in constant memory): a JSON array of runs,
    /// {"workflow_runs": [...]}, NDJSON, a GitHub Actions runs export
    /// (`gh api repos/O/R/actions/runs --paginate`, with or without --slurp) or a GitLab
    /// pipelines or jobs export, told apart by their records. Incidents the same way: a JSON
    /// array, {"incidents": [...]} or NDJSON of incidents, a PagerDuty incidents export
    /// (`GET /incidents` pages) or an Opsgenie alerts export (`GET /v2/alerts` pages), with
    /// --repo for their repository; they go to the incidents endpoint. Each batch of at most 500 runs is
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

    /// Undo what one event wrote, and mark it pruned (needs an admin key)
    ///
    /// Use it to undo a bad backfill or a wrong deployment report. Each run the event wrote is
    /// deleted (it created it), restored to its state before the event (it updated it), or left
    /// as it is when a later event changed it since; the list says which. Re-sending a pruned
    /// event's file stores it again. Asks for confirmation on a terminal unless --yes (off a
    /// terminal, --yes is required); --dry-run lists what would happen.
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
pub enum IncidentCommand {
    /// Report that an incident started (TRIGGERED)
    ///
    /// Remembers the incident (key, provider, title, creation time, repository, deployment)
    /// in a state file, so that `incident ack` and `incident resolve` on the same machine need
    /// only its key.
    ///
    /// Example: mwctl incident open --key INC-42 --title "checkout errors" --deployment 7781
    #[command(after_help = INCIDENT_EXIT_CODES)]
    Open(IncidentOpenArgs),

    /// Report that an incident was acknowledged (ACKNOWLEDGED)
    ///
    /// The protocol needs the incident's title and creation time with every report: they
    /// come from --title and --opened-at, else from what `incident open` remembered on this
    /// machine (the state file), else from the server (GET /api/incidents, when the key also
    /// has the admin scope). Status only moves forward: acknowledging a resolved incident
    /// changes nothing.
    #[command(after_help = INCIDENT_EXIT_CODES)]
    Ack(IncidentUpdateArgs),

    /// Report that an incident was resolved (RESOLVED), at --at or now
    ///
    /// The title and creation time come from --title and --opened-at, else from what
    /// `incident open` remembered on this machine (the state file), else from the server
    /// (GET /api/incidents, when the key also has the admin scope). The time to restore is
    /// the resolution time minus the creation time.
    #[command(after_help = INCIDENT_EXIT_CODES)]
    Resolve(IncidentUpdateArgs),
}

/// What identifies an incident and where it is remembered.
#[derive(Clone, Debug, Args)]
pub struct IncidentIdArgs {
    /// The incident tool that owns the key: pagerduty, opsgenie, zenduty, incident.io, custom...
    #[arg(
        long,
        env = "MW_INCIDENT_PROVIDER",
        value_name = "PROVIDER",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub provider: Option<String>,

    /// Repository URL of the affected service [default: from CI, else `git remote get-url origin`]
    #[arg(
        long,
        env = "MW_REPO",
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub repo: Option<String>,

    /// Where `open` remembers incidents for `ack` and `resolve` [default: <state dir>/mwctl/incidents.json]
    #[arg(long, env = "MW_INCIDENT_STATE_FILE", value_name = "FILE", value_parser = path_or_empty())]
    pub incident_state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IncidentOpenArgs {
    /// The incident's key in its tool (with --provider, its identity), e.g. INC-42
    #[arg(long, value_name = "KEY")]
    pub key: String,

    /// What is wrong, e.g. "checkout errors above 5%"
    #[arg(long, value_name = "TEXT")]
    pub title: String,

    /// The service in the incident tool
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub service: Option<String>,

    /// The deployment that caused it: its run id (workflow_run_unique_id), e.g. the id
    /// `deploy finish` set as its run_id output
    #[arg(long, value_name = "RUN_ID", num_args = 0..=1, default_missing_value = "")]
    pub deployment: Option<String>,

    /// The workflow of --deployment [default: the CI workflow, else deploy]
    #[arg(
        long,
        env = "MW_WORKFLOW",
        value_name = "NAME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub workflow: Option<String>,

    /// Link to the incident in its tool (http or https); not --url, which is the server's
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub incident_url: Option<String>,

    /// incident (counts for the DORA figures) or alert (stored and listed only) [default: incident]
    #[arg(long = "type", value_name = "TYPE", num_args = 0..=1, default_missing_value = "")]
    pub incident_type: Option<String>,

    /// Who is on it (repeatable)
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub assignee: Vec<String>,

    /// When it started (RFC 3339, e.g. 2024-05-01T12:00:00Z) [default: now]
    #[arg(long, value_name = "TIME", num_args = 0..=1, default_missing_value = "")]
    pub at: Option<String>,

    #[command(flatten)]
    pub id: IncidentIdArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct IncidentUpdateArgs {
    /// The incident's key, as `incident open --key` gave it
    #[arg(value_name = "KEY")]
    pub key: String,

    /// When it happened (RFC 3339) [default: now]
    #[arg(long, value_name = "TIME", num_args = 0..=1, default_missing_value = "")]
    pub at: Option<String>,

    /// The incident's title [default: what `incident open` remembered, else the server's]
    #[arg(long, value_name = "TEXT", num_args = 0..=1, default_missing_value = "")]
    pub title: Option<String>,

    /// When the incident was opened (RFC 3339) [default: what `incident open` remembered,
    /// else the server's]
    #[arg(long, value_name = "TIME", num_args = 0..=1, default_missing_value = "")]
    pub opened_at: Option<String>,

    #[command(flatten)]
    pub id: IncidentIdArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List stored incidents, newest first
    List(IncidentsListArgs),
}

#[derive(Debug, Args)]
pub struct IncidentsListArgs {
    /// Only this repository, in any form mwctl prints (case ignored)
    #[arg(long, value_parser = clap::builder::ValueParser::new(parse_repo_filter))]
    pub repo: Option<RepoFilter>,

    /// Only incidents in this state: triggered, acknowledged or resolved (any case)
    #[arg(long, value_parser = clap::builder::ValueParser::new(parse_incident_status))]
    pub status: Option<crate::protocol::incident::IncidentStatus>,

    /// Only incidents created since: an age (90d, 12h), a date (2025-03-01) or an RFC 3339 time
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<DateTime<chrono::Utc>>,

    /// At most this many, fetched page by page; a note says how many more exist
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,

    /// Every matching incident, however many (instead of --limit)
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,

    /// Continue a list: the `next` that `-o json` printed
    #[arg(long, value_name = "NEXT")]
    pub cursor: Option<String>,
}

fn parse_incident_status(s: &str) -> Result<crate::protocol::incident::IncidentStatus, String> {
    crate::protocol::incident::IncidentStatus::parse(s).ok_or_else(|| {
        format!("{s:?} is not an incident status; use triggered, acknowledged or resolved")
    })
}

#[derive(Debug, Args)]
pub struct DoraArgs {
    /// Only this repository, in any form mwctl prints (case ignored)
    #[arg(long, value_parser = clap::builder::ValueParser::new(parse_repo_filter))]
    pub repo: Option<RepoFilter>,

    /// Only the deployments of this workflow (case ignored)
    #[arg(long)]
    pub workflow: Option<String>,

    /// Where the range starts: an age (90d, 4w, 12h), a date (2025-03-01) or an RFC 3339 time;
    /// it ends now
    #[arg(long, value_name = "WHEN", default_value = "90d", value_parser = parse_since)]
    pub since: DateTime<chrono::Utc>,

    /// How the span is cut: day, week (ISO, Monday to Sunday) or month, in UTC
    #[arg(long, default_value = "week", value_parser = clap::builder::ValueParser::new(parse_interval))]
    pub interval: crate::protocol::dora::Interval,
}

/// An age before now, a date or an RFC 3339 time (as the server takes them).
fn parse_since(s: &str) -> Result<DateTime<chrono::Utc>, String> {
    crate::protocol::dora::parse_when(s, chrono::Utc::now())
}

fn parse_interval(s: &str) -> Result<crate::protocol::dora::Interval, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Report that a deployment started (sends a PENDING run)
    ///
    /// Keeps the run's id and start time in a state file that `deploy finish` in the same
    /// job finds.
    #[command(after_help = DEPLOY_EXIT_CODES)]
    Start(StartArgs),

    /// Report that a deployment finished, with its status and duration
    ///
    /// Uses the state `deploy start` left in this job; without it, sends the final status with
    /// the CI's start time when it has one. When no start is known at all, it says so and
    /// sends the finish time without a duration: a server that has the run's PENDING start
    /// keeps that start and works out the duration.
    #[command(after_help = DEPLOY_EXIT_CODES)]
    Finish(FinishArgs),

    /// Report a deployment that already happened, in one request
    ///
    /// Outside CI, the run id derives from the workflow, the repository and the start instant
    /// (whatever its time zone), so recording the same deployment twice updates it.
    #[command(after_help = DEPLOY_EXIT_CODES)]
    Record(RecordArgs),
}

/// What identifies and describes the run. Each defaults to the CI environment, then git.
#[derive(Clone, Debug, Default, Args)]
pub struct RunFieldArgs {
    /// Repository URL [default: from CI, else `git remote get-url origin`]
    #[arg(
        long,
        env = "MW_REPO",
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub repo: Option<String>,

    /// Workflow (deployment pipeline) name [default: the CI workflow or job name]
    #[arg(
        long,
        env = "MW_WORKFLOW",
        value_name = "NAME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub workflow: Option<String>,

    /// Branch deployed; must be the PRs' base branch (e.g. main) for lead time [default: from CI, else git]
    #[arg(
        long,
        env = "MW_BRANCH",
        value_name = "BRANCH",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub branch: Option<String>,

    /// Commit deployed [default: from CI, else `git rev-parse HEAD`]
    #[arg(
        long,
        env = "MW_COMMIT",
        value_name = "SHA",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub commit: Option<String>,

    /// Unique id of this deployment run [default: the CI run id and attempt]
    #[arg(
        long,
        env = "MW_RUN_ID",
        value_name = "ID",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub run_id: Option<String>,

    /// Link to the run [default: the CI run URL]
    #[arg(
        long,
        env = "MW_RUN_URL",
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub run_url: Option<String>,

    /// Who triggered the deployment [default: the CI actor, else $USER]
    #[arg(
        long,
        env = "MW_ACTOR",
        value_name = "NAME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub actor: Option<String>,

    /// Extra metadata stored with the run (repeatable)
    // Deploy commands take their values as text and parse them themselves, so that a bad one
    // is a warning, never a usage error; a flag whose value a pipeline left empty
    // (`--branch $UNSET`) counts as not given.
    #[arg(
        long = "meta",
        value_name = "KEY=VALUE",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub meta: Vec<String>,
}

/// How a pipeline step (deploy, incident) is delivered.
#[derive(Clone, Debug, Args)]
pub struct DeliveryArgs {
    /// Give up after this long, for the whole command (DNS, connect, TLS, retries, answer)
    /// [default: 10s]
    #[arg(
        long,
        env = "MW_TIMEOUT",
        value_name = "DURATION",
        num_args = 0..=1,
        default_missing_value = "",
        allow_negative_numbers = true
    )]
    pub timeout: Option<String>,

    /// Exit 1 when the deployment (or incident) could not be reported (default: warn and exit 0)
    ///
    /// Without it, a missing key, a broken config, a server that is down, slow or refusing
    /// it, or a value that cannot be used only print a warning (an annotation on GitHub
    /// Actions) and exit 0, so reporting never fails a deployment. With it, a value that
    /// cannot be used also stops the command before anything is sent. Takes 1/0, true/false,
    /// yes/no, on/off; empty is unset; anything else is a warning and counts as false.
    #[arg(
        long,
        env = "MW_STRICT",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub strict: Option<String>,

    /// Print each field of the run (or incident), its value and where it came from, and the
    /// request body; send nothing
    #[arg(long, visible_alias = "explain")]
    pub dry_run: bool,
}

/// Where `deploy start` keeps the run for `deploy finish` (deploy steps only).
#[derive(Clone, Debug, Default, Args)]
pub struct StateFileArgs {
    /// Where start keeps the run for finish [default: a file in the CI's temp dir keyed by the job]
    #[arg(long, env = "MW_STATE_FILE", value_name = "FILE", value_parser = path_or_empty())]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub fields: RunFieldArgs,

    /// When the deployment started (RFC 3339, e.g. 2024-05-01T12:00:00Z) [default: now]
    #[arg(
        long,
        value_name = "TIME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub started_at: Option<String>,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub state: StateFileArgs,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    /// How it ended: success, failure or cancelled (also: passed, failed, error, canceled, aborted, an exit code...)
    ///
    /// Takes what CIs say: GitHub's `${{ job.status }}`, GitLab's $CI_JOB_STATUS, Jenkins'
    /// currentBuild.currentResult, Azure's $AGENT_JOBSTATUS, or a command's exit code (0 is
    /// success, any other number failure). Empty counts as not given. [default: the job's
    /// status where the CI tells it (GitLab, Azure, Bitbucket, Buildkite, CodeBuild, Drone,
    /// Woodpecker, Travis)]
    #[arg(
        long,
        env = "MW_STATUS",
        value_name = "STATUS",
        num_args = 0..=1,
        default_missing_value = "",
        allow_negative_numbers = true
    )]
    pub status: Option<String>,

    #[command(flatten)]
    pub fields: RunFieldArgs,

    /// Duration: seconds (90) or a duration (1m30s), at most ten years [default: now minus the
    /// start time]
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        default_missing_value = "",
        allow_negative_numbers = true
    )]
    pub duration: Option<String>,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub state: StateFileArgs,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// How it ended: success, failure, cancelled, or pending (or an exit code: 0 is success)
    #[arg(
        long,
        value_name = "STATUS",
        num_args = 0..=1,
        default_missing_value = "",
        allow_negative_numbers = true
    )]
    pub status: String,

    /// When the deployment started (RFC 3339, e.g. 2024-05-01T12:00:00Z)
    #[arg(
        long,
        value_name = "TIME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub started_at: String,

    /// When it finished; the duration is the difference
    #[arg(
        long,
        value_name = "TIME",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    pub finished_at: Option<String>,

    /// Duration: seconds (90) or a duration (1m30s), at most ten years; wins over
    /// --finished-at
    #[arg(
        long,
        value_name = "DURATION",
        num_args = 0..=1,
        default_missing_value = "",
        allow_negative_numbers = true
    )]
    pub duration: Option<String>,

    #[command(flatten)]
    pub fields: RunFieldArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub state: StateFileArgs,
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
/// `currentBuild.result`, Buildkite's exit states, plain words, and a command's exit code
/// (`--status $?`: 0 is success, any other number failure).
pub fn parse_final_status(s: &str) -> Result<FinalStatus, String> {
    let word = s.trim().to_ascii_lowercase();
    if word.parse::<i64>().is_ok_and(|code| code != 0) {
        return Ok(FinalStatus::Failure);
    }
    match word.as_str() {
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
        "" => Err("no status given (an empty value); use success, failure or cancelled".to_owned()),
        _ => Err(format!(
            "{s:?} is not a final status; use success, failure or cancelled"
        )),
    }
}

/// [`parse_final_status`]'s spellings, and `pending` for a run that has not ended.
pub fn parse_any_status(s: &str) -> Result<crate::protocol::RunStatus, String> {
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
    /// Incidents: a JSON array, {"incidents": [...]}, or one per line
    Incidents,
    /// PagerDuty incidents: `GET /incidents` pages (arrays, pages or lines); needs --repo
    Pagerduty,
    /// Opsgenie alerts: `GET /v2/alerts` pages (arrays, pages or lines); --repo, else a repo:URL tag
    Opsgenie,
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

    /// Repository URL of every run of a GitHub or GitLab export [default: from the export],
    /// or of every incident of a PagerDuty or Opsgenie export (which do not name one)
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

    /// Per-request timeout (at most a day)
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
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

    /// What the key may do (repeatable); admin is for keys, repos, runs, events and prune
    #[arg(long = "scope", value_name = "SCOPE", default_value = "deployments", value_parser = scope_parser())]
    pub scopes: Vec<Scope>,

    /// Lifetime, e.g. 90d or 12h, at most 100 years [default: never expires]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<Duration>,
}

/// The scopes, listed in `--help` and completed by the shells.
fn scope_parser() -> impl clap::builder::TypedValueParser<Value = Scope> {
    clap::builder::PossibleValuesParser::new(Scope::ALL.map(Scope::as_str))
        .try_map(|s| s.parse::<Scope>())
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
    /// Unlink a repository: new runs for it are refused; its stored runs are kept
    ///
    /// Linking it again (`repos link URL`) brings it back with its runs. --delete-runs deletes
    /// its runs (and workflows) too, and marks the events that wrote them PRUNED so that
    /// sending their files again stores them again; it asks for confirmation on a terminal
    /// unless --yes (off a terminal, --yes is required). --dry-run says what would happen.
    Unlink(RepoUnlinkArgs),
}

#[derive(Debug, Args)]
pub struct RepoUnlinkArgs {
    /// The repository's id, as `repos list` shows it
    pub id: String,

    /// Also delete the repository's stored runs and workflows
    #[arg(long)]
    pub delete_runs: bool,

    /// Say what would be kept or deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (with --delete-runs)
    #[arg(long, short)]
    pub yes: bool,
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
    /// Only this repository, in any form mwctl prints: https://host/org/name, host/org/name,
    /// org/name, name or git@host:org/name.git (case ignored)
    #[arg(long, value_parser = clap::builder::ValueParser::new(parse_repo_filter))]
    pub repo: Option<RepoFilter>,

    /// Only this workflow (case ignored)
    #[arg(long)]
    pub workflow: Option<String>,

    /// At most this many, fetched page by page; a note says how many more exist
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,

    /// Every matching run, however many (instead of --limit)
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,

    /// Continue a list: the `next` that `-o json` printed
    #[arg(long, value_name = "NEXT")]
    pub cursor: Option<String>,
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
    /// Only events in this state (any case)
    #[arg(long, ignore_case = true, value_parser = event_status_parser())]
    pub status: Option<EventStatus>,

    /// At most this many, fetched page by page; a note says how many more exist
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,

    /// Every matching event, however many (instead of --limit)
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,

    /// Only events older than this event id; the `next` that `-o json` printed continues a list
    #[arg(long, value_name = "EVENT_ID")]
    pub before: Option<String>,
}

/// The event states, as `events list` shows them, listed in `--help` and completed by the
/// shells.
fn event_status_parser() -> impl clap::builder::TypedValueParser<Value = EventStatus> {
    clap::builder::PossibleValuesParser::new(EventStatus::ALL.map(EventStatus::as_str))
        .try_map(|s| s.parse::<EventStatus>())
}

fn parse_repo_filter(s: &str) -> Result<RepoFilter, String> {
    RepoFilter::parse(s)
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The event whose writes to undo
    pub event_id: String,

    /// List what would be deleted, restored and left; change nothing
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

/// The longest duration any flag takes: 100 years (a key's lifetime). Longer is a typo, and
/// would overflow the clock arithmetic done with it.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// The longest `--timeout`: a day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// `10s`, `500ms`, `90d`, or plain seconds; at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXAMPLES: &str = "use e.g. 10s, 5m, 90d";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("no duration given (an empty value); {EXAMPLES}"));
    }
    if t.starts_with('-') {
        return Err(format!("{s:?} is negative; {EXAMPLES}"));
    }
    let d = match t.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        // Digits that overflow u64 are a number still, just too large.
        Err(_) if t.bytes().all(|b| b.is_ascii_digit()) => MAX_DURATION + Duration::from_secs(1),
        Err(_) => humantime::parse_duration(t)
            .map_err(|e| format!("{s:?} is not a duration ({e}); {EXAMPLES}"))?,
    };
    if d > MAX_DURATION {
        return Err(format!("{s:?} is more than 100 years; {EXAMPLES}"));
    }
    Ok(d)
}

/// A timeout: [`parse_duration`], more than zero and at most [`MAX_TIMEOUT`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "{s:?} would give up before starting; use e.g. 10s or 1m"
        ));
    }
    if d > MAX_TIMEOUT {
        return Err(format!("{s:?} is more than a day; use e.g. 10s or 1m"));
    }
    Ok(d)
}

/// A run's duration in whole seconds (what the protocol carries), from [`parse_duration`]'s
/// forms, at most the protocol's ten years; a fraction of a second is rounded to the nearest
/// second.
pub fn parse_duration_secs(s: &str) -> Result<i64, String> {
    let too_long = || {
        format!(
            "{s:?} is more than ten years, the longest duration a run may have; give it in \
             seconds (90) or as a duration (1m30s)"
        )
    };
    let d = parse_duration(s).map_err(|e| {
        if e.contains("more than 100 years") {
            too_long()
        } else {
            e
        }
    })?;
    let secs = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    i64::try_from(secs)
        .ok()
        .filter(|secs| *secs <= crate::protocol::validate::MAX_DURATION_SECS)
        .ok_or_else(too_long)
}

/// A timestamp with an offset (RFC 3339, or the space-separated form some CIs print).
pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    crate::protocol::validate::parse_timestamp(s).ok_or_else(|| {
        if s.trim().is_empty() {
            "no time given (an empty value); use e.g. 2024-05-01T12:00:00Z".to_owned()
        } else {
            format!("{s:?} is not a timestamp with an offset; use e.g. 2024-05-01T12:00:00Z")
        }
    })
}

/// `KEY=VALUE`, with a non-empty key.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE; use e.g. --meta env=production"
        )),
    }
}

/// A boolean as CIs and people spell it: 1/0, true/false, yes/no, on/off, in any case. Empty
/// is `None` (unset): that is what an undefined `${{ vars.MW_STRICT }}` expands to.
pub fn parse_bool(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(format!(
            "{s:?} is not a boolean; use 1 or 0 (or true/false, yes/no, on/off)"
        )),
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
                assert_eq!(args.status.as_deref(), Some("Passed"));
                assert_eq!(args.fields.workflow.as_deref(), Some("w"));
                assert_eq!(
                    args.delivery.timeout, None,
                    "the command applies the default"
                );
                assert_eq!(args.delivery.strict, None);
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
        use clap::error::ErrorKind;
        for (argv, kind, says) in [
            (
                &["mwctl", "send", "f.json", "--batch-size", "501"][..],
                ErrorKind::ValueValidation,
                "501 is not in 1..=500",
            ),
            (
                &["mwctl", "send", "f.json", "--batch-size", "0"],
                ErrorKind::ValueValidation,
                "0 is not in 1..=500",
            ),
            (
                &["mwctl", "send", "f.json", "--concurrency", "0"],
                ErrorKind::ValueValidation,
                "0 is not in 1..=64",
            ),
            (
                &["mwctl", "send", "f.json", "--timeout", "0"],
                ErrorKind::ValueValidation,
                "would give up before starting",
            ),
            (
                &["mwctl", "send", "f.json", "--skip-invalid"],
                ErrorKind::MissingRequiredArgument,
                "--rejects <FILE>",
            ),
            (
                &["mwctl", "send", "f.json", "--rejects", "r.ndjson"],
                ErrorKind::MissingRequiredArgument,
                "--skip-invalid",
            ),
            (
                &["mwctl", "send", "f.json", "--format", "csv"],
                ErrorKind::InvalidValue,
                "[possible values: auto, json, ndjson, github, gitlab, incidents, pagerduty, opsgenie]",
            ),
            (
                &["mwctl", "keys", "create", "--name", "x", "--scope", "root"],
                ErrorKind::InvalidValue,
                "[possible values: deployments, incidents, admin]",
            ),
            (
                &[
                    "mwctl",
                    "keys",
                    "create",
                    "--name",
                    "x",
                    "--expires",
                    "100000000000d",
                ],
                ErrorKind::ValueValidation,
                "is more than 100 years; use e.g. 10s, 5m, 90d",
            ),
            (
                &["mwctl", "events", "list", "--status", "lost"],
                ErrorKind::InvalidValue,
                "[possible values: WAITING, RUNNING, SUCCESS, FAILURE, REJECTED, PRUNED]",
            ),
            (
                &["mwctl", "-q", "-v", "keys", "list"],
                ErrorKind::ArgumentConflict,
                "cannot be used with",
            ),
            // Deploy steps: only the shape of the command line is clap's business.
            (
                &["mwctl", "deploy", "finish", "--stauts", "success"],
                ErrorKind::UnknownArgument,
                "--stauts",
            ),
            (
                &["mwctl", "deploy", "record", "--status", "success"],
                ErrorKind::MissingRequiredArgument,
                "--started-at [<TIME>]",
            ),
        ] {
            let err = Cli::try_parse_from(argv).expect_err(&format!("{argv:?}"));
            assert_eq!(err.kind(), kind, "{argv:?}: {err}");
            let text = err.to_string();
            assert!(text.contains(says), "{argv:?}: {text}");
        }
    }

    #[test]
    fn deploy_values_are_the_commands_to_judge() {
        // Each of these comes from a pipeline variable or expression as often as from a
        // person: the command warns (tests/deploy.rs), clap must not refuse them.
        for argv in [
            &["mwctl", "deploy", "finish", "--status", "maybe"][..],
            &["mwctl", "deploy", "finish", "--status", ""],
            &["mwctl", "deploy", "finish", "--duration", "-5"],
            &["mwctl", "deploy", "finish", "--duration", "a while"],
            &[
                "mwctl",
                "deploy",
                "finish",
                "--duration",
                "18446744073709551615",
            ],
            &["mwctl", "deploy", "start", "--timeout", "soon"],
            &["mwctl", "deploy", "start", "--meta", "novalue"],
            &["mwctl", "deploy", "start", "--started-at", "yesterday"],
            &["mwctl", "deploy", "start", "--strict=maybe"],
            &["mwctl", "deploy", "start", "--strict="],
            &[
                "mwctl",
                "deploy",
                "record",
                "--status",
                "",
                "--started-at",
                "yesterday",
                "--finished-at",
                "later",
                "--duration",
                "5",
            ],
        ] {
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!("{argv:?}: {e}");
            }
        }
        let strict = |argv: &[&str]| match Cli::try_parse_from(argv).expect("parses").command {
            Command::Deploy(DeployCommand::Start(args)) => args.delivery.strict,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            strict(&["mwctl", "deploy", "start", "--strict"]).as_deref(),
            Some("true")
        );
        assert_eq!(
            strict(&["mwctl", "deploy", "start", "--strict=no"]).as_deref(),
            Some("no")
        );
        assert_eq!(strict(&["mwctl", "deploy", "start"]), None);
    }

    #[test]
    fn booleans_in_every_usual_spelling() {
        for s in ["1", "true", "TRUE", "Yes", "on", " ON "] {
            assert_eq!(parse_bool(s), Ok(Some(true)), "{s}");
        }
        for s in ["0", "false", "False", "no", "OFF"] {
            assert_eq!(parse_bool(s), Ok(Some(false)), "{s}");
        }
        assert_eq!(parse_bool(""), Ok(None));
        assert_eq!(parse_bool("  "), Ok(None));
        let err = parse_bool("maybe").expect_err("not a boolean");
        assert!(err.contains("use 1 or 0"), "{err}");
    }

    #[test]
    fn durations_are_seconds_or_humane() {
        for (given, secs) in [("90", 90), ("1m30s", 90), ("2h", 7200), ("1500ms", 2)] {
            assert_eq!(parse_duration_secs(given), Ok(secs), "{given}");
        }
        for (given, says) in [
            ("soon", "use e.g. 10s"),
            ("-5", "is negative"),
            ("", "no duration given"),
            ("18446744073709551615", "more than ten years"),
            ("99999999999999999999999", "more than ten years"),
            ("3661d", "more than ten years"),
        ] {
            let err = parse_duration_secs(given).expect_err(given);
            assert!(err.contains(says), "{given}: {err}");
        }
        assert_eq!(parse_duration_secs("3650d"), Ok(3650 * 86400));
        assert!(parse_duration("36600d").is_ok());
        assert!(parse_duration("36601d").is_err());
        assert!(parse_timeout("1d").is_ok());
        assert!(parse_timeout("25h").is_err());
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
        // An exit code, as in `--status $?`.
        assert_eq!(parse_final_status("0"), Ok(FinalStatus::Success));
        assert_eq!(parse_final_status("1"), Ok(FinalStatus::Failure));
        assert_eq!(parse_final_status("137"), Ok(FinalStatus::Failure));
        assert!(parse_final_status("").is_err());
    }
}
