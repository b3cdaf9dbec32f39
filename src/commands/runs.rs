//! `mwctl runs list`.

use super::paging::{self, Page};
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::RunsListArgs;
use crate::protocol::admin::RunPage;
use crate::report::{Table, human_duration};

pub async fn list(args: RunsListArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let repo = args.repo.as_ref().map(|r| r.as_str());
    let workflow = args.workflow.as_deref();
    let want = (!args.all).then_some(u64::from(args.limit));
    let listing = paging::fetch(&ctx.printer, "runs", want, args.cursor, |limit, cursor| {
        let client = &client;
        async move {
            let page = client
                .list_runs(repo, workflow, limit, cursor.as_deref())
                .await?;
            Ok(Page {
                items: page.runs,
                total: page.total,
                next: page.next,
            })
        }
    })
    .await?;
    let page = RunPage {
        runs: listing.items,
        total: listing.total,
        next: listing.next,
    };
    ctx.printer.data(&page, |p| {
        let mut table = Table::new(&[
            "ID", "REPO", "WORKFLOW", "RUN", "STATUS", "BRANCH", "STARTED", "DURATION", "ACTOR",
        ]);
        for run in &page.runs {
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
    let next = page.next.as_deref();
    paging::note_more(
        &ctx.printer,
        page.runs.len(),
        page.total,
        next,
        "runs",
        "--cursor",
    );
    Ok(ExitStatus::Success)
}
