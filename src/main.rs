//! Thin: parse, resolve settings, dispatch, map the outcome to an exit code.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use mwctl::cli::{Cli, OutputFormat};
use mwctl::commands::{self, Ctx, ExitStatus};
use mwctl::report::{Printer, Verbosity, inert};
use mwctl::settings::{Given, Inputs, Settings};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let given = |id: &str| match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => Given::Env,
        _ => Given::Flag,
    };
    let (url_given, key_given) = (given("url"), given("api_key"));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };

    let verbosity = if cli.global.quiet {
        Verbosity::Quiet
    } else if cli.global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let printer = Printer::new(verbosity, cli.global.output == OutputFormat::Json);
    let settings = Settings::resolve(Inputs {
        url: cli.global.url.clone().map(|u| (u, url_given)),
        api_key: cli.global.api_key.clone().map(|k| (k, key_given)),
        // Empty variables (unset in a pipeline expression) count as not given.
        profile: cli.global.profile.clone().filter(|p| !p.trim().is_empty()),
        config: cli
            .global
            .config
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
        ca_cert: cli
            .global
            .ca_cert
            .clone()
            .filter(|p| !p.as_os_str().is_empty()),
    });
    // Once per run, whatever the command: the key in the file is what is at risk.
    if let Some(warning) = &settings.config_exposed {
        printer.warn(warning);
    }
    let ctx = Ctx { settings, printer };

    // One thread is plenty for a CLI and starts fastest; `send` spawns its own workers.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::run(cli, &ctx));
    // Do not wait for blocking work left behind: a DNS lookup abandoned at the deadline
    // (getaddrinfo runs on a blocking thread) must not hold the process past --timeout.
    runtime.shutdown_background();
    match result {
        Ok(status) => status.into(),
        Err(e) => report_error(&e),
    }
}

/// Prints the cause chain to stderr, made inert (an error may quote the server or an input
/// file); a closed stdout (`mwctl ... | head`) is not an error.
fn report_error(e: &anyhow::Error) -> ExitCode {
    let broken_pipe = e.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
            });
        io_kind == Some(std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitStatus::Success.into();
    }
    let shown = |s: String| inert::text(&s).into_owned();
    eprintln!("error: {}", shown(e.to_string()));
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {}", shown(cause.to_string()));
    }
    if let Some(api) = e.downcast_ref::<mwctl::client::ApiError>()
        && let Some(resolution) = api.resolution()
    {
        eprintln!("  to fix: {}", shown(resolution));
    }
    ExitStatus::Failure.into()
}
