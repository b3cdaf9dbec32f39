//! `mwctl runs list`.

use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::RunsListArgs;
use crate::report::{Table, human_duration};

pub async fn list(args: RunsListArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let runs = ctx
        .client(ADMIN_TIMEOUT)?
        .list_runs(args.repo.as_deref(), args.workflow.as_deref(), args.limit)
        .await?;
    ctx.printer.data(&runs, |p| {
        let mut table = Table::new(&[
            "ID", "REPO", "WORKFLOW", "RUN", "STATUS", "BRANCH", "STARTED", "DURATION", "ACTOR",
        ]);
        for run in &runs {
            table.row(vec![
                run.id.to_string(),
                run.repo.clone(),
                run.workflow.clone(),
                run.workflow_run_unique_id.clone(),
                run.status.clone(),
                run.head_branch.clone(),
                p.time(run.conducted_at),
                run.duration.map_or_else(|| "-".to_owned(), human_duration),
                run.event_actor.clone(),
            ]);
        }
        p.table(table, "No runs");
    })?;
    Ok(ExitStatus::Success)
}
