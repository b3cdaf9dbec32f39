//! `mwctl login --url URL [--api-key-stdin] [--no-verify]`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use super::{Ctx, ExitStatus};
use crate::cli::LoginArgs;
use crate::client::{ApiError, Client, normalise_base_url};
use crate::settings::{self, Secret};

pub async fn run(args: LoginArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let s = &ctx.settings;
    let url = normalise_base_url(s.require_url()?)?;
    let key = read_key(&args, ctx)?;

    let mut scope_note = String::new();
    if !args.no_verify {
        let client = Client::new(&url, key.clone(), super::ADMIN_TIMEOUT)?;
        client.health().await.map_err(|e| {
            anyhow::anyhow!(
                "{e}\n  {}\n  (if this is a Middleware server without /healthz, pass --no-verify)",
                e.resolution().unwrap_or_default()
            )
        })?;
        // A key without the admin scope is still good for deploys and backfills: the admin
        // API tells the two apart (403) from a refused key (401).
        scope_note = match client.list_keys().await {
            Ok(_) => " (admin scope)".to_owned(),
            Err(ApiError::Forbidden { .. }) => " (no admin scope: deploy and send only)".to_owned(),
            Err(e @ ApiError::Unauthorized { .. }) => {
                bail!("{e}\n  {}", e.resolution().unwrap_or_default())
            }
            Err(e) => return Err(e.into()),
        };
    }

    let mut file = settings::load(&s.config_path)?.unwrap_or_default();
    let profile = file.profiles.entry(s.profile.clone()).or_default();
    profile.url = Some(url.clone());
    profile.api_key = Some(key.expose().to_owned());
    settings::save(&s.config_path, &file)?;

    ctx.printer.info(format!(
        "Logged in to {url} with key {}{scope_note}; saved as profile {:?} in {}",
        key.redacted(),
        s.profile,
        s.config_path.display()
    ));
    Ok(ExitStatus::Success)
}

/// The key from stdin, the global --api-key / MW_API_KEY, or a hidden prompt.
fn read_key(args: &LoginArgs, ctx: &Ctx) -> anyhow::Result<Secret> {
    if args.api_key_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the key from stdin")?;
        let key = Secret::new(line);
        if key.expose().is_empty() {
            bail!(
                "--api-key-stdin read an empty line; pipe the key in, e.g. `echo \"$KEY\" | mwctl login --api-key-stdin`"
            );
        }
        return Ok(key);
    }
    if let Some(key) = &ctx.settings.api_key
        && !matches!(key.source, settings::Source::File(_))
    {
        return Ok(key.value.clone());
    }
    if std::io::stdin().is_terminal() {
        let key = rpassword::prompt_password("API key: ").context("cannot read the key")?;
        let key = Secret::new(key);
        if !key.expose().is_empty() {
            return Ok(key);
        }
    }
    bail!(
        "no API key given: pass --api-key-stdin, set MW_API_KEY, or run `mwctl login` on a terminal to be prompted"
    )
}
