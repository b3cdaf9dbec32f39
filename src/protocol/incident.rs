//! The incident model and its validation: what `POST /public/webhook/incidents` takes, run by
//! the server on ingest and by mwctl before sending. Field names follow Middleware's plan for
//! this endpoint; the rules are listed in docs/protocol.md.
//!
//! An incident's identity is `(provider, incident_key)`: a later report of the same incident
//! updates it. Its status only moves forward (TRIGGERED, ACKNOWLEDGED, RESOLVED), so reports
//! that arrive out of order cannot reopen it; a genuine reopen says so with `reopened_date`.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::{ExceptionType, FieldError, Rejection};
use super::run::{Element, json_type, wire_time};
use super::validate::{Checker, RULES_HINT};

/// The incidents ingest path.
pub const INCIDENTS_PATH: &str = "/public/webhook/incidents";
/// The alias the server also answers on.
pub const INCIDENTS_PATH_ALIAS: &str = "/public/webhook/incident";
/// Most incidents in one request.
pub const MAX_INCIDENTS_PER_BATCH: usize = 500;
/// Longest `title`, in chars.
pub const MAX_TITLE_CHARS: usize = 1024;
/// Most entries in `assignees`.
pub const MAX_ASSIGNEES: usize = 50;

/// Where an incident stands. The order is the order of progress: a status never goes back
/// (see [`IncidentStatus::rank`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "TRIGGERED",
            IncidentStatus::Acknowledged => "ACKNOWLEDGED",
            IncidentStatus::Resolved => "RESOLVED",
        }
    }

    /// Parses the protocol's spellings, case-insensitively.
    pub fn parse(s: &str) -> Option<IncidentStatus> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TRIGGERED" => Some(IncidentStatus::Triggered),
            "ACKNOWLEDGED" => Some(IncidentStatus::Acknowledged),
            "RESOLVED" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }

    /// 0, 1, 2 in the order of progress.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Only `INCIDENT`s count for the metrics; `ALERT`s are stored and listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IncidentType {
    #[default]
    Incident,
    Alert,
}

impl IncidentType {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentType::Incident => "INCIDENT",
            IncidentType::Alert => "ALERT",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentType> {
        match s.trim().to_ascii_uppercase().as_str() {
            "INCIDENT" => Some(IncidentType::Incident),
            "ALERT" => Some(IncidentType::Alert),
            _ => None,
        }
    }
}

/// The deployment (a run) that caused an incident, when the reporter knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub workflow_name: String,
    pub workflow_run_unique_id: String,
}

/// A validated incident, ready to send or to store. Serialises to the wire format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub incident_key: String,
    /// Lower case (`pagerduty`, `opsgenie`, `custom`...).
    pub provider: String,
    pub status: IncidentStatus,
    pub title: String,
    #[serde(serialize_with = "serialize_time")]
    pub creation_date: DateTime<FixedOffset>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_time"
    )]
    pub acknowledged_date: Option<DateTime<FixedOffset>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_time"
    )]
    pub resolved_date: Option<DateTime<FixedOffset>>,
    /// When a resolved incident was opened again (see the module's docs).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_time"
    )]
    pub reopened_date: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub incident_type: IncidentType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRef>,
}

fn serialize_time<S: serde::Serializer>(
    at: &DateTime<FixedOffset>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&wire_time(at))
}

fn serialize_optional_time<S: serde::Serializer>(
    at: &Option<DateTime<FixedOffset>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize_time(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// An incident as received: every field kept as raw JSON so that validation can report a wrong
/// type per field. Unknown fields are ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RawIncident {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_key: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_date: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_date: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reopened_date: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignees: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_type: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_service_name: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_urls: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_names: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Value>,
}

/// One element of an `incidents` array.
pub type IncidentElement = Element<RawIncident>;

/// Validates one incident. `index` is its position in the batch, used in errors.
pub fn validate_incident(
    raw: RawIncident,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Incident> {
    let before = errors.len();
    let mut c = Checker::new(index, errors);
    let incident_key = c.text("incident_key", raw.incident_key);
    let provider = c
        .text("provider", raw.provider)
        .map(|p| p.trim().to_ascii_lowercase());
    let status = status(&mut c, raw.status);
    let title = c.text_up_to("title", raw.title, MAX_TITLE_CHARS);
    let creation_date = c.timestamp("creation_date", raw.creation_date, now);
    let acknowledged_date = optional_time(&mut c, "acknowledged_date", raw.acknowledged_date, now);
    let resolved_date = optional_time(&mut c, "resolved_date", raw.resolved_date, now);
    let reopened_date = optional_time(&mut c, "reopened_date", raw.reopened_date, now);
    let assignees = assignees(&mut c, raw.assignees);
    let url = c.http_url("url", raw.url);
    let incident_type = incident_type(&mut c, raw.incident_type);
    let service = optional_text(&mut c, "provider_service_name", raw.provider_service_name);
    let repos = c.repos(raw.repo_urls, raw.repo_names);
    let deployment = deployment(&mut c, raw.deployment);

    // The dates in order, once each is valid on its own.
    if let Some(created) = creation_date {
        for (field, at) in [
            ("acknowledged_date", acknowledged_date.flatten()),
            ("resolved_date", resolved_date.flatten()),
            ("reopened_date", reopened_date.flatten()),
        ] {
            if at.is_some_and(|at| at < created) {
                c.error(
                    field,
                    format!(
                        "{} is before creation_date {}; check the time zones",
                        wire_time(&at.expect("some")),
                        wire_time(&created)
                    ),
                );
            }
        }
    }
    match (status, resolved_date) {
        (Some(IncidentStatus::Resolved), Some(None)) => c.error(
            "resolved_date",
            "is required when status is RESOLVED; give the time the incident was resolved",
        ),
        (Some(s), Some(Some(_))) if s != IncidentStatus::Resolved => c.error(
            "resolved_date",
            format!("is given but status is {s}; send status RESOLVED, or leave resolved_date out"),
        ),
        _ => {}
    }
    if let (Some(Some(reopened)), Some(Some(resolved))) = (reopened_date, resolved_date)
        && resolved < reopened
    {
        c.error(
            "resolved_date",
            "is before reopened_date; a reopened incident is resolved after it was reopened",
        );
    }

    if errors.len() > before {
        return None;
    }
    let (repo_urls, repo_names) = repos?;
    Some(Incident {
        incident_key: incident_key?,
        provider: provider?,
        status: status?,
        title: title?,
        creation_date: creation_date?,
        acknowledged_date: acknowledged_date?,
        resolved_date: resolved_date?,
        reopened_date: reopened_date?,
        assignees: assignees?,
        url: url?,
        incident_type: incident_type?,
        provider_service_name: service?,
        repo_urls,
        repo_names,
        deployment: deployment?,
    })
}

fn status(c: &mut Checker<'_>, value: Option<Value>) -> Option<IncidentStatus> {
    let s = c.text("status", value)?;
    let status = IncidentStatus::parse(&s);
    if status.is_none() {
        c.error(
            "status",
            format!("{s:?} is not a status; use TRIGGERED, ACKNOWLEDGED or RESOLVED"),
        );
    }
    status
}

fn incident_type(c: &mut Checker<'_>, value: Option<Value>) -> Option<IncidentType> {
    let Some(s) = optional_text(c, "incident_type", value)? else {
        return Some(IncidentType::Incident);
    };
    let kind = IncidentType::parse(&s);
    if kind.is_none() {
        c.error(
            "incident_type",
            format!(
                "{s:?} is not a type; use INCIDENT (the default, counted in the metrics) or ALERT"
            ),
        );
    }
    kind
}

fn optional_time(
    c: &mut Checker<'_>,
    field: &str,
    value: Option<Value>,
    now: DateTime<Utc>,
) -> Option<Option<DateTime<FixedOffset>>> {
    match value {
        None | Some(Value::Null) => Some(None),
        value => c.timestamp(field, value, now).map(Some),
    }
}

/// An optional string of 1 to 256 chars.
fn optional_text(c: &mut Checker<'_>, field: &str, value: Option<Value>) -> Option<Option<String>> {
    match value {
        None | Some(Value::Null) => Some(None),
        value => c.text(field, value).map(Some),
    }
}

fn assignees(c: &mut Checker<'_>, value: Option<Value>) -> Option<Vec<String>> {
    let items = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            c.wrong_type("assignees", "an array of strings", &other);
            return None;
        }
    };
    if items.len() > MAX_ASSIGNEES {
        c.error(
            "assignees",
            format!(
                "has {} entries; at most {MAX_ASSIGNEES} are allowed",
                items.len()
            ),
        );
        return None;
    }
    let before = c.errors.len();
    let names: Vec<String> = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| c.text(&format!("assignees[{i}]"), Some(item)))
        .collect();
    (c.errors.len() == before).then_some(names)
}

fn deployment(c: &mut Checker<'_>, value: Option<Value>) -> Option<Option<DeploymentRef>> {
    let mut map = match value {
        None | Some(Value::Null) => return Some(None),
        Some(Value::Object(map)) => map,
        Some(other) => {
            c.error(
                "deployment",
                format!(
                    "expected an object {{\"workflow_name\", \"workflow_run_unique_id\"}}, got {}",
                    json_type(&other)
                ),
            );
            return None;
        }
    };
    let workflow_name = c.text("deployment.workflow_name", map.remove("workflow_name"));
    let unique_id = match map.remove("workflow_run_unique_id") {
        // CI run ids are often numbers; ids compare as strings.
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        other => c.text("deployment.workflow_run_unique_id", other),
    };
    Some(Some(DeploymentRef {
        workflow_name: workflow_name?,
        workflow_run_unique_id: unique_id?,
    }))
}

/// Validates one element of an `incidents` array.
pub fn validate_incident_element(
    element: IncidentElement,
    index: usize,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Incident> {
    match element {
        Element::Object(raw) => validate_incident(*raw, index, now, errors),
        Element::NotAnObject(kind) => {
            errors.push(FieldError {
                index,
                field: "incidents".to_owned(),
                message: format!("expected an incident object, got {kind}"),
            });
            None
        }
    }
}

/// Validates a whole batch: the count, every incident, and repeated identities.
pub fn validate_incident_batch(
    elements: Vec<IncidentElement>,
    now: DateTime<Utc>,
) -> Result<Vec<Incident>, Rejection> {
    if elements.is_empty() {
        return Err(Rejection::new(
            ExceptionType::InvalidPayload,
            "incidents is empty",
            "send between 1 and 500 incidents in incidents",
        ));
    }
    if elements.len() > MAX_INCIDENTS_PER_BATCH {
        return Err(Rejection::new(
            ExceptionType::InvalidPayload,
            format!(
                "{} incidents in one request; at most {MAX_INCIDENTS_PER_BATCH} are allowed",
                elements.len()
            ),
            format!(
                "split the incidents into batches of at most {MAX_INCIDENTS_PER_BATCH} (mwctl send does this for you)"
            ),
        ));
    }
    let total = elements.len();
    let mut errors = Vec::new();
    let mut incidents = Vec::with_capacity(total);
    for (index, element) in elements.into_iter().enumerate() {
        if let Some(incident) = validate_incident_element(element, index, now, &mut errors) {
            incidents.push((index, incident));
        }
    }
    let mut seen = HashSet::new();
    for (index, incident) in &incidents {
        if !seen.insert((incident.provider.as_str(), incident.incident_key.as_str())) {
            errors.push(FieldError {
                index: *index,
                field: "incident_key".to_owned(),
                message: format!(
                    "{:?} of provider {:?} appears more than once; send updates of an incident in separate requests",
                    incident.incident_key, incident.provider
                ),
            });
        }
    }
    if errors.is_empty() {
        return Ok(incidents
            .into_iter()
            .map(|(_, incident)| incident)
            .collect());
    }
    errors.sort_by_key(|e| e.index);
    let bad: HashSet<usize> = errors.iter().map(|e| e.index).collect();
    let mut rejection = Rejection::new(
        ExceptionType::InvalidPayload,
        format!(
            "{} of {total} incidents are invalid; the batch was not stored",
            bad.len()
        ),
        format!("fix the incidents listed in errors and send the batch again; {RULES_HINT}"),
    );
    rejection.errors = errors;
    Err(rejection)
}

#[derive(Deserialize)]
struct Batch {
    incidents: Option<Vec<IncidentElement>>,
}

/// Parses and validates an incidents ingest body: `{"incidents": [incident, ...]}`.
pub fn parse_incident_batch(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Incident>, Rejection> {
    let resolution = "send a JSON object {\"incidents\": [incident, ...]} with 1 to 500 incidents";
    let batch: Batch = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the body is not valid JSON"
        } else {
            "the body is not an incidents object"
        };
        Rejection::new(
            ExceptionType::InvalidPayload,
            format!("{what}: {e}"),
            resolution,
        )
    })?;
    let elements = batch.incidents.ok_or_else(|| {
        Rejection::new(
            ExceptionType::InvalidPayload,
            "the body has no incidents array",
            resolution,
        )
    })?;
    validate_incident_batch(elements, now)
}

#[cfg(test)]
mod tests;
