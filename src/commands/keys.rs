//! `mwctl keys create|list|revoke`.

use chrono::{DateTime, Utc};

use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::{IdArg, KeyCreateArgs};
use crate::protocol::admin::{ApiKey, CreateKey, Scope};
use crate::report::{Table, inert};
use crate::settings::Secret;

pub async fn create(args: KeyCreateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let mut scopes = args.scopes;
    scopes.sort();
    scopes.dedup();
    let expires_at = match args.expires {
        // The parser bounds the lifetime; checked anyway, so no value can overflow the clock.
        Some(d) => Some(
            chrono::TimeDelta::from_std(d)
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d))
                .ok_or_else(|| anyhow::anyhow!("--expires is too far in the future"))?,
        ),
        None => None,
    };
    let request = CreateKey {
        name: args.name,
        scopes,
        expires_at,
    };
    let created = client.create_key(&request).await?;
    ctx.printer.data(&created, |p| {
        p.info(format!(
            "Created key {} ({}) with scopes {}{}.",
            inert::cell(&created.meta.id),
            inert::cell(&created.meta.name),
            scopes_text(&created.meta.scopes),
            created
                .meta
                .expires_at
                .map(|at| format!(", expiring {}", date(at)))
                .unwrap_or_default()
        ));
        p.info("It is shown only this once; store it now, e.g. as the CI secret MW_API_KEY:");
        // The key alone on stdout, so `KEY=$(mwctl keys create ... -q)` works.
        p.line(&created.key);
    })?;
    Ok(ExitStatus::Success)
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let keys = ctx.client(ADMIN_TIMEOUT)?.list_keys().await?;
    ctx.printer.data(&keys, |p| {
        let mut table = Table::new(&[
            "ID",
            "NAME",
            "PREFIX",
            "SCOPES",
            "STATE",
            "EXPIRES",
            "LAST USED",
            "CREATED",
        ]);
        for key in &keys {
            table.row(vec![
                key.id.clone(),
                key.name.clone(),
                format!("{}…", key.prefix),
                scopes_text(&key.scopes),
                state(key).to_owned(),
                key.expires_at
                    .map_or_else(|| "never".to_owned(), |at| p.time(at)),
                p.opt_time(key.last_used_at),
                p.time(key.created_at),
            ]);
        }
        p.table(table, "No keys");
    })?;
    Ok(ExitStatus::Success)
}

pub async fn revoke(args: IdArg, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    // Looked up first, to tell a key revoked now from one revoked before (the server answers
    // both alike). An id not listed still goes to the server, whose error says what to do.
    let listed = client
        .list_keys()
        .await?
        .into_iter()
        .find(|k| k.id == args.id);
    let (key, already) = match listed {
        Some(key) if key.revoked_at.is_some() => (key, true),
        _ => (client.revoke_key(&args.id).await?, false),
    };
    ctx.printer.data(&key, |p| {
        let (id, name) = (inert::cell(&key.id), inert::cell(&key.name));
        if already {
            let when = key.revoked_at.map(date).unwrap_or_default();
            p.info(format!(
                "Key {id} ({name}) was already revoked ({when}); nothing changed."
            ));
        } else {
            p.info(format!(
                "Revoked key {id} ({name}); requests with it are refused from now on."
            ));
        }
    })?;
    if !already
        && let Some(own) = &ctx.settings.api_key
        && is_this_key(&key, &own.value)
    {
        ctx.printer.warn(format!(
            "{} is the key mwctl itself uses (from {}): its next commands will be refused. \
             Use another admin key: `mwctl login` (or MW_API_KEY / --api-key)",
            inert::cell(&key.id),
            own.source
        ));
    }
    Ok(ExitStatus::Success)
}

/// Whether `key` is the listing of `secret`: the server keeps only a prefix of each key, long
/// enough (12 characters, 8 of them random) to tell keys apart.
fn is_this_key(key: &ApiKey, secret: &Secret) -> bool {
    key.prefix.chars().count() >= 8 && secret.expose().starts_with(&key.prefix)
}

fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn state(key: &ApiKey) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        "expired"
    } else {
        "active"
    }
}
