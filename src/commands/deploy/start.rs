//! `mwctl deploy start`: a PENDING run, and the state `finish` picks up.

use super::fields::Fields;
use super::{Ctx, ExitStatus, deliver, draft, now, state};
use crate::ci::{self, Field};
use crate::cli::StartArgs;
use crate::client::new_webhook_id;
use crate::protocol::RunStatus;

pub async fn run(args: StartArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let facts = ci::detect();
    let started_at = args.started_at.unwrap_or_else(now);
    // Outside CI there is no run id to reuse: make one, and keep it in the state for finish.
    let fallback = Fields {
        run_id: facts.run_id.is_none().then(|| {
            let id = new_webhook_id();
            Field::new(format!("local-{}", &id[4..20]), "generated")
        }),
        ..Fields::default()
    };
    let draft = draft(
        "deploy start",
        &args.fields,
        &fallback,
        &facts,
        RunStatus::Pending,
        started_at,
        None,
    );

    // Saved before sending: finish must work even when start could not reach the server.
    if !args.delivery.dry_run
        && let (Some(workflow), Some(run_id)) = (&draft.fields.workflow, &draft.fields.run_id)
    {
        let path = state::path(args.delivery.state_file.as_deref(), &facts, &workflow.value);
        let value = |f: &Option<Field>| f.as_ref().map(|f| f.value.clone());
        let saved = state::save(
            &path,
            &state::DeployState {
                workflow_name: workflow.value.clone(),
                unique_id: run_id.value.clone(),
                started_at,
                repo_url: value(&draft.fields.repo_url),
                branch: value(&draft.fields.branch),
                commit: value(&draft.fields.commit),
                run_url: value(&draft.fields.run_url),
                actor: value(&draft.fields.actor),
            },
        );
        match saved {
            Ok(()) => ctx.printer.verbose(format!("state for deploy finish: {}", path.display())),
            Err(e) => ctx.printer.warn(format!(
                "{e:#}; deploy finish will not find this start (pass --state-file to choose a writable place)"
            )),
        }
    }

    let (status, _) = deliver(ctx, draft, &args.delivery).await;
    Ok(status)
}
