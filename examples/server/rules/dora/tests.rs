use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid")
        .with_timezone(&Utc)
}

const SHOP: i64 = 1;
const BLOG: i64 = 2;

fn deployment(id: &str, started: &str, status: RunStatus, duration: Option<i64>) -> Deployment {
    Deployment {
        run_id: id.parse().unwrap_or(0),
        repo_id: SHOP,
        workflow: "deploy".to_owned(),
        unique_id: id.to_owned(),
        status,
        started_at: at(started),
        duration,
    }
}

fn incident(created: &str, resolved: Option<&str>) -> IncidentFacts {
    IncidentFacts {
        repo_ids: vec![SHOP],
        kind: IncidentType::Incident,
        created_at: at(created),
        resolved_at: resolved.map(at),
        deployment: None,
    }
}

/// docs/dora.md's worked example: two weeks of acme/shop.
fn example() -> (Vec<Deployment>, Vec<IncidentFacts>) {
    let deployments = vec![
        deployment("1", "2025-03-03T10:00:00Z", RunStatus::Success, Some(300)),
        deployment("2", "2025-03-04T10:00:00Z", RunStatus::Success, Some(600)),
        deployment("3", "2025-03-05T10:00:00Z", RunStatus::Failure, Some(120)),
        deployment("4", "2025-03-06T10:00:00Z", RunStatus::Success, None),
    ];
    let mut named = incident("2025-03-10T08:00:00Z", None);
    named.deployment = Some(DeploymentRef {
        workflow_name: "deploy".to_owned(),
        workflow_run_unique_id: "1".to_owned(),
    });
    let mut alert = incident("2025-03-06T11:00:00Z", None);
    alert.kind = IncidentType::Alert;
    let incidents = vec![
        // Before any deployment: attributed to none.
        incident("2025-03-03T09:00:00Z", Some("2025-03-03T09:30:00Z")),
        // Two on deployment 2.
        incident("2025-03-04T12:00:00Z", Some("2025-03-04T13:00:00Z")),
        incident("2025-03-04T15:00:00Z", Some("2025-03-04T17:00:00Z")),
        // Open, and names deployment 1 (the latest before it would be 4).
        named,
        alert,
    ];
    (deployments, incidents)
}

#[test]
fn worked_example() {
    let (deployments, incidents) = example();
    let (total, weeks) = figures(
        &deployments,
        &incidents,
        at("2025-03-03T00:00:00Z"),
        at("2025-03-17T00:00:00Z"),
        Interval::Week,
    )
    .expect("figures");

    let f = &total.deployment_frequency;
    assert_eq!((f.deployments, f.days), (3, 14.0));
    assert_eq!(f.per_day, Some(3.0 / 14.0));
    let c = &total.change_failure_rate;
    assert_eq!(
        (
            c.deployments,
            c.failed_deployments,
            c.incidents,
            c.unattributed_incidents
        ),
        (3, 2, 4, 1)
    );
    assert_eq!(c.rate, Some(2.0 / 3.0));
    let r = &total.time_to_restore;
    assert_eq!((r.resolved, r.open), (3, 1));
    assert_eq!(r.mean_seconds, Some(4200.0));
    assert_eq!(r.median_seconds, Some(3600.0));
    let d = &total.deployment_duration;
    assert_eq!((d.deployments, d.without_duration), (2, 1));
    assert_eq!(d.median_seconds, Some(450.0));
    assert_eq!(d.p90_seconds, Some(600));

    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0].start, at("2025-03-03T00:00:00Z"));
    assert_eq!(weeks[0].end, at("2025-03-10T00:00:00Z"));
    let first = &weeks[0].figures;
    assert_eq!(first.deployment_frequency.per_day, Some(3.0 / 7.0));
    assert_eq!(first.change_failure_rate.failed_deployments, 2);
    assert_eq!(first.change_failure_rate.incidents, 3);
    assert_eq!(first.time_to_restore.open, 0);
    // A week without deployments: no rate, an open incident, no durations.
    let second = &weeks[1].figures;
    assert_eq!(second.deployment_frequency.deployments, 0);
    assert_eq!(second.deployment_frequency.per_day, Some(0.0));
    assert_eq!(second.change_failure_rate.rate, None);
    assert_eq!(second.change_failure_rate.incidents, 1);
    assert_eq!(second.change_failure_rate.unattributed_incidents, 0);
    assert_eq!(
        (second.time_to_restore.resolved, second.time_to_restore.open),
        (0, 1)
    );
    assert_eq!(second.time_to_restore.mean_seconds, None);
    assert_eq!(second.deployment_duration.median_seconds, None);
    assert_eq!(second.deployment_duration.p90_seconds, None);
}

#[test]
fn an_incident_attributes_to_the_latest_success_of_its_own_repository() {
    let mut other = deployment("9", "2025-03-04T11:00:00Z", RunStatus::Success, None);
    other.repo_id = BLOG;
    let deployments = vec![
        deployment("1", "2025-03-04T09:00:00Z", RunStatus::Success, None),
        deployment("2", "2025-03-04T10:00:00Z", RunStatus::Failure, None),
        other,
        // Starts exactly when the incident is created: not before it.
        deployment("3", "2025-03-04T12:00:00Z", RunStatus::Success, None),
    ];
    let (total, _) = figures(
        &deployments,
        &[incident("2025-03-04T12:00:00Z", None)],
        at("2025-03-04T00:00:00Z"),
        at("2025-03-05T00:00:00Z"),
        Interval::Day,
    )
    .expect("figures");
    // Deployment 1 failed; 3 and blog's 9 did not.
    assert_eq!(total.change_failure_rate.deployments, 3);
    assert_eq!(total.change_failure_rate.failed_deployments, 1);
}

#[test]
fn a_named_deployment_that_is_not_stored_falls_back_to_the_latest() {
    let deployments = vec![deployment(
        "1",
        "2025-03-04T09:00:00Z",
        RunStatus::Success,
        None,
    )];
    let mut named = incident("2025-03-04T12:00:00Z", None);
    named.deployment = Some(DeploymentRef {
        workflow_name: "deploy".to_owned(),
        workflow_run_unique_id: "404".to_owned(),
    });
    let (total, _) = figures(
        &deployments,
        &[named],
        at("2025-03-04T00:00:00Z"),
        at("2025-03-05T00:00:00Z"),
        Interval::Day,
    )
    .expect("figures");
    assert_eq!(total.change_failure_rate.failed_deployments, 1);
    assert_eq!(total.change_failure_rate.unattributed_incidents, 0);
}

#[test]
fn a_deployment_before_the_range_takes_incidents_but_is_not_counted() {
    let deployments = vec![deployment(
        "1",
        "2025-02-28T09:00:00Z",
        RunStatus::Success,
        None,
    )];
    let (total, _) = figures(
        &deployments,
        &[incident(
            "2025-03-04T12:00:00Z",
            Some("2025-03-04T12:00:01.500Z"),
        )],
        at("2025-03-01T00:00:00Z"),
        at("2025-04-01T00:00:00Z"),
        Interval::Month,
    )
    .expect("figures");
    let c = &total.change_failure_rate;
    assert_eq!((c.deployments, c.failed_deployments, c.rate), (0, 0, None));
    assert_eq!((c.incidents, c.unattributed_incidents), (1, 0));
    assert_eq!(total.time_to_restore.mean_seconds, Some(1.5));
    assert_eq!(total.deployment_frequency.days, 31.0);
}

#[test]
fn percentiles_by_hand() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[5.0]), Some(5.0));
    assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
    assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(nearest_rank(&ten, 90), Some(9));
    let eleven: Vec<i64> = (1..=11).collect();
    assert_eq!(nearest_rank(&eleven, 90), Some(10));
    assert_eq!(nearest_rank(&[7], 90), Some(7));
    assert_eq!(nearest_rank(&[], 90), None);
}

#[test]
fn intervals_follow_the_calendar_and_are_cut_by_the_range() {
    // Wednesday to the next Wednesday: two ISO weeks, both cut.
    let weeks = spans(
        at("2025-03-05T12:00:00Z"),
        at("2025-03-12T12:00:00Z"),
        Interval::Week,
    )
    .expect("spans");
    assert_eq!(
        weeks,
        [
            (at("2025-03-05T12:00:00Z"), at("2025-03-10T00:00:00Z")),
            (at("2025-03-10T00:00:00Z"), at("2025-03-12T12:00:00Z")),
        ]
    );
    let months = spans(
        at("2024-01-31T00:00:00Z"),
        at("2024-03-02T00:00:00Z"),
        Interval::Month,
    )
    .expect("spans");
    assert_eq!(
        months.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [
            at("2024-01-31T00:00:00Z"),
            at("2024-02-01T00:00:00Z"),
            at("2024-03-01T00:00:00Z")
        ]
    );
    let err = spans(
        at("2020-01-01T00:00:00Z"),
        at("2025-01-01T00:00:00Z"),
        Interval::Day,
    )
    .expect_err("too many");
    assert!(err.contains("longer interval"), "{err}");
    let empty = figures(
        &[],
        &[],
        at("2025-01-01T00:00:00Z"),
        at("2025-01-01T00:00:00Z"),
        Interval::Day,
    );
    assert!(empty.expect_err("empty").contains("before `to`"));
}
