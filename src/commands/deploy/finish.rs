//! `mwctl deploy finish`: the final status and duration of the run `start` began.

use chrono::TimeDelta;

use super::state;
use super::{Ctx, Deadline, Draft, ExitStatus, Problem, Seconds, StartNote, now, time_field};
use crate::ci::{self, CiFacts, Field};
use crate::cli::{FinishArgs, parse_duration_secs, parse_final_status};
use crate::commands::step::deliver::deliver;
use crate::commands::step::values::{BadValue, Delivery, given, parse_meta};
use crate::protocol::RunStatus;

pub async fn run(args: FinishArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let mut bad = Vec::new();
    let delivery = Delivery::parse(&args.delivery, &mut bad);
    let deadline = Deadline::new(delivery.timeout);
    let facts = ci::detect();
    let path = state::path(args.state.state_file.as_deref(), &facts);
    let workflow = given(&args.fields.workflow).map(str::trim);
    let ci_workflow = facts.workflow.as_ref().map(|w| w.value.as_str());
    let saved = match state::find(&path, workflow, ci_workflow) {
        Ok(saved) => saved,
        Err(e) => {
            ctx.printer.warn(format!("{e:#}"));
            None
        }
    };
    let saved_fields = saved
        .as_ref()
        .map(|s| s.as_fields(&path))
        .unwrap_or_default();

    let duration = given(&args.duration).and_then(|raw| match parse_duration_secs(raw) {
        Ok(secs) => Some(Seconds {
            secs,
            source: "--duration".to_owned(),
        }),
        Err(error) => {
            bad.push(BadValue {
                flag: "--duration",
                value: raw.to_owned(),
                error,
                instead: "left it out".to_owned(),
            });
            None
        }
    });

    // The start: deploy start's state, else the CI's start time, else finish time minus
    // --duration. Never the finish time passed off as a start.
    let mut ci_start_unusable = None;
    let known_start = match &saved {
        Some(s) => Some((
            s.started_at,
            format!("deploy start's state ({})", path.display()),
        )),
        None => facts.started_at.as_ref().and_then(|f| {
            let at = ci::parse_started_at(f);
            if at.is_none() {
                ci_start_unusable = Some(format!(
                    "the CI's start time {:?} ({}) is not a timestamp",
                    f.value, f.source
                ));
            }
            at.map(|t| (t, f.source.clone()))
        }),
    };
    let finished_at = now();
    let (conducted_at, duration, start) = match (known_start, duration) {
        (Some((start, source)), given) => {
            let duration = given.or_else(|| {
                Some(Seconds {
                    secs: (finished_at - start).num_seconds().max(0),
                    source: format!("now - start ({source})"),
                })
            });
            (
                time_field(start, &source),
                duration,
                start_note(&path, Some(source), None),
            )
        }
        (None, Some(d)) => {
            let source = "now - --duration".to_owned();
            let start = finished_at - TimeDelta::seconds(d.secs);
            (
                time_field(start, &source),
                Some(d),
                start_note(&path, Some(source), None),
            )
        }
        (None, None) => {
            let mut why = match workflow {
                Some(w) => format!("no start of workflow {w:?} in {}", path.display()),
                None => format!("no state from deploy start at {}", path.display()),
            };
            why.push_str(&match ci_start_unusable {
                Some(ci) => format!(", and {ci}"),
                None => ", and the CI gives no start time".to_owned(),
            });
            let note = format!(
                "the deployment's start is unknown ({why}): the finish time is sent as \
                 workflow_run_conducted_at, without a duration. A server that has this run's \
                 PENDING start keeps that start and works out the duration; run deploy start in \
                 the same job (or give both the same --state-file) to send them yourself"
            );
            ctx.printer.info(format!("mwctl: deploy finish: {note}"));
            (
                time_field(finished_at, "now (the start is unknown)"),
                None,
                StartNote {
                    known: false,
                    source: None,
                    state_file: path.display().to_string(),
                    note: Some(note),
                },
            )
        }
    };

    let meta = parse_meta(&args.fields.meta, &mut bad);
    let fields = super::fields::Fields::resolve(&args.fields, &saved_fields, &facts);
    let mut draft = Draft::new("deploy finish", fields, &facts, meta, bad);
    draft.status = status(given(&args.status), &facts);
    draft.conducted_at = Ok(conducted_at);
    draft.duration = duration;
    draft.start = Some(start);
    let delivered = deliver(ctx, draft, &delivery, deadline).await;
    if delivered.accepted
        && let Some(saved) = &saved
        && let Err(e) = state::remove(&path, saved)
    {
        ctx.printer.verbose(format!("{e:#}"));
    }
    Ok(delivered.status)
}

fn start_note(path: &std::path::Path, source: Option<String>, note: Option<String>) -> StartNote {
    StartNote {
        known: source.is_some(),
        source,
        state_file: path.display().to_string(),
        note,
    }
}

/// `--status`, else the job's status where the CI tells it. A status that is not one is a
/// problem (nothing is sent): there is no safe default for how a deployment ended.
fn status(flag: Option<&str>, facts: &CiFacts) -> Result<Field, Problem> {
    if let Some(raw) = flag {
        return parse_final_status(raw)
            .map(|s| Field::new(RunStatus::from(s).as_str(), "--status / MW_STATUS"))
            .map_err(|e| {
                Problem::new(
                    format!("--status / MW_STATUS: {e}"),
                    "pass --status success, failure or cancelled, or the deployment's exit code",
                )
            });
    }
    let Some(ci) = &facts.status else {
        return Err(Problem::new(
            "no final status",
            "pass --status success, failure or cancelled (e.g. --status ${{ job.status }} on \
             GitHub Actions)",
        ));
    };
    parse_final_status(&ci.value)
        .map(|s| Field::new(RunStatus::from(s).as_str(), ci.source.clone()))
        .map_err(|e| Problem::new(format!("{e} (from {})", ci.source), "pass --status"))
}
