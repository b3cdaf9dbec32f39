//! `mwctl events list|show`.

use super::paging::{self, Page};
use super::{ADMIN_TIMEOUT, Ctx, ExitStatus};
use crate::cli::{EventsListArgs, IdArg};
use crate::input::Kind;
use crate::protocol::admin::{Event, EventPage, IncidentRef, RunRef};
use crate::report::{Printer, Table, inert};

pub async fn list(args: EventsListArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let client = ctx.client(ADMIN_TIMEOUT)?;
    let status = args.status;
    let want = (!args.all).then_some(u64::from(args.limit));
    let listing = paging::fetch(
        &ctx.printer,
        "events",
        want,
        args.before,
        |limit, cursor| {
            let client = &client;
            async move {
                let page = client.list_events(status, limit, cursor.as_deref()).await?;
                Ok(Page {
                    items: page.events,
                    total: page.total,
                    next: page.next,
                })
            }
        },
    )
    .await?;
    let page = EventPage {
        events: listing.items,
        total: listing.total,
        next: listing.next,
    };
    ctx.printer.data(&page, |p| {
        let mut table = Table::new(&["ID", "RECEIVED", "STATUS", "ITEMS", "WRITTEN", "ERROR"]);
        for event in &page.events {
            let (received, kind) = received(event);
            table.row(vec![
                event.id.clone(),
                p.time(event.received_at),
                event.status.to_string(),
                kind.count(received),
                written(event),
                event.error.clone().unwrap_or_default(),
            ]);
        }
        p.table(table, "No events");
    })?;
    let next = page.next.as_deref();
    paging::note_more(
        &ctx.printer,
        page.events.len(),
        page.total,
        next,
        "events",
        "--before",
    );
    Ok(ExitStatus::Success)
}

pub async fn show(args: IdArg, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let detail = ctx.client(ADMIN_TIMEOUT)?.event(&args.id).await?;
    ctx.printer.data(&detail, |p| {
        let e = &detail.event;
        // One line per field: a newline in a value cannot forge another field.
        let field = |name: &str, value: &str| p.line(format!("{name:<13}{}", inert::cell(value)));
        field("event", &e.id);
        field("status", e.status.as_str());
        field("received", &p.time(e.received_at));
        field("processed", &p.opt_time(e.processed_at));
        field("key", &e.key_id);
        field("type", &e.request_type);
        field("webhook-id", e.webhook_id.as_deref().unwrap_or("-"));
        field("attempts", &e.attempts.to_string());
        let (received, kind) = received(e);
        field(kind.noun(), &format!("{received} received, {}", written(e)));
        field("answer", &answer_text(&detail.response));
        if let Some(error) = &e.error {
            field("error", error);
        }
        if let Some(resolution) = detail.response.get("resolution").and_then(|r| r.as_str()) {
            field("resolution", resolution);
        }
        if let Some(errors) = detail.response.get("errors").and_then(|e| e.as_array()) {
            for err in errors.iter().take(20) {
                p.line(format!(
                    "  {} {}: {}: {}",
                    kind.singular(),
                    err["index"],
                    inert::cell(err["field"].as_str().unwrap_or("?")),
                    inert::cell(err["message"].as_str().unwrap_or("?"))
                ));
            }
            if errors.len() > 20 {
                p.line(format!(
                    "  … and {} more (see --output json)",
                    errors.len() - 20
                ));
            }
        }
        if !detail.runs.is_empty() {
            p.line("");
            run_table(p, &detail.runs);
        }
        if !detail.incidents.is_empty() {
            p.line("");
            incident_table(p, &detail.incidents);
        }
        if let Some(body) = &detail.body {
            p.line("");
            p.line("request body:");
            let shown: String = body.chars().take(2000).collect();
            p.line(&shown);
            if body.len() > shown.len() {
                p.line(format!(
                    "… ({} bytes in all; see --output json)",
                    body.len()
                ));
            }
        }
    })?;
    Ok(ExitStatus::Success)
}

/// The runs an event wrote (or, for prune, deletes).
pub fn run_table(p: &Printer, runs: &[RunRef]) {
    let mut table = Table::new(&["RUN", "ACTION", "REPO", "WORKFLOW", "UNIQUE ID", "STATUS"]);
    for run in runs {
        table.row(vec![
            run.run_id.to_string(),
            run.action.clone(),
            run.repo.clone(),
            run.workflow.clone(),
            run.unique_id.clone(),
            run.status.clone(),
        ]);
    }
    p.table(table, "No runs");
}

/// The incidents an event wrote.
pub fn incident_table(p: &Printer, incidents: &[IncidentRef]) {
    let mut table = Table::new(&["INCIDENT", "ACTION", "REPO", "PROVIDER", "KEY", "STATUS"]);
    for incident in incidents {
        table.row(vec![
            incident.incident_id.to_string(),
            incident.action.clone(),
            incident.repo.clone(),
            incident.provider.clone(),
            incident.incident_key.clone(),
            incident.status.clone(),
        ]);
    }
    p.table(table, "No incidents");
}

/// Whether the event carried incidents (`request_type` `incident`) rather than runs.
fn is_incident(e: &Event) -> bool {
    e.request_type == "incident"
}

/// How many items the request carried, and what they are.
fn received(e: &Event) -> (u64, Kind) {
    if is_incident(e) {
        (e.incidents_received, Kind::Incidents)
    } else {
        (e.runs_received, Kind::Runs)
    }
}

/// The answer the client got, in a few words: `accepted: 2 runs accepted; …` or
/// `rejected (InvalidPayload)`.
fn answer_text(response: &serde_json::Value) -> String {
    let status = response["status"].as_str().unwrap_or("?");
    let mut text = status.to_owned();
    if let Some(kind) = response["exception_type"].as_str() {
        text.push_str(&format!(" ({kind})"));
    } else if let Some(message) = response["message"].as_str() {
        text.push_str(&format!(": {message}"));
    }
    text
}

fn written(e: &Event) -> String {
    let (created, updated, unchanged) = if is_incident(e) {
        (
            e.incidents_created,
            e.incidents_updated,
            e.incidents_unchanged,
        )
    } else {
        (e.runs_created, e.runs_updated, e.runs_unchanged)
    };
    format!("{created} created, {updated} updated, {unchanged} unchanged")
}
