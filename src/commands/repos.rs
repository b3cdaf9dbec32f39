//! `mwctl repos link|list|unlink`.

use super::confirm::{can_ask, confirm};
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::{RepoLinkArgs, RepoUnlinkArgs};
use crate::protocol::admin::UnlinkReport;
use crate::protocol::{RepoRef, strip_credentials};
use crate::report::{Table, inert};

pub async fn link(args: RepoLinkArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    // Checked here too, so a typo fails before any request and a token never leaves.
    let url = strip_credentials(args.repo_url.trim());
    RepoRef::parse_url(&url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (repo, created) = ctx.client(ADMIN_TIMEOUT)?.link_repo(&url).await?;
    ctx.printer.data(&repo, |p| {
        let shown = inert::cell(&format!("{}/{}/{}", repo.host, repo.org, repo.name)).into_owned();
        if created {
            p.info(format!(
                "Linked {shown} (id {}); runs for it are now accepted.",
                repo.id
            ));
        } else {
            p.info(format!(
                "{shown} was already linked (id {}, since {}); nothing changed.",
                repo.id,
                repo.created_at.format("%Y-%m-%d")
            ));
        }
    })?;
    Ok(ExitStatus::Success)
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let repos = ctx.client(ADMIN_TIMEOUT)?.list_repos().await?;
    ctx.printer.data(&repos, |p| {
        let mut table = Table::new(&["ID", "REPO", "URL", "LINKED"]);
        for repo in &repos {
            table.row(vec![
                repo.id.to_string(),
                format!("{}/{}", repo.org, repo.name),
                repo.url.clone(),
                p.time(repo.created_at),
            ]);
        }
        p.table(
            table,
            "No linked repos; link one with `mwctl repos link URL`",
        );
    })?;
    Ok(ExitStatus::Success)
}

pub async fn unlink(args: RepoUnlinkArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let p = &ctx.printer;
    let preview = args.dry_run || (args.delete_runs && !args.yes);
    if args.delete_runs && !args.yes && !args.dry_run && !can_ask() {
        p.warn(format!(
            "not deleting the runs of repo {} without confirmation: pass --yes (or --dry-run to see how many would go)",
            inert::cell(&args.id)
        ));
        return Ok(ExitStatus::Usage);
    }
    let mut report = client
        .unlink_repo(&args.id, args.delete_runs, preview)
        .await?;
    if args.dry_run {
        p.data(&report, |p| {
            p.info(format!("Unlinking {}", will(&report, args.delete_runs)))
        })?;
        return Ok(ExitStatus::Success);
    }
    if args.delete_runs && !args.yes {
        // Not `info`: the question needs its context even with -q.
        eprintln!("Unlinking {}", will(&report, true));
        if !confirm("Delete them?")? {
            p.info("Nothing changed.");
            return Ok(ExitStatus::Failure);
        }
        report = client.unlink_repo(&args.id, true, false).await?;
    }
    p.data(&report, |p| p.info(done(&report)))?;
    Ok(ExitStatus::Success)
}

fn shown(report: &UnlinkReport) -> String {
    let repo = &report.repo;
    inert::cell(&format!("{}/{}/{}", repo.host, repo.org, repo.name)).into_owned()
}

/// `host/org/name (id N) would …`, from a dry run.
fn will(report: &UnlinkReport, delete_runs: bool) -> String {
    let start = format!("{} (id {})", shown(report), report.repo.id);
    if !delete_runs {
        return format!(
            "{start} would keep its {} run(s) and refuse new runs for it.",
            report.runs_kept
        );
    }
    format!(
        "{start} would delete {} run(s) and {} workflow(s), and mark {} event(s) PRUNED (sending their files again stores them again).",
        report.runs_deleted, report.workflows_deleted, report.events_released
    )
}

fn done(report: &UnlinkReport) -> String {
    if report.runs_deleted > 0 {
        format!(
            "Unlinked {}: deleted {} run(s) and {} workflow(s); {} event(s) marked PRUNED (sending their files again stores them again).",
            shown(report),
            report.runs_deleted,
            report.workflows_deleted,
            report.events_released
        )
    } else {
        format!(
            "Unlinked {}; new runs for it are refused. Its {} run(s) are kept (`mwctl repos link {}` brings it back; `repos unlink --delete-runs` deletes them).",
            shown(report),
            report.runs_kept,
            inert::cell(&report.repo.url)
        )
    }
}
