//! `mwctl keys create|list|revoke`.

use chrono::Utc;

use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::{IdArg, KeyCreateArgs};
use crate::protocol::admin::{ApiKey, CreateKey, Scope};
use crate::report::Table;

pub async fn create(args: KeyCreateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let mut scopes = args.scopes;
    scopes.sort();
    scopes.dedup();
    let expires_at = match args.expires {
        Some(d) => Some(Utc::now() + chrono::TimeDelta::from_std(d)?),
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
            created.meta.id,
            created.meta.name,
            scopes_text(&created.meta.scopes),
            created
                .meta
                .expires_at
                .map(|at| format!(", expiring {}", at.format("%Y-%m-%d %H:%M UTC")))
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
                p.opt_time(key.last_used_at),
                p.time(key.created_at),
            ]);
        }
        p.table(table, "No keys");
    })?;
    Ok(ExitStatus::Success)
}

pub async fn revoke(args: IdArg, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let key = ctx.client(ADMIN_TIMEOUT)?.revoke_key(&args.id).await?;
    ctx.printer.data(&key, |p| {
        p.info(format!(
            "Revoked key {} ({}); requests with it are refused from now on.",
            key.id, key.name
        ))
    })?;
    Ok(ExitStatus::Success)
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
