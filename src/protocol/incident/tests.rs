use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-10T00:00:00Z")
        .expect("valid")
        .with_timezone(&Utc)
}

fn good() -> Value {
    json!({
        "incident_key": "PD-42",
        "provider": "PagerDuty",
        "status": "resolved",
        "title": "checkout is down",
        "creation_date": "2025-01-09T10:00:00Z",
        "acknowledged_date": "2025-01-09T10:05:00+00:00",
        "resolved_date": "2025-01-09T12:00:00+02:00",
        "assignees": ["alice", "bob"],
        "url": "https://acme.pagerduty.com/incidents/42",
        "provider_service_name": "checkout",
        "repo_urls": ["https://github.com/acme/shop.git"],
        "deployment": {"workflow_name": "deploy", "workflow_run_unique_id": 1234}
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut v = good();
    v[field] = value;
    v
}

fn without(field: &str) -> Value {
    let mut v = good();
    v.as_object_mut().expect("object").remove(field);
    v
}

fn check(value: Value) -> Result<Incident, Vec<FieldError>> {
    let raw: RawIncident = serde_json::from_value(value).expect("object");
    let mut errors = Vec::new();
    validate_incident(raw, 3, now(), &mut errors).ok_or(errors)
}

/// The fields with errors, in order.
fn fields(value: Value) -> Vec<String> {
    check(value)
        .expect_err("invalid")
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn a_good_incident_is_read_in_canonical_form() {
    let incident = check(good()).expect("valid");
    assert_eq!(incident.incident_key, "PD-42");
    assert_eq!(incident.provider, "pagerduty");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.incident_type, IncidentType::Incident);
    assert_eq!(incident.repo_urls, ["https://github.com/acme/shop"]);
    assert_eq!(
        incident.deployment,
        Some(DeploymentRef {
            workflow_name: "deploy".into(),
            workflow_run_unique_id: "1234".into()
        })
    );
    let wire = serde_json::to_value(&incident).expect("serialises");
    assert_eq!(wire["status"], "RESOLVED");
    assert_eq!(wire["creation_date"], "2025-01-09T10:00:00+00:00");
    assert_eq!(wire["resolved_date"], "2025-01-09T12:00:00+02:00");
    assert_eq!(wire["incident_type"], "INCIDENT");
    // What is sent validates to the same incident.
    assert_eq!(check(wire).expect("valid again"), incident);
}

#[test]
fn the_smallest_incident_needs_key_provider_status_title_date_and_repo() {
    let minimal = json!({
        "incident_key": "1", "provider": "custom", "status": "TRIGGERED",
        "title": "t", "creation_date": "2025-01-09T10:00:00Z", "repo_names": ["acme/shop"]
    });
    let incident = check(minimal.clone()).expect("valid");
    assert!(incident.resolved_date.is_none() && incident.assignees.is_empty());
    for field in [
        "incident_key",
        "provider",
        "status",
        "title",
        "creation_date",
    ] {
        let mut v = minimal.clone();
        v.as_object_mut().expect("object").remove(field);
        let errors = check(v).expect_err("invalid");
        assert_eq!(errors.len(), 1, "{field}: {errors:?}");
        assert_eq!(errors[0].field, field);
        assert_eq!(errors[0].message, "is required");
        assert_eq!(errors[0].index, 3);
    }
    let mut v = minimal;
    v.as_object_mut().expect("object").remove("repo_names");
    assert_eq!(fields(v), ["repo_urls"]);
}

#[test]
fn wrong_types_are_reported_per_field() {
    let cases = [
        ("incident_key", json!(42), "expected a string, got a number"),
        ("provider", json!(["pd"]), "expected a string, got an array"),
        ("status", json!(true), "expected a string, got a boolean"),
        ("title", json!({}), "expected a string, got an object"),
        (
            "creation_date",
            json!(1736416800),
            "expected a string, got a number",
        ),
        (
            "assignees",
            json!("alice"),
            "expected an array of strings, got a string",
        ),
        ("url", json!(7), "expected a string, got a number"),
        (
            "repo_urls",
            json!("https://github.com/a/b"),
            "expected an array of strings, got a string",
        ),
    ];
    for (field, value, message) in cases {
        let errors = check(with(field, value)).expect_err(field);
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert_eq!(errors[0].message, message, "{field}");
    }
    let errors = check(with("deployment", json!("deploy#1"))).expect_err("deployment");
    assert_eq!(errors[0].field, "deployment");
    assert!(errors[0].message.contains("got a string"), "{errors:?}");
    assert_eq!(
        fields(with("assignees", json!(["alice", 3, ""]))),
        ["assignees[1]", "assignees[2]"]
    );
}

#[test]
fn bad_values_say_what_to_send() {
    let errors = check(with("status", json!("open"))).expect_err("invalid");
    assert!(
        errors[0]
            .message
            .contains("TRIGGERED, ACKNOWLEDGED or RESOLVED")
    );
    let errors = check(with("incident_type", json!("outage"))).expect_err("invalid");
    assert!(errors[0].message.contains("INCIDENT"), "{errors:?}");
    let errors = check(with("creation_date", json!("2025-01-09 10:00"))).expect_err("invalid");
    assert!(errors[0].message.contains("ISO 8601"), "{errors:?}");
    assert_eq!(fields(with("url", json!("ftp://x/y"))), ["url"]);
    assert_eq!(fields(with("title", json!("x".repeat(1025)))), ["title"]);
    assert!(check(with("title", json!("é".repeat(1024)))).is_ok());
    assert_eq!(
        fields(with("incident_key", json!("k".repeat(257)))),
        ["incident_key"]
    );
    assert_eq!(fields(with("incident_key", json!("   "))), ["incident_key"]);
    assert_eq!(
        fields(with("assignees", json!(vec!["a"; MAX_ASSIGNEES + 1]))),
        ["assignees"]
    );
    assert_eq!(
        fields(with("deployment", json!({"workflow_name": "deploy"}))),
        ["deployment.workflow_run_unique_id"]
    );
    assert_eq!(
        fields(with("creation_date", json!("2025-01-12T00:00:00Z"))),
        ["creation_date"],
        "more than a day in the future"
    );
}

#[test]
fn types_and_statuses_are_read_in_any_case() {
    let incident = check(with("incident_type", json!("alert"))).expect("valid");
    assert_eq!(incident.incident_type, IncidentType::Alert);
    let incident = check(without("resolved_date").tap_status("Acknowledged")).expect("valid");
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
}

trait TapStatus {
    fn tap_status(self, status: &str) -> Value;
}

impl TapStatus for Value {
    fn tap_status(mut self, status: &str) -> Value {
        self["status"] = json!(status);
        self
    }
}

#[test]
fn dates_come_in_order_and_resolved_needs_its_date() {
    let errors = check(with("resolved_date", json!("2025-01-09T09:00:00Z"))).expect_err("invalid");
    assert_eq!(errors[0].field, "resolved_date");
    assert!(
        errors[0].message.contains("before creation_date"),
        "{errors:?}"
    );
    assert_eq!(
        fields(with(
            "acknowledged_date",
            json!("2025-01-09T11:59:00+02:00")
        )),
        ["acknowledged_date"]
    );
    let errors = check(without("resolved_date")).expect_err("invalid");
    assert_eq!(errors[0].field, "resolved_date");
    assert!(
        errors[0]
            .message
            .contains("required when status is RESOLVED")
    );
    let errors = check(good().tap_status("TRIGGERED")).expect_err("invalid");
    assert!(
        errors[0].message.contains("send status RESOLVED"),
        "{errors:?}"
    );
    // A reopen: after the last resolution, and resolved again after it.
    let reopened = without("resolved_date")
        .tap_status("TRIGGERED")
        .with_field("reopened_date", json!("2025-01-09T13:00:00Z"));
    assert!(check(reopened).expect("valid").reopened_date.is_some());
    let resolved_before_reopen = good().with_field("reopened_date", json!("2025-01-09T13:00:00Z"));
    assert_eq!(fields(resolved_before_reopen), ["resolved_date"]);
}

trait WithField {
    fn with_field(self, field: &str, value: Value) -> Value;
}

impl WithField for Value {
    fn with_field(mut self, field: &str, value: Value) -> Value {
        self[field] = value;
        self
    }
}

#[test]
fn every_problem_of_an_incident_is_listed() {
    let bad = json!({"provider": 1, "status": "x", "title": "", "creation_date": "yesterday"});
    assert_eq!(
        fields(bad),
        [
            "incident_key",
            "provider",
            "status",
            "title",
            "creation_date",
            "repo_urls"
        ]
    );
}

fn batch(items: Vec<Value>) -> Result<Vec<Incident>, Rejection> {
    let body = serde_json::to_vec(&json!({ "incidents": items })).expect("json");
    parse_incident_batch(&body, now())
}

#[test]
fn batches_hold_1_to_500_incidents_each_once() {
    assert!(batch(vec![]).expect_err("refused").error.contains("empty"));
    let many: Vec<Value> = (0..=MAX_INCIDENTS_PER_BATCH)
        .map(|i| with("incident_key", json!(format!("k{i}"))))
        .collect();
    let rejection = batch(many).expect_err("refused");
    assert!(
        rejection.error.contains("501 incidents"),
        "{}",
        rejection.error
    );
    assert!(rejection.resolution.contains("batches of at most 500"));

    let ok = batch(vec![good(), with("incident_key", json!("PD-43"))]).expect("valid");
    assert_eq!(ok.len(), 2);
    // The same incident twice, the provider spelled otherwise: one identity.
    let rejection = batch(vec![good(), with("provider", json!("pagerduty"))]).expect_err("refused");
    assert_eq!(rejection.errors.len(), 1);
    assert_eq!(rejection.errors[0].index, 1);
    assert_eq!(rejection.errors[0].field, "incident_key");
    // Other providers may use the same key.
    assert!(batch(vec![good(), with("provider", json!("opsgenie"))]).is_ok());
}

#[test]
fn a_batch_lists_each_bad_incident_by_index_and_stores_nothing() {
    let rejection =
        batch(vec![good(), json!("x"), without("title"), json!(null)]).expect_err("refused");
    assert_eq!(rejection.exception_type, ExceptionType::InvalidPayload);
    assert_eq!(
        rejection.error,
        "3 of 4 incidents are invalid; the batch was not stored"
    );
    let listed: Vec<(usize, &str)> = rejection
        .errors
        .iter()
        .map(|e| (e.index, e.field.as_str()))
        .collect();
    assert_eq!(listed, [(1, "incidents"), (2, "title"), (3, "incidents")]);
    assert!(rejection.resolution.contains("docs/protocol.md"));
}

#[test]
fn bodies_that_are_not_an_incidents_object_are_refused_clearly() {
    for (body, says) in [
        (&b"{"[..], "not valid JSON"),
        (b"[]", "not an incidents object"),
        (b"{\"workflow_runs\": []}", "no incidents array"),
        (b"{\"incidents\": {}}", "not an incidents object"),
        (b"", "not valid JSON"),
    ] {
        let rejection = parse_incident_batch(body, now()).expect_err("refused");
        assert!(
            rejection.error.contains(says),
            "{body:?}: {}",
            rejection.error
        );
        assert!(rejection.resolution.contains("{\"incidents\""));
    }
}
