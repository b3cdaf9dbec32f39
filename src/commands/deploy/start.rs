//! `mwctl deploy start`: a PENDING run, and the state `finish` picks up.

use super::deliver::deliver;
use super::fields::Fields;
use super::state::{self, DeployState};
use super::{Ctx, Deadline, ExitStatus, draft, now, time_field};
use crate::ci::{self, Field};
use crate::cli::StartArgs;
use crate::client::new_webhook_id;

pub async fn run(args: StartArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let deadline = Deadline::new(args.delivery.timeout);
    let facts = ci::detect();
    let started_at = args.started_at.unwrap_or_else(now);
    let started_source = if args.started_at.is_some() {
        "--started-at"
    } else {
        "now"
    };
    // Outside CI there is no run id to reuse: make one, and keep it in the state for finish.
    let generated = Fields {
        run_id: facts.run_id.is_none().then(|| {
            let id = new_webhook_id();
            Field::new(format!("local-{}", &id[4..20]), "generated")
        }),
        ..Fields::default()
    };
    let draft = draft(
        "deploy start",
        &args.fields,
        &generated,
        &facts,
        Ok(Field::new("PENDING", "deploy start")),
        time_field(started_at, started_source),
        None,
    );

    // Saved before sending: finish must work even when start could not reach the server.
    if !args.delivery.dry_run
        && let Some(started) = DeployState::new(&draft.fields, started_at)
    {
        let path = state::path(args.delivery.state_file.as_deref(), &facts);
        match state::save(&path, &started) {
            Ok(()) => ctx
                .printer
                .verbose(format!("state for deploy finish: {}", path.display())),
            Err(e) => ctx.printer.warn(format!(
                "{e:#}; deploy finish will not find this start (pass --state-file or set \
                 MW_STATE_FILE to a writable path)"
            )),
        }
    }

    Ok(deliver(ctx, draft, &args.delivery, deadline).await.status)
}
