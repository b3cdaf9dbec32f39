//! Opsgenie alerts exports: the `data` of `GET /v2/alerts` pages, mapped to incidents of
//! provider `opsgenie`. The mapping is in README.md.

use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::Value;

use super::Overrides;
use super::pagerduty::as_key;
use crate::protocol::Element;
use crate::protocol::incident::{IncidentElement, RawIncident};
use crate::protocol::run::wire_time;
use crate::protocol::validate::parse_timestamp;

/// The fields of an Opsgenie alert that the mapping reads; the rest is skipped unparsed.
/// Every field is lenient (any JSON value), so a wrong type is reported by validation, per field.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OpsgenieAlert {
    #[serde(rename = "tinyId")]
    tiny_id: Option<Value>,
    id: Option<Value>,
    message: Option<Value>,
    status: Option<Value>,
    acknowledged: Option<Value>,
    #[serde(rename = "createdAt")]
    created_at: Option<Value>,
    #[serde(rename = "updatedAt")]
    updated_at: Option<Value>,
    owner: Option<Value>,
    tags: Option<Value>,
    report: Option<Value>,
}

/// Maps one element of `data` to an incident.
pub(crate) fn map(element: Element<OpsgenieAlert>, overrides: &Overrides) -> IncidentElement {
    let alert = match element {
        Element::Object(alert) => *alert,
        Element::NotAnObject(kind) => return Element::NotAnObject(kind),
    };
    let acknowledged = alert.acknowledged.as_ref().and_then(Value::as_bool) == Some(true);
    let word = alert.status.as_ref().and_then(Value::as_str).map(str::trim);
    let status = alert.status.as_ref().map(|status| match word {
        Some(s) if s.eq_ignore_ascii_case("closed") => Value::from("RESOLVED"),
        Some(s) if s.eq_ignore_ascii_case("open") && acknowledged => Value::from("ACKNOWLEDGED"),
        Some(s) if s.eq_ignore_ascii_case("open") => Value::from("TRIGGERED"),
        // Another word, or not a string: validation says what is wrong.
        _ => status.clone(),
    });
    let closed = word.is_some_and(|s| s.eq_ignore_ascii_case("closed"));
    // `report.closeTime` / `report.ackTime` (milliseconds after creation) are exact when the
    // export has them; else a closed alert's last update is its closing.
    let resolved_date =
        closed.then(|| after_creation(&alert, "closeTime").or_else(|| alert.updated_at.clone()));
    let acknowledged_date = acknowledged
        .then(|| after_creation(&alert, "ackTime"))
        .flatten();
    let tags: Vec<String> = match &alert.tags {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let tagged = |prefix: &str| {
        tags.iter()
            .find_map(|t| t.strip_prefix(prefix).map(|v| Value::from(v.trim())))
    };
    let repo_urls = overrides
        .repo_urls()
        .or_else(|| tagged("repo:").map(|url| Value::Array(vec![url])));
    let owner = alert
        .owner
        .filter(|o| !o.is_null() && o.as_str() != Some(""));
    Element::Object(Box::new(RawIncident {
        incident_key: alert
            .tiny_id
            .filter(|v| !v.is_null())
            .or(alert.id)
            .map(as_key),
        provider: Some(Value::from("opsgenie")),
        status,
        title: alert.message,
        creation_date: alert.created_at,
        acknowledged_date,
        resolved_date: resolved_date.flatten(),
        assignees: owner.map(|o| match o {
            Value::String(_) => Value::Array(vec![o]),
            other => other,
        }),
        provider_service_name: tagged("service:"),
        repo_urls,
        ..RawIncident::default()
    }))
}

/// `createdAt` plus `report.<field>` milliseconds, when both are usable.
fn after_creation(alert: &OpsgenieAlert, field: &str) -> Option<Value> {
    let created = parse_timestamp(alert.created_at.as_ref()?.as_str()?)?;
    let ms = alert.report.as_ref()?.get(field)?.as_i64()?;
    let at = created.checked_add_signed(TimeDelta::try_milliseconds(ms)?)?;
    Some(Value::from(wire_time(&at)))
}

/// Where an incident field comes from in the export, for error messages.
pub(crate) fn source_of(field: &str) -> Option<&'static str> {
    Some(match field.split('[').next().unwrap_or(field) {
        "incident_key" => "tinyId, else id",
        "status" => "status and acknowledged",
        "title" => "message",
        "creation_date" => "createdAt",
        "acknowledged_date" => "createdAt + report.ackTime",
        "resolved_date" => "createdAt + report.closeTime, else updatedAt",
        "assignees" => "owner",
        "provider_service_name" => "a service:NAME tag",
        "repo_urls" | "repo_names" => "--repo, else a repo:URL tag",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FieldError;
    use crate::protocol::incident::{Incident, IncidentStatus, validate_incident_element};
    use chrono::Utc;
    use serde_json::json;

    fn alert(status: &str, acknowledged: bool) -> Value {
        json!({
            "id": "70413a06-38d6-4c85-92b8-5ebc900d42e2", "tinyId": "1791",
            "alias": "checkout-5xx", "message": "Checkout 5xx above 5%",
            "status": status, "acknowledged": acknowledged, "isSeen": true,
            "tags": ["service:checkout-api", "repo:https://github.com/acme/shop"],
            "createdAt": "2025-03-01T10:00:00.000Z", "updatedAt": "2025-03-01T11:00:00.000Z",
            "owner": "ada@acme.example", "priority": "P1"
        })
    }

    fn check(value: Value, overrides: &Overrides) -> (Option<Incident>, Vec<FieldError>) {
        let element = serde_json::from_value(value).expect("element");
        let mut errors = Vec::new();
        let incident =
            validate_incident_element(map(element, overrides), 5, Utc::now(), &mut errors);
        (incident, errors)
    }

    #[test]
    fn a_closed_alert_maps_every_field() {
        let (incident, errors) = check(alert("closed", true), &Overrides::default());
        assert!(errors.is_empty(), "{errors:?}");
        let incident = incident.expect("valid");
        assert_eq!(incident.incident_key, "1791");
        assert_eq!(incident.provider, "opsgenie");
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(incident.title, "Checkout 5xx above 5%");
        assert_eq!(
            (incident.resolved_date.expect("closed") - incident.creation_date).num_seconds(),
            3600,
            "updatedAt without a report"
        );
        assert_eq!(incident.assignees, ["ada@acme.example"]);
        assert_eq!(
            incident.provider_service_name.as_deref(),
            Some("checkout-api")
        );
        assert_eq!(incident.repo_urls, ["https://github.com/acme/shop"]);

        // The report's exact times win; --repo wins over the tag.
        let mut exact = alert("closed", true);
        exact["report"] = json!({"ackTime": 60000, "closeTime": 1500000});
        let overrides = Overrides {
            repo: Some("https://github.com/acme/other".into()),
            ..Overrides::default()
        };
        let incident = check(exact, &overrides).0.expect("valid");
        assert_eq!(
            (incident.resolved_date.expect("closed") - incident.creation_date).num_seconds(),
            1500
        );
        assert_eq!(
            (incident.acknowledged_date.expect("acked") - incident.creation_date).num_seconds(),
            60
        );
        assert_eq!(incident.repo_urls, ["https://github.com/acme/other"]);
    }

    #[test]
    fn open_alerts_are_triggered_or_acknowledged() {
        let st = |acked| {
            check(alert("open", acked), &Overrides::default())
                .0
                .expect("valid")
                .status
        };
        assert_eq!(st(false), IncidentStatus::Triggered);
        assert_eq!(st(true), IncidentStatus::Acknowledged);
    }

    #[test]
    fn malformed_records_name_the_field() {
        let mut bad = alert("snoozed", false);
        bad["createdAt"] = json!("yesterday");
        bad["message"] = json!(["not", "text"]);
        bad["tags"] = json!([]);
        let (incident, errors) = check(bad, &Overrides::default());
        assert!(incident.is_none());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in ["status", "title", "creation_date"] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        assert!(fields.iter().any(|f| f.starts_with("repo")), "{fields:?}");
        assert!(errors.iter().all(|e| e.index == 5), "{errors:?}");
        assert_eq!(source_of("title"), Some("message"));
    }
}
