//! PagerDuty incidents exports: the `incidents` of `GET /incidents` pages (REST API v2, e.g.
//! `curl 'https://api.pagerduty.com/incidents?statuses[]=resolved&limit=100&offset=N'`), mapped
//! to incidents of provider `pagerduty`. The mapping is in README.md.

use serde::Deserialize;
use serde_json::Value;

use super::Overrides;
use crate::protocol::Element;
use crate::protocol::incident::{IncidentElement, RawIncident};

/// The fields of a PagerDuty incident that the mapping reads; the rest is skipped unparsed.
/// Every field is lenient (any JSON value), so a wrong type is reported by validation, per field.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PagerdutyIncident {
    incident_number: Option<Value>,
    id: Option<Value>,
    title: Option<Value>,
    status: Option<Value>,
    created_at: Option<Value>,
    resolved_at: Option<Value>,
    last_status_change_at: Option<Value>,
    html_url: Option<Value>,
    service: Option<Value>,
    assignments: Option<Value>,
}

/// Maps one element of `incidents` to an incident.
pub(crate) fn map(element: Element<PagerdutyIncident>, overrides: &Overrides) -> IncidentElement {
    let pd = match element {
        Element::Object(pd) => *pd,
        Element::NotAnObject(kind) => return Element::NotAnObject(kind),
    };
    let word = pd.status.as_ref().and_then(Value::as_str).map(str::trim);
    let status = pd.status.as_ref().map(|status| match status.as_str() {
        Some(s) => Value::from(s.trim().to_ascii_uppercase()),
        // Not a string: validation names the wrong type.
        None => status.clone(),
    });
    // A resolved incident's time of resolution: `resolved_at` when the export has it, else
    // its last status change (the change to resolved).
    let resolved_date = match word {
        Some(s) if s.eq_ignore_ascii_case("resolved") => pd
            .resolved_at
            .clone()
            .filter(|v| !v.is_null())
            .or(pd.last_status_change_at.clone()),
        _ => None,
    };
    let acknowledged_date = match word {
        Some(s) if s.eq_ignore_ascii_case("acknowledged") => pd.last_status_change_at.clone(),
        _ => None,
    };
    Element::Object(Box::new(RawIncident {
        incident_key: pd
            .incident_number
            .filter(|v| !v.is_null())
            .or(pd.id)
            .map(as_key),
        provider: Some(Value::from("pagerduty")),
        status,
        title: pd.title,
        creation_date: pd.created_at,
        acknowledged_date,
        resolved_date,
        assignees: pd.assignments.map(assignees),
        url: pd.html_url.filter(|v| !v.is_null()),
        provider_service_name: pd.service.map(summary).filter(|v| !v.is_null()),
        repo_urls: overrides.repo_urls(),
        ..RawIncident::default()
    }))
}

/// A number as its decimal text; anything else as it is (validation reports a wrong type).
pub(crate) fn as_key(value: Value) -> Value {
    match &value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Value::from(n.to_string()),
        _ => value,
    }
}

/// `x.summary` of a reference object; a value that is not an object stays as it is, for
/// validation to report.
fn summary(value: Value) -> Value {
    match value {
        Value::Object(mut object) => object.remove("summary").unwrap_or(Value::Null),
        other => other,
    }
}

/// `assignments[].assignee.summary`; an array of anything else is kept for validation.
fn assignees(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut a) => a.remove("assignee").map_or(Value::Null, summary),
                    other => other,
                })
                .filter(|v| !v.is_null())
                .collect(),
        ),
        other => other,
    }
}

/// Where an incident field comes from in the export, for error messages.
pub(crate) fn source_of(field: &str) -> Option<&'static str> {
    Some(match field.split('[').next().unwrap_or(field) {
        "incident_key" => "incident_number, else id",
        "status" => "status",
        "title" => "title",
        "creation_date" => "created_at",
        "acknowledged_date" => "last_status_change_at",
        "resolved_date" => "resolved_at, else last_status_change_at",
        "assignees" => "assignments[].assignee.summary",
        "url" => "html_url",
        "provider_service_name" => "service.summary",
        "repo_urls" | "repo_names" => "--repo URL: a PagerDuty export names no repository",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::incident::{IncidentStatus, validate_incident_element};
    use chrono::Utc;
    use serde_json::json;

    fn export(status: &str) -> Value {
        json!({
            "id": "Q1A2B3", "type": "incident", "incident_number": 1042,
            "title": "Checkout 5xx above 5%", "status": status,
            "created_at": "2025-03-01T10:00:00Z",
            "last_status_change_at": "2025-03-01T10:45:00Z",
            "html_url": "https://acme.pagerduty.com/incidents/Q1A2B3",
            "service": {"id": "PSVC", "summary": "checkout-api", "type": "service_reference"},
            "assignments": [{"at": "2025-03-01T10:01:00Z",
                "assignee": {"id": "PU1", "summary": "Ada Lovelace", "type": "user_reference"}}],
            "urgency": "high"
        })
    }

    fn repo() -> Overrides {
        Overrides {
            repo: Some("https://github.com/acme/shop".into()),
            ..Overrides::default()
        }
    }

    fn check(
        value: Value,
        overrides: &Overrides,
    ) -> (
        Option<crate::protocol::incident::Incident>,
        Vec<crate::protocol::FieldError>,
    ) {
        let element = serde_json::from_value(value).expect("element");
        let mut errors = Vec::new();
        let incident =
            validate_incident_element(map(element, overrides), 3, Utc::now(), &mut errors);
        (incident, errors)
    }

    #[test]
    fn a_resolved_incident_maps_every_field() {
        let (incident, errors) = check(export("resolved"), &repo());
        assert!(errors.is_empty(), "{errors:?}");
        let incident = incident.expect("valid");
        assert_eq!(incident.incident_key, "1042");
        assert_eq!(incident.provider, "pagerduty");
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(incident.title, "Checkout 5xx above 5%");
        assert_eq!(
            (incident.resolved_date.expect("resolved") - incident.creation_date).num_seconds(),
            2700
        );
        assert_eq!(incident.assignees, ["Ada Lovelace"]);
        assert_eq!(
            incident.provider_service_name.as_deref(),
            Some("checkout-api")
        );
        assert_eq!(
            incident.url.as_deref(),
            Some("https://acme.pagerduty.com/incidents/Q1A2B3")
        );
        assert_eq!(incident.repo_urls, ["https://github.com/acme/shop"]);

        // resolved_at wins over the last status change.
        let mut pd = export("resolved");
        pd["resolved_at"] = json!("2025-03-01T10:30:00Z");
        let resolved = check(pd, &repo()).0.expect("valid");
        assert_eq!(
            (resolved.resolved_date.expect("resolved") - resolved.creation_date).num_seconds(),
            1800
        );
    }

    #[test]
    fn open_incidents_and_the_id_without_a_number() {
        let (acked, errors) = check(export("acknowledged"), &repo());
        assert!(errors.is_empty(), "{errors:?}");
        let acked = acked.expect("valid");
        assert_eq!(acked.status, IncidentStatus::Acknowledged);
        assert!(acked.acknowledged_date.is_some() && acked.resolved_date.is_none());

        let mut pd = export("triggered");
        pd.as_object_mut()
            .expect("object")
            .remove("incident_number");
        let triggered = check(pd, &repo()).0.expect("valid");
        assert_eq!(triggered.incident_key, "Q1A2B3");
        assert_eq!(triggered.status, IncidentStatus::Triggered);
    }

    #[test]
    fn malformed_records_name_the_field() {
        // No --repo: the repository is missing.
        let (_, errors) = check(export("resolved"), &Overrides::default());
        assert!(
            errors.iter().any(|e| e.field.starts_with("repo")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| e.index == 3), "{errors:?}");

        let mut pd = export("snoozed");
        pd["created_at"] = json!(12);
        pd["title"] = Value::Null;
        pd["service"] = json!(42);
        let (incident, errors) = check(pd, &repo());
        assert!(incident.is_none());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in ["status", "title", "creation_date", "provider_service_name"] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        assert_eq!(source_of("provider_service_name"), Some("service.summary"));

        let mut errors = Vec::new();
        let element = serde_json::from_value(json!("Q1A2B3")).expect("element");
        assert!(
            validate_incident_element(map(element, &repo()), 0, Utc::now(), &mut errors).is_none()
        );
        assert!(
            errors[0].message.contains("expected an incident object"),
            "{errors:?}"
        );
    }
}
