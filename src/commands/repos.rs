//! `mwctl repos link|list|unlink`.

use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::{IdArg, RepoLinkArgs};
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

pub async fn unlink(args: IdArg, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let repo = ctx.client(ADMIN_TIMEOUT)?.unlink_repo(&args.id).await?;
    ctx.printer.data(&repo, |p| {
        p.info(format!(
            "Unlinked {}; new runs for it are refused.",
            inert::cell(&format!("{}/{}/{}", repo.host, repo.org, repo.name))
        ))
    })?;
    Ok(ExitStatus::Success)
}
