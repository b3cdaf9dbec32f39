//! `mwctl deploy record`: a deployment that already happened, in one request.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

use super::fields::Fields;
use super::{Ctx, Deadline, Draft, ExitStatus, Problem, Seconds, time_field};
use crate::ci::{self, Field};
use crate::cli::{RecordArgs, parse_any_status, parse_duration_secs, parse_time};
use crate::client::content_webhook_id;
use crate::commands::step::deliver::deliver;
use crate::commands::step::values::{BadValue, Delivery, given, parse_meta};
use crate::protocol::RepoRef;
use crate::protocol::validate::MAX_DURATION_SECS;

pub async fn run(args: RecordArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let mut bad = Vec::new();
    let delivery = Delivery::parse(&args.delivery, &mut bad);
    let deadline = Deadline::new(delivery.timeout);
    let facts = ci::detect();

    let started_at = parse_time(&args.started_at);
    let duration = duration(&args, started_at.as_ref().ok(), &mut bad);
    let mut fields = Fields::resolve(&args.fields, &Fields::default(), &facts);
    // Outside CI, the id derives from what identifies the deployment, so recording the same
    // one twice updates it instead of counting it twice.
    if fields.run_id.is_none()
        && let Ok(start) = &started_at
    {
        fields.run_id = Some(derived_id(&fields, *start));
    }
    let meta = parse_meta(&args.fields.meta, &mut bad);
    let mut draft = Draft::new("deploy record", fields, &facts, meta, bad);
    draft.status = parse_any_status(&args.status)
        .map(|s| Field::new(s.as_str(), "--status"))
        .map_err(|e| {
            Problem::new(
                format!("--status: {e}"),
                "pass --status success, failure, cancelled or pending",
            )
        });
    draft.conducted_at = started_at
        .map(|at| time_field(at, "--started-at"))
        .map_err(|e| {
            Problem::new(
                format!("--started-at: {e}"),
                "pass --started-at with the time the deployment started, e.g. \
                 2024-05-01T12:00:00Z",
            )
        });
    draft.duration = duration;
    Ok(deliver(ctx, draft, &delivery, deadline).await.status)
}

/// `--duration`, else `--finished-at` minus `--started-at`; a value that cannot be used is
/// left out, with a warning.
fn duration(
    args: &RecordArgs,
    started_at: Option<&DateTime<FixedOffset>>,
    bad: &mut Vec<BadValue>,
) -> Option<Seconds> {
    let raw_end = given(&args.finished_at);
    let given_duration = given(&args.duration).and_then(|raw| match parse_duration_secs(raw) {
        Ok(secs) => Some(secs),
        Err(error) => {
            bad.push(BadValue {
                flag: "--duration",
                value: raw.to_owned(),
                error,
                instead: if raw_end.is_some() {
                    "used --finished-at".to_owned()
                } else {
                    "sent no duration".to_owned()
                },
            });
            None
        }
    });
    let from_end = raw_end.and_then(|raw_end| {
        let instead = if given_duration.is_some() {
            "used --duration"
        } else {
            "sent no duration"
        };
        let error = match (parse_time(raw_end), started_at) {
            (Err(error), _) => error,
            // The start itself is the problem, reported on its own.
            (Ok(_), None) => return None,
            (Ok(end), Some(start)) => match (end - *start).num_seconds() {
                secs if secs < 0 => format!(
                    "{raw_end:?} is before --started-at {:?}; swap them, or pass --duration",
                    args.started_at
                ),
                secs if secs > MAX_DURATION_SECS => format!(
                    "{raw_end:?} is more than ten years after --started-at, longer than a run \
                     may last; check both times"
                ),
                secs => return Some(secs),
            },
        };
        bad.push(BadValue {
            flag: "--finished-at",
            value: raw_end.to_owned(),
            error,
            instead: instead.to_owned(),
        });
        None
    });
    match (given_duration, from_end) {
        (Some(secs), Some(end_secs)) => {
            if (secs - end_secs).abs() > 1 {
                bad.push(BadValue {
                    flag: "--finished-at",
                    value: raw_end.unwrap_or_default().to_owned(),
                    error: format!(
                        "--finished-at - --started-at is {end_secs}s but --duration is {secs}s; \
                         pass one of them"
                    ),
                    instead: "used --duration".to_owned(),
                });
            }
            Some(seconds(secs, "--duration"))
        }
        (Some(secs), None) => Some(seconds(secs, "--duration")),
        (None, Some(secs)) => Some(seconds(secs, "--finished-at - --started-at")),
        (None, None) => None,
    }
}

fn seconds(secs: i64, source: &str) -> Seconds {
    Seconds {
        secs,
        source: source.to_owned(),
    }
}

/// The id of a deployment recorded outside CI: the same deployment gets the same id however
/// it was described: the start in any time zone, the repository passed or detected, in any
/// URL form.
fn derived_id(fields: &Fields, started_at: DateTime<FixedOffset>) -> Field {
    let workflow = fields
        .workflow
        .as_ref()
        .map_or("deploy", |w| w.value.as_str());
    let repo = fields
        .repo_url
        .as_ref()
        .map(|r| repo_identity(&r.value))
        .unwrap_or_default();
    let instant = started_at
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let id = content_webhook_id(&[
        b"mwctl deploy record",
        workflow.as_bytes(),
        repo.as_bytes(),
        instant.as_bytes(),
    ]);
    Field::new(
        format!("record-{}", &id[4..20]),
        "derived from workflow, repo and start time",
    )
}

/// A repository as one string whatever the form of its URL (https or scp, `.git`, case).
fn repo_identity(url: &str) -> String {
    match RepoRef::parse_url(url) {
        Ok(repo) => format!("{}/{}/{}", repo.host, repo.org, repo.name).to_lowercase(),
        Err(_) => url.trim().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_repository_one_identity() {
        let id = repo_identity("https://github.com/acme/shop");
        for form in [
            "https://github.com/acme/shop.git",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com/acme/shop.git",
            "https://GitHub.com/Acme/Shop/",
            "https://token@github.com/acme/shop",
        ] {
            assert_eq!(repo_identity(form), id, "{form}");
        }
        assert_ne!(repo_identity("https://github.com/acme/shop2"), id);
    }

    #[test]
    fn one_instant_one_id() {
        let fields = Fields {
            workflow: Some(Field::new("deploy", "default")),
            repo_url: Some(Field::new("https://github.com/acme/shop", "git")),
            ..Fields::default()
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("valid");
        let utc = derived_id(&fields, at("2026-12-01T10:00:00Z")).value;
        assert_eq!(
            derived_id(&fields, at("2026-12-01T12:00:00+02:00")).value,
            utc
        );
        assert_eq!(
            derived_id(&fields, at("2026-12-01T10:00:00.000Z")).value,
            utc
        );
        assert_ne!(derived_id(&fields, at("2026-12-01T10:00:01Z")).value, utc);
    }
}
