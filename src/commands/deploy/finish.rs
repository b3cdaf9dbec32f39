//! `mwctl deploy finish --status …`: the final status and duration of the run `start` began.

use super::fields::Fields;
use super::{Ctx, ExitStatus, deliver, draft, now, state};
use crate::ci;
use crate::cli::FinishArgs;
use crate::protocol::validate::parse_timestamp;

pub async fn run(args: FinishArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let facts = ci::detect();
    // Find start's state under the workflow name finish resolves to (flags, else CI).
    let workflow = Fields::resolve(&args.fields, &Fields::default(), &facts)
        .workflow
        .map(|w| w.value)
        .unwrap_or_default();
    let path = state::path(args.delivery.state_file.as_deref(), &facts, &workflow);
    let saved = match state::load(&path) {
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
    let fallback = saved
        .as_ref()
        .map(|s| s.as_fields(&path))
        .unwrap_or_default();

    let started_at = saved.as_ref().map(|s| s.started_at).or_else(|| {
        facts
            .started_at
            .as_ref()
            .and_then(|f| parse_timestamp(&f.value))
    });
    let finished_at = now();
    // Without a known start, leave the duration out: the server infers it from the stored
    // PENDING run when there is one.
    let duration = args
        .duration
        .map(|d| d as i64)
        .or_else(|| started_at.map(|s| (finished_at - s).num_seconds().max(0)));
    let draft = draft(
        "deploy finish",
        &args.fields,
        &fallback,
        &facts,
        args.status.into(),
        started_at.unwrap_or(finished_at),
        duration,
    );
    let (status, accepted) = deliver(ctx, draft, &args.delivery).await;
    if accepted && saved.is_some() {
        state::remove(&path);
    }
    Ok(status)
}
