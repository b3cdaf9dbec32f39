//! `mwctl config show|path`.

use serde::Serialize;

use super::{Ctx, ExitStatus};
use crate::settings::Source;

#[derive(Serialize)]
struct Shown {
    config_file: String,
    profile: String,
    url: Option<String>,
    url_source: Option<Source>,
    /// Redacted: never the key itself.
    api_key: Option<String>,
    api_key_source: Option<Source>,
    /// Extra CA certificates for an https:// server (--ca-cert / MW_CA_CERT).
    ca_cert: Option<String>,
    config_problem: Option<String>,
    /// Set when the file holds a key and other users can read it (also warned on stderr).
    config_exposed: Option<String>,
}

pub fn show(ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let s = &ctx.settings;
    let shown = Shown {
        config_file: s.config_path.display().to_string(),
        profile: s.profile.clone(),
        url: s.url.as_ref().map(|u| u.value.clone()),
        url_source: s.url.as_ref().map(|u| u.source.clone()),
        api_key: s.api_key.as_ref().map(|k| k.value.redacted()),
        api_key_source: s.api_key.as_ref().map(|k| k.source.clone()),
        ca_cert: s.ca_cert.as_ref().map(|p| p.display().to_string()),
        config_problem: s.config_problem.clone(),
        config_exposed: s.config_exposed.clone(),
    };
    ctx.printer.data(&shown, |p| {
        let with_source = |value: &Option<String>, source: &Option<Source>, missing: &str| match (
            value, source,
        ) {
            (Some(v), Some(src)) => format!("{v} (from {src})"),
            _ => missing.to_owned(),
        };
        p.line(format!("config file  {}", shown.config_file));
        p.line(format!("profile      {}", shown.profile));
        p.line(format!(
            "url          {}",
            with_source(
                &shown.url,
                &shown.url_source,
                "not set (pass --url, set MW_URL or run `mwctl login`)"
            )
        ));
        p.line(format!(
            "api key      {}",
            with_source(
                &shown.api_key,
                &shown.api_key_source,
                "not set (set MW_API_KEY or run `mwctl login`)"
            )
        ));
        if let Some(ca_cert) = &shown.ca_cert {
            p.line(format!(
                "ca cert      {ca_cert} (trusted besides the system's)"
            ));
        }
        if let Some(problem) = &shown.config_problem {
            p.warn(format!("the config file could not be read: {problem}"));
        }
    })?;
    Ok(ExitStatus::Success)
}

pub fn path(ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    ctx.printer
        .line(ctx.settings.config_path.display().to_string());
    Ok(ExitStatus::Success)
}
