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
    // Why the server could not be verified, when it answered but not as ours does (upstream
    // Middleware has no /healthz and no admin API): the settings are saved all the same.
    let mut unverified = None;
    if !args.no_verify {
        let client = Client::new(
            &url,
            key.clone(),
            super::ADMIN_TIMEOUT,
            s.ca_cert.as_deref(),
        )?;
        match client.health().await {
            Ok(()) => {}
            Err(e @ ApiError::Untrusted { .. }) => bail!(
                "{e}\n  to fix: {}; or pass --no-verify to save the settings without checking",
                e.resolution().unwrap_or_default()
            ),
            Err(e @ (ApiError::Unreachable { .. } | ApiError::Timeout { .. })) => bail!(
                "{e}\n  to fix: check the URL and that the server is running, then run this command again; or pass --no-verify to save the settings without checking"
            ),
            Err(e) => unverified = Some(e),
        }
        if unverified.is_none() {
            // A key without the admin scope is still good for deploys and backfills: the
            // admin API tells the two apart (403) from a refused key (401).
            scope_note = match client.list_keys().await {
                Ok(_) => " (admin scope)".to_owned(),
                Err(ApiError::Forbidden { .. }) => {
                    " (no admin scope: deploy and send only)".to_owned()
                }
                Err(ApiError::NoAdminApi { .. }) => {
                    " (this server has no admin API: deploy and send only)".to_owned()
                }
                Err(ApiError::Unauthorized { error, .. }) => bail!(
                    "the server refused the API key: {error}\n  to fix: check the key (a key of this server, not expired or revoked; an admin creates one with `mwctl keys create`) and run this command again with it; nothing was saved"
                ),
                Err(e) => return Err(e.into()),
            };
        }
    }

    // Its own error says "run `mwctl login`": not what to tell someone running it.
    let mut file = settings::load(&s.config_path)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid mwctl config ({:#}); fix it, or delete it and run this command again",
                s.config_path.display(),
                e.root_cause()
            )
        })?
        .unwrap_or_default();
    let profile = file.profiles.entry(s.profile.clone()).or_default();
    profile.url = Some(url.clone());
    profile.api_key = Some(key.expose().to_owned());
    settings::save(&s.config_path, &file)?;

    match unverified {
        None => ctx.printer.info(format!(
            "Logged in to {url} with key {}{scope_note}; saved as profile {:?} in {}",
            key.redacted(),
            s.profile,
            s.config_path.display()
        )),
        Some(why) => {
            ctx.printer.info(format!(
                "Saved {url} and key {} as profile {:?} in {}",
                key.redacted(),
                s.profile,
                s.config_path.display()
            ));
            ctx.printer.warn(format!(
                "the server could not be verified: {why}; {} (the key is checked by the first `mwctl deploy` or `mwctl send`)",
                match &why {
                    ApiError::NoAdminApi { .. } => "it has no /healthz: upstream Middleware has none, nor an admin API".to_owned(),
                    other => other.resolution().unwrap_or_else(|| "it does not answer as a Middleware webhook server does".to_owned()),
                }
            ));
        }
    }
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
