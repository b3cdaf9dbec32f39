//! `mwctl deploy finish`: the final status and duration of the run `start` began.

use super::deliver::deliver;
use super::state;
use super::{Ctx, Deadline, ExitStatus, Problem, draft, now, time_field};
use crate::ci::{self, CiFacts, Field};
use crate::cli::{FinalStatus, FinishArgs, parse_final_status};
use crate::protocol::RunStatus;

pub async fn run(args: FinishArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let deadline = Deadline::new(args.delivery.timeout);
    let facts = ci::detect();
    let path = state::path(args.delivery.state_file.as_deref(), &facts);
    let ci_workflow = facts.workflow.as_ref().map(|w| w.value.as_str());
    let saved = match state::find(&path, args.fields.workflow.as_deref(), ci_workflow) {
        Ok(saved) => saved,
        Err(e) => {
            ctx.printer.warn(format!("{e:#}"));
            None
        }
    };
    if saved.is_none() {
        ctx.printer.verbose(format!(
            "no state from deploy start at {}; using the CI's run id and start time",
            path.display()
        ));
    }
    let saved_fields = saved
        .as_ref()
        .map(|s| s.as_fields(&path))
        .unwrap_or_default();

    let started_at = match &saved {
        Some(s) => Some((s.started_at, "deploy start's state".to_owned())),
        None => facts
            .started_at
            .as_ref()
            .and_then(|f| ci::parse_started_at(f).map(|t| (t, f.source.clone()))),
    };
    let finished_at = now();
    // Without a known start, leave the duration out: the server works it out from the
    // PENDING run start sent, when there is one.
    let duration = match (args.duration, &started_at) {
        (Some(secs), _) => Some(Field::new(secs.to_string(), "--duration")),
        (None, Some((start, source))) => Some(Field::new(
            (finished_at - *start).num_seconds().max(0).to_string(),
            format!("now - start ({source})"),
        )),
        (None, None) => None,
    };
    let conducted_at = match started_at {
        Some((start, source)) => time_field(start, source),
        None => time_field(finished_at, "now (the start is unknown)"),
    };
    let draft = draft(
        "deploy finish",
        &args.fields,
        &saved_fields,
        &facts,
        status(args.status, &facts),
        conducted_at,
        duration,
    );
    let delivered = deliver(ctx, draft, &args.delivery, deadline).await;
    if delivered.accepted
        && let Some(saved) = &saved
        && let Err(e) = state::remove(&path, saved)
    {
        ctx.printer.verbose(format!("{e:#}"));
    }
    Ok(delivered.status)
}

/// `--status`, else the job's status where the CI tells it.
fn status(flag: Option<FinalStatus>, facts: &CiFacts) -> Result<Field, Problem> {
    if let Some(status) = flag {
        return Ok(Field::new(
            RunStatus::from(status).as_str(),
            "--status / MW_STATUS",
        ));
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
