//! `mwctl incidents list`.

use super::paging::{self, Page};
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::IncidentsListArgs;
use crate::client::IncidentQuery;
use crate::protocol::admin::{Attribution, AttributionRule, IncidentPage};
use crate::report::Table;

pub async fn list(args: IncidentsListArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let filter = IncidentQuery {
        repo: args.repo.as_ref().map(|r| r.as_str()),
        status: args.status,
        since: args.since,
    };
    let want = (!args.all).then_some(u64::from(args.limit));
    let listing = paging::fetch(
        &ctx.printer,
        "incidents",
        want,
        args.cursor,
        |limit, cursor| {
            let client = &client;
            async move {
                let page = client
                    .list_incidents(&filter, limit, cursor.as_deref())
                    .await?;
                Ok(Page {
                    items: page.incidents,
                    total: page.total,
                    next: page.next,
                })
            }
        },
    )
    .await?;
    let page = IncidentPage {
        incidents: listing.items,
        total: listing.total,
        next: listing.next,
    };
    ctx.printer.data(&page, |p| {
        let mut table = Table::new(&[
            "ID",
            "REPO",
            "PROVIDER",
            "KEY",
            "STATUS",
            "TYPE",
            "CREATED",
            "RESTORED IN",
            "DEPLOYMENT",
            "TITLE",
        ]);
        for incident in &page.incidents {
            table.row(vec![
                incident.id.to_string(),
                incident.repo.clone(),
                incident.provider.clone(),
                incident.incident_key.clone(),
                incident.status.clone(),
                incident.incident_type.clone(),
                p.time(incident.creation_date),
                incident.resolved_date.map_or_else(
                    || "-".to_owned(),
                    |resolved| {
                        crate::report::human_duration(
                            (resolved - incident.creation_date).num_seconds().max(0),
                        )
                    },
                ),
                incident
                    .attributed_to
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), attribution_text),
                incident.title.clone(),
            ]);
        }
        p.table(table, "No incidents");
    })?;
    paging::note_more(
        &ctx.printer,
        page.incidents.len(),
        page.total,
        page.next.as_deref(),
        "incidents",
        "--cursor",
    );
    Ok(ExitStatus::Success)
}

/// `workflow run-id (how)` of an attribution.
fn attribution_text(a: &Attribution) -> String {
    let how = match a.by {
        AttributionRule::Named => "named",
        AttributionRule::LatestBefore => "latest before",
    };
    format!("{} {} ({how})", a.workflow, a.workflow_run_unique_id)
}
