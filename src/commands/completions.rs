//! `mwctl completions SHELL`.

use std::io::Write;

use clap::CommandFactory;

use super::ExitStatus;
use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut command = Cli::command();
    // Rendered first: clap_complete panics when its writer fails (`mwctl completions | head`),
    // and a write error here goes through the usual reporting (a closed pipe is not an error).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "mwctl", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(ExitStatus::Success)
}
