//! `mwctl dora`: the DORA figures the server computes, per interval and in total, each with
//! the counts it was computed from.

use chrono::Utc;

use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::DoraArgs;
use crate::protocol::dora::{DoraFigures, DoraReport};
use crate::report::{Printer, Table, human_duration};

pub async fn run(args: DoraArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let to = Utc::now();
    let from = args.since;
    if from >= to {
        anyhow::bail!("--since is not in the past; give an age (90d), a date or a time before now");
    }
    let report = client
        .dora(
            args.repo.as_ref().map(|r| r.as_str()),
            args.workflow.as_deref(),
            from,
            to,
            args.interval,
        )
        .await?;
    ctx.printer.data(&report, |p| print(p, &report))?;
    Ok(ExitStatus::Success)
}

fn print(p: &Printer, report: &DoraReport) {
    let mut scope = Vec::new();
    if let Some(repo) = &report.repo {
        scope.push(format!("repository {repo}"));
    }
    if let Some(workflow) = &report.workflow {
        scope.push(format!("workflow {workflow}"));
    }
    p.line(format!(
        "DORA figures from {} to {} by {}{}",
        p.time(report.from),
        p.time(report.to),
        report.interval,
        if scope.is_empty() {
            " (all repositories)".to_owned()
        } else {
            format!(" ({})", scope.join(", "))
        }
    ));
    let mut table = Table::new(&[
        "INTERVAL",
        "DEPLOYS",
        "PER DAY",
        "CHANGE FAILURE RATE",
        "INCIDENTS",
        "TIME TO RESTORE (MEAN / MEDIAN)",
        "DURATION (MEDIAN / P90)",
    ]);
    for interval in &report.intervals {
        table.row(row(p.time(interval.start), &interval.figures));
    }
    table.row(row("total".to_owned(), &report.total));
    p.table(table, "No intervals");
    p.line(format!(
        "Lead time for changes: not available: {}",
        report.lead_time_for_changes.reason
    ));
}

/// One line of figures, each with its counts.
fn row(label: String, f: &DoraFigures) -> Vec<String> {
    let df = &f.deployment_frequency;
    let cfr = &f.change_failure_rate;
    let ttr = &f.time_to_restore;
    let dd = &f.deployment_duration;
    let secs =
        |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| human_duration(s.round() as i64));
    vec![
        label,
        df.deployments.to_string(),
        df.per_day.map_or_else(
            || "-".to_owned(),
            |d| format!("{d:.2} over {:.1}d", df.days),
        ),
        match cfr.rate {
            Some(rate) => format!(
                "{:.1}% ({}/{})",
                rate * 100.0,
                cfr.failed_deployments,
                cfr.deployments
            ),
            None => "- (0 deployments)".to_owned(),
        },
        format!(
            "{}{}",
            cfr.incidents,
            if cfr.unattributed_incidents > 0 {
                format!(" ({} unattributed)", cfr.unattributed_incidents)
            } else {
                String::new()
            }
        ),
        format!(
            "{} / {} ({} resolved, {} open)",
            secs(ttr.mean_seconds),
            secs(ttr.median_seconds),
            ttr.resolved,
            ttr.open
        ),
        format!(
            "{} / {} ({} deployments, {} without a duration)",
            secs(dd.median_seconds),
            dd.p90_seconds
                .map_or_else(|| "-".to_owned(), human_duration),
            dd.deployments,
            dd.without_duration
        ),
    ]
}
