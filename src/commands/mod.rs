//! One module per verb. Each exposes `run(args, &Ctx) -> anyhow::Result<ExitStatus>`.

pub mod completions;
pub mod config;
mod confirm;
pub mod deploy;
pub mod dora;
pub mod events;
pub mod incident;
pub mod incidents;
pub mod keys;
pub mod login;
mod paging;
pub mod prune;
pub mod repos;
pub mod runs;
pub mod send;
mod step;
pub mod validate;

use std::time::Duration;

use crate::cli::{
    Cli, Command, ConfigCommand, DeployCommand, EventsCommand, IncidentCommand, IncidentsCommand,
    KeysCommand, ReposCommand, RunsCommand,
};
use crate::client::Client;
use crate::report::Printer;
use crate::settings::Settings;

/// How a command ended, as the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0
    Success,
    /// 1: the command ran and something was not done.
    Failure,
    /// 2: the command could not run as asked (bad input, missing confirmation).
    Usage,
    /// 130: stopped by Ctrl-C (the shells' convention for SIGINT).
    Interrupted,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => std::process::ExitCode::SUCCESS,
            ExitStatus::Failure => std::process::ExitCode::from(1),
            ExitStatus::Usage => std::process::ExitCode::from(2),
            ExitStatus::Interrupted => std::process::ExitCode::from(130),
        }
    }
}

/// What every command gets: resolved settings and the printer.
pub struct Ctx {
    pub settings: Settings,
    pub printer: Printer,
}

/// Default per-request timeout for admin calls.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Ctx {
    /// A client for the configured server and key, or an error saying how to configure them.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<Client> {
        let url = self.settings.require_url()?;
        let key = self.settings.require_key()?;
        if let Some(url) = &self.settings.url {
            self.printer
                .verbose(format!("server {} (from {})", url.value, url.source));
        }
        Client::new(url, key.clone(), timeout, self.settings.ca_cert.as_deref())
    }
}

/// The one dispatch point.
pub async fn run(cli: Cli, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Login(args) => login::run(args, ctx).await,
        Command::Config(ConfigCommand::Show) => config::show(ctx),
        Command::Config(ConfigCommand::Path) => config::path(ctx),
        Command::Deploy(DeployCommand::Start(args)) => deploy::start::run(args, ctx).await,
        Command::Deploy(DeployCommand::Finish(args)) => deploy::finish::run(args, ctx).await,
        Command::Deploy(DeployCommand::Record(args)) => deploy::record::run(args, ctx).await,
        Command::Incident(IncidentCommand::Open(args)) => incident::open(args, ctx).await,
        Command::Incident(IncidentCommand::Ack(args)) => incident::ack(args, ctx).await,
        Command::Incident(IncidentCommand::Resolve(args)) => incident::resolve(args, ctx).await,
        Command::Incidents(IncidentsCommand::List(args)) => incidents::list(args, ctx).await,
        Command::Dora(args) => dora::run(args, ctx).await,
        Command::Send(args) => send::run(args, ctx).await,
        Command::Validate(args) => validate::run(args, ctx),
        Command::Keys(KeysCommand::Create(args)) => keys::create(args, ctx).await,
        Command::Keys(KeysCommand::List) => keys::list(ctx).await,
        Command::Keys(KeysCommand::Revoke(args)) => keys::revoke(args, ctx).await,
        Command::Repos(ReposCommand::Link(args)) => repos::link(args, ctx).await,
        Command::Repos(ReposCommand::List) => repos::list(ctx).await,
        Command::Repos(ReposCommand::Unlink(args)) => repos::unlink(args, ctx).await,
        Command::Runs(RunsCommand::List(args)) => runs::list(args, ctx).await,
        Command::Events(EventsCommand::List(args)) => events::list(args, ctx).await,
        Command::Events(EventsCommand::Show(args)) => events::show(args, ctx).await,
        Command::Prune(args) => prune::run(args, ctx).await,
        Command::Completions(args) => completions::run(args),
    }
}
