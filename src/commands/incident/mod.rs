//! `mwctl incident open|ack|resolve`: an incident from an alert hook, a runbook or a CI
//! rollback job, through the deploy steps' machinery ([`super::step`]): the same never-fail /
//! `--strict` / `--timeout` contract, `--explain`, `-o json` and CI annotations.
//!
//! Every report of an incident carries its title and creation time (the protocol requires
//! them). `open` remembers the incident in a small state file ([`state`]); `ack` and `resolve`
//! take them from `--title` / `--opened-at`, else from that file, else from the server
//! (`GET /api/incidents`, when the key also has the admin scope).

mod state;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::step::deliver::deliver;
use super::step::values::given;
use super::step::{BadValue, Deadline, Delivery, Problem, Row, Step};
use super::{Ctx, ExitStatus};
use crate::ci::git::Git;
use crate::ci::{self, CiFacts, Field};
use crate::cli::{IncidentIdArgs, IncidentOpenArgs, IncidentUpdateArgs, parse_time};
use crate::protocol::incident::{
    DeploymentRef, INCIDENTS_PATH, Incident, IncidentStatus, IncidentType, RawIncident,
    validate_incident,
};
use crate::protocol::repo::canonical_repo_url;
use crate::protocol::run::wire_time;
use crate::protocol::strip_credentials;
use state::OpenedIncident;

/// The provider when none is given.
const DEFAULT_PROVIDER: &str = "custom";

/// The fields, in the order `--explain` lists them.
const NAMES: [&str; 13] = [
    "incident_key",
    "provider",
    "status",
    "title",
    "creation_date",
    "acknowledged_date",
    "resolved_date",
    "incident_type",
    "provider_service_name",
    "url",
    "repo_urls",
    "deployment.workflow_name",
    "deployment.workflow_run_unique_id",
];

/// An incident report, each field with where it came from.
struct Draft {
    command: &'static str,
    fields: BTreeMap<&'static str, Field>,
    /// Why a required field is missing, when it is.
    missing: BTreeMap<&'static str, Problem>,
    assignees: Vec<String>,
    ci_provider: Option<String>,
    bad_values: Vec<BadValue>,
}

impl Draft {
    fn new(command: &'static str, facts: &CiFacts, bad_values: Vec<BadValue>) -> Draft {
        Draft {
            command,
            fields: BTreeMap::new(),
            missing: BTreeMap::new(),
            assignees: Vec::new(),
            ci_provider: facts.provider.clone(),
            bad_values,
        }
    }

    fn set(&mut self, name: &'static str, field: Option<Field>) {
        if let Some(field) = field {
            self.fields.insert(name, field);
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(|f| f.value.as_str())
    }
}

impl Step for Draft {
    type Item = Incident;
    const WHAT: &'static str = "incident";
    const ITEM_KEY: &'static str = "incident";
    const BODY_KEY: &'static str = "incidents";
    const PATH: &'static str = INCIDENTS_PATH;

    fn command(&self) -> &'static str {
        self.command
    }

    fn build(&self) -> Result<Incident, Problem> {
        if let Some(problem) = self.missing.values().next() {
            return Err(problem.clone());
        }
        let text = |name: &str| self.value(name).map(Value::from);
        let deployment = match (
            self.value("deployment.workflow_name"),
            self.value("deployment.workflow_run_unique_id"),
        ) {
            (Some(workflow), Some(id)) => Some(serde_json::json!({
                "workflow_name": workflow,
                "workflow_run_unique_id": id,
            })),
            _ => None,
        };
        let raw = RawIncident {
            incident_key: text("incident_key"),
            provider: text("provider"),
            status: text("status"),
            title: text("title"),
            creation_date: text("creation_date"),
            acknowledged_date: text("acknowledged_date"),
            resolved_date: text("resolved_date"),
            reopened_date: None,
            assignees: (!self.assignees.is_empty()).then(|| Value::from(self.assignees.clone())),
            url: text("url"),
            incident_type: text("incident_type"),
            provider_service_name: text("provider_service_name"),
            repo_urls: text("repo_urls").map(|url| Value::Array(vec![url])),
            repo_names: None,
            deployment,
        };
        let mut errors = Vec::new();
        match validate_incident(raw, 0, Utc::now(), &mut errors) {
            Some(incident) if errors.is_empty() => Ok(incident),
            _ => {
                let all: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                let first = errors.first().map_or("the incident", |e| e.field.as_str());
                Err(Problem::new(
                    format!("the incident is invalid: {}", all.join("; ")),
                    format!(
                        "fix {first} (pass it as a flag, see `mwctl {} --help`)",
                        self.command
                    ),
                ))
            }
        }
    }

    fn bad_values(&self) -> &[BadValue] {
        &self.bad_values
    }

    fn provider(&self) -> Option<&str> {
        self.ci_provider.as_deref()
    }

    fn sources(&self) -> BTreeMap<&'static str, String> {
        NAMES
            .iter()
            .map(|name| {
                let source = self
                    .fields
                    .get(name)
                    .map_or_else(|| "not found".to_owned(), |f| f.source.clone());
                (*name, source)
            })
            .collect()
    }

    fn explain_rows(&self) -> Vec<Row> {
        NAMES
            .iter()
            .map(
                |name| match (self.fields.get(name), self.missing.get(name)) {
                    (Some(f), _) => ((*name).to_owned(), f.value.clone(), f.source.clone()),
                    (None, Some(problem)) => {
                        ((*name).to_owned(), "-".to_owned(), problem.error.clone())
                    }
                    (None, None) => ((*name).to_owned(), "-".to_owned(), "not found".to_owned()),
                },
            )
            .collect()
    }

    fn sent_rows(&self, _: &Incident) -> Vec<Row> {
        NAMES
            .iter()
            .filter_map(|name| {
                let f = self.fields.get(name)?;
                Some(((*name).to_owned(), f.value.clone(), f.source.clone()))
            })
            .collect()
    }

    fn accepted_line(&self, incident: &Incident) -> String {
        format!(
            "{} incident {} ({:?}) of {} is {}{}",
            incident.provider,
            incident.incident_key,
            incident.title,
            incident.repo_urls.first().map_or("", String::as_str),
            incident.status,
            match (incident.status, incident.resolved_date) {
                (IncidentStatus::Resolved, Some(resolved)) => format!(
                    " after {}",
                    humantime::format_duration(std::time::Duration::from_secs(
                        (resolved - incident.creation_date).num_seconds().max(0) as u64
                    ))
                ),
                _ => String::new(),
            }
        )
    }

    fn summary_table(&self, incident: &Incident) -> (Vec<&'static str>, Vec<String>) {
        (
            vec![
                "incident",
                "provider",
                "status",
                "title",
                "repo",
                "deployment",
            ],
            vec![
                incident.incident_key.clone(),
                incident.provider.clone(),
                incident.status.to_string(),
                incident.title.clone(),
                incident.repo_urls.first().cloned().unwrap_or_default(),
                incident
                    .deployment
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |d| d.workflow_run_unique_id.clone()),
            ],
        )
    }

    fn outputs(&self, incident: &Incident) -> Vec<(&'static str, String)> {
        vec![("incident_key", incident.incident_key.clone())]
    }
}

/// A time from a flag, or now; a flag that is not a time is a warning and gives now.
fn time_or_now(
    raw: &Option<String>,
    flag: &'static str,
    bad: &mut Vec<BadValue>,
) -> (DateTime<FixedOffset>, String) {
    if let Some(raw) = given(raw) {
        match parse_time(raw) {
            Ok(at) => return (at, flag.to_owned()),
            Err(error) => bad.push(BadValue {
                flag,
                value: raw.to_owned(),
                error,
                instead: "used the current time".to_owned(),
            }),
        }
    }
    (Utc::now().fixed_offset(), "now".to_owned())
}

fn time_field(at: DateTime<FixedOffset>, source: impl Into<String>) -> Field {
    Field::new(wire_time(&at), source)
}

fn flag(value: &Option<String>, name: &str) -> Option<Field> {
    given(value).map(|v| Field::new(v.trim(), name))
}

/// The provider: `--provider`, else what was remembered, else `custom`.
fn provider_field(args: &IncidentIdArgs, saved: Option<&OpenedIncident>) -> Field {
    flag(&args.provider, "--provider / MW_INCIDENT_PROVIDER")
        .map(|mut f| {
            f.value = f.value.to_ascii_lowercase();
            f
        })
        .or_else(|| saved.map(|s| Field::new(&s.provider, "incident open's state")))
        .unwrap_or_else(|| Field::new(DEFAULT_PROVIDER, "default"))
}

/// The repository: `--repo`, else what was remembered, else the CI, else git; in the one
/// form mwctl sends, without credentials.
fn repo_field(
    args: &IncidentIdArgs,
    saved: Option<&OpenedIncident>,
    facts: &CiFacts,
) -> Option<Field> {
    let mut repo = flag(&args.repo, "--repo / MW_REPO")
        .or_else(|| {
            saved
                .and_then(|s| s.repo_url.as_ref())
                .map(|r| Field::new(r, "incident open's state"))
        })
        .or_else(|| facts.repo_url.clone())
        .or_else(|| Git::default().repo_url())?;
    repo.value = strip_credentials(&repo.value);
    if let Ok(canonical) = canonical_repo_url(&repo.value) {
        repo.value = canonical;
    }
    Some(repo)
}

pub async fn open(args: IncidentOpenArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let mut bad = Vec::new();
    let delivery = Delivery::parse(&args.delivery, &mut bad);
    let deadline = Deadline::new(delivery.timeout);
    let facts = ci::detect();
    let (created, created_source) = time_or_now(&args.at, "--at", &mut bad);
    let incident_type = given(&args.incident_type).and_then(|raw| match IncidentType::parse(raw) {
        Some(t) => Some(Field::new(t.as_str(), "--type")),
        None => {
            bad.push(BadValue {
                flag: "--type",
                value: raw.to_owned(),
                error: format!("{raw:?} is not an incident type; use incident or alert"),
                instead: "sent no type (the server counts it as an incident)".to_owned(),
            });
            None
        }
    });
    let assignees: Vec<String> = args
        .assignee
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    let mut draft = Draft::new("incident open", &facts, bad);
    draft.set("incident_key", Some(Field::new(args.key.trim(), "--key")));
    draft.set("provider", Some(provider_field(&args.id, None)));
    draft.set("status", Some(Field::new("TRIGGERED", "incident open")));
    draft.set("title", Some(Field::new(args.title.trim(), "--title")));
    draft.set("creation_date", Some(time_field(created, created_source)));
    draft.set("incident_type", incident_type);
    draft.set("provider_service_name", flag(&args.service, "--service"));
    draft.set(
        "url",
        flag(&args.incident_url, "--incident-url").map(|mut u| {
            u.value = strip_credentials(&u.value);
            u
        }),
    );
    draft.set("repo_urls", repo_field(&args.id, None, &facts));
    if let Some(id) = flag(&args.deployment, "--deployment") {
        let workflow = flag(&args.workflow, "--workflow / MW_WORKFLOW")
            .or_else(|| facts.workflow.clone())
            .unwrap_or_else(|| Field::new("deploy", "default"));
        draft.set("deployment.workflow_name", Some(workflow));
        draft.set("deployment.workflow_run_unique_id", Some(id));
    }
    draft.assignees = assignees;

    // Remembered before sending: resolve must work even when open could not reach the server.
    let sends = !delivery.dry_run && !draft.refused_by(&delivery);
    if sends && let Some(path) = state::path(args.id.incident_state.as_deref()) {
        let value = |name: &str| draft.value(name).map(str::to_owned);
        let opened = OpenedIncident {
            provider: value("provider").unwrap_or_else(|| DEFAULT_PROVIDER.to_owned()),
            incident_key: value("incident_key").unwrap_or_default(),
            title: value("title").unwrap_or_default(),
            creation_date: created,
            repo_url: value("repo_urls"),
            service: value("provider_service_name"),
            url: value("url"),
            incident_type: value("incident_type"),
            deployment: match (
                value("deployment.workflow_name"),
                value("deployment.workflow_run_unique_id"),
            ) {
                (Some(workflow_name), Some(workflow_run_unique_id)) => Some(DeploymentRef {
                    workflow_name,
                    workflow_run_unique_id,
                }),
                _ => None,
            },
        };
        match state::save(&path, &opened) {
            Ok(()) => ctx.printer.verbose(format!(
                "incident state for ack and resolve: {}",
                path.display()
            )),
            Err(e) => ctx.printer.warn(format!(
                "{e:#}; incident ack/resolve will need --title and --opened-at (or pass \
                 --incident-state / MW_INCIDENT_STATE_FILE with a writable path)"
            )),
        }
    }
    Ok(deliver(ctx, draft, &delivery, deadline).await.status)
}

pub async fn ack(args: IncidentUpdateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    update(args, IncidentStatus::Acknowledged, ctx).await
}

pub async fn resolve(args: IncidentUpdateArgs, ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    update(args, IncidentStatus::Resolved, ctx).await
}

async fn update(
    args: IncidentUpdateArgs,
    status: IncidentStatus,
    ctx: &Ctx,
) -> anyhow::Result<ExitStatus> {
    let command = match status {
        IncidentStatus::Acknowledged => "incident ack",
        _ => "incident resolve",
    };
    let mut bad = Vec::new();
    let delivery = Delivery::parse(&args.delivery, &mut bad);
    let deadline = Deadline::new(delivery.timeout);
    let facts = ci::detect();
    let key = args.key.trim().to_owned();
    let (at, at_source) = time_or_now(&args.at, "--at", &mut bad);
    let opened_at = given(&args.opened_at).and_then(|raw| match parse_time(raw) {
        Ok(at) => Some(time_field(at, "--opened-at")),
        Err(error) => {
            bad.push(BadValue {
                flag: "--opened-at",
                value: raw.to_owned(),
                error,
                instead: "looked for the creation time elsewhere".to_owned(),
            });
            None
        }
    });
    let title = flag(&args.title, "--title");
    let state_path = state::path(args.id.incident_state.as_deref());
    let provider_flag = flag(&args.id.provider, "--provider").map(|f| f.value.to_ascii_lowercase());
    let saved = state_path.as_deref().and_then(|path| {
        match state::find(path, provider_flag.as_deref(), &key) {
            Ok(saved) => saved,
            Err(e) => {
                ctx.printer.warn(format!("{e:#}"));
                None
            }
        }
    });
    let saved_source = state_path
        .as_deref()
        .map(|p| format!("incident open's state ({})", p.display()))
        .unwrap_or_else(|| "incident open's state".to_owned());
    let from_saved = |v: Option<&String>| v.map(|v| Field::new(v, &saved_source));

    let mut draft = Draft::new(command, &facts, bad);
    draft.set("incident_key", Some(Field::new(&key, "argument")));
    let provider = provider_field(&args.id, saved.as_ref());
    draft.set("provider", Some(provider.clone()));
    draft.set("status", Some(Field::new(status.as_str(), command)));
    draft.set(
        "title",
        title.or_else(|| from_saved(saved.as_ref().map(|s| &s.title))),
    );
    draft.set(
        "creation_date",
        opened_at.or_else(|| {
            saved
                .as_ref()
                .map(|s| time_field(s.creation_date, &saved_source))
        }),
    );
    let at_name = match status {
        IncidentStatus::Acknowledged => "acknowledged_date",
        _ => "resolved_date",
    };
    draft.set(at_name, Some(time_field(at, at_source)));
    draft.set("repo_urls", repo_field(&args.id, saved.as_ref(), &facts));
    if let Some(saved) = &saved {
        draft.set("provider_service_name", from_saved(saved.service.as_ref()));
        draft.set("url", from_saved(saved.url.as_ref()));
        draft.set("incident_type", from_saved(saved.incident_type.as_ref()));
        if let Some(d) = &saved.deployment {
            draft.set(
                "deployment.workflow_name",
                from_saved(Some(&d.workflow_name)),
            );
            draft.set(
                "deployment.workflow_run_unique_id",
                from_saved(Some(&d.workflow_run_unique_id)),
            );
        }
    }
    // Neither given nor remembered: ask the server, within the deadline.
    if (!draft.fields.contains_key("title") || !draft.fields.contains_key("creation_date"))
        && !delivery.dry_run
    {
        let repo = draft.value("repo_urls").map(str::to_owned);
        let found = tokio::time::timeout(
            deadline.remaining(),
            lookup(ctx, &provider.value, &key, repo.as_deref(), deadline),
        )
        .await
        .unwrap_or(Ok(None));
        match found {
            Ok(Some(stored)) => {
                let src = "the server (GET /api/incidents)";
                if !draft.fields.contains_key("title") {
                    draft.set("title", Some(Field::new(&stored.title, src)));
                }
                if !draft.fields.contains_key("creation_date") {
                    draft.set(
                        "creation_date",
                        Some(time_field(stored.creation_date.fixed_offset(), src)),
                    );
                }
                if !draft.fields.contains_key("repo_urls") && !stored.repo.is_empty() {
                    ctx.printer
                        .verbose(format!("the server has it in {}", stored.repo));
                }
            }
            Ok(None) => {}
            Err(e) => ctx.printer.verbose(format!("cannot ask the server: {e}")),
        }
    }
    let missing: Vec<(&'static str, &str)> =
        [("title", "--title"), ("creation_date", "--opened-at")]
            .into_iter()
            .filter(|(name, _)| !draft.fields.contains_key(name))
            .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|(name, _)| *name).collect();
        let flags: Vec<&str> = missing.iter().map(|(_, flag)| *flag).collect();
        let problem = Problem::new(
            format!(
                "cannot tell the incident's {}: `incident open` did not remember {} incident \
                 {key:?} on this machine, and the server did not give it (that needs a key \
                 with the admin scope)",
                names.join(" and "),
                provider.value
            ),
            format!(
                "pass {} (the protocol needs them with every report)",
                flags.join(" and ")
            ),
        );
        for (name, _) in missing {
            draft.missing.insert(name, problem.clone());
        }
    }
    let delivered = deliver(ctx, draft, &delivery, deadline).await;
    if delivered.accepted
        && status == IncidentStatus::Resolved
        && let Some(path) = &state_path
        && saved.is_some()
        && let Err(e) = state::remove(path, &provider.value, &key)
    {
        ctx.printer.warn(format!("{e:#}"));
    }
    Ok(delivered.status)
}

/// The stored incident `(provider, key)`, looked up page by page (a few pages at most).
async fn lookup(
    ctx: &Ctx,
    provider: &str,
    key: &str,
    repo: Option<&str>,
    deadline: Deadline,
) -> anyhow::Result<Option<crate::protocol::admin::StoredIncident>> {
    let client = ctx.client(deadline.remaining())?;
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let page = client
            .list_incidents(
                &crate::client::IncidentQuery {
                    repo,
                    ..Default::default()
                },
                100,
                cursor.as_deref(),
            )
            .await?;
        if let Some(found) = page
            .incidents
            .into_iter()
            .find(|i| i.incident_key == key && i.provider == provider)
        {
            return Ok(Some(found));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        let mut d = Draft::new("incident open", &CiFacts::default(), Vec::new());
        d.set("incident_key", Some(Field::new("INC-1", "--key")));
        d.set("provider", Some(Field::new("custom", "default")));
        d.set("status", Some(Field::new("RESOLVED", "incident resolve")));
        d.set("title", Some(Field::new("down", "--title")));
        d.set(
            "creation_date",
            Some(Field::new("2025-01-01T10:00:00Z", "--opened-at")),
        );
        d.set(
            "resolved_date",
            Some(Field::new("2025-01-01T10:30:00+00:00", "--at")),
        );
        d.set(
            "repo_urls",
            Some(Field::new("https://github.com/acme/shop", "--repo")),
        );
        d
    }

    #[test]
    fn a_draft_builds_the_wire_incident() {
        let mut d = draft();
        d.set(
            "deployment.workflow_name",
            Some(Field::new("deploy", "default")),
        );
        d.set(
            "deployment.workflow_run_unique_id",
            Some(Field::new("77", "--deployment")),
        );
        let incident = d.build().expect("valid");
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(incident.repo_urls, ["https://github.com/acme/shop"]);
        assert_eq!(
            (incident.resolved_date.expect("set") - incident.creation_date).num_seconds(),
            1800
        );
        assert_eq!(
            incident.deployment.expect("named").workflow_run_unique_id,
            "77"
        );
        assert!(
            d.accepted_line(&d.build().expect("valid"))
                .contains("after 30m")
        );
    }

    #[test]
    fn what_is_missing_or_invalid_says_which_field_and_how_to_fix_it() {
        let mut d = draft();
        d.fields.remove("title");
        d.missing.insert(
            "title",
            Problem::new("cannot tell the incident's title", "pass --title"),
        );
        let problem = d.build().expect_err("no title");
        assert_eq!(problem.resolution.as_deref(), Some("pass --title"));

        let mut d = draft();
        d.set(
            "resolved_date",
            Some(Field::new("2024-12-31T00:00:00Z", "--at")),
        );
        let problem = d.build().expect_err("resolved before created");
        assert!(
            problem.error.contains("resolved_date") && problem.error.contains("before"),
            "{}",
            problem.error
        );
        assert!(
            problem
                .resolution
                .as_deref()
                .is_some_and(|r| r.contains("resolved_date")),
            "{problem:?}"
        );
    }
}
