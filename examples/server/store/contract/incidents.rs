//! The contract for incidents: storing and merging them through [`crate::ops`], what their
//! events record, listing, pruning, and the deployments the DORA rules read.

use mwctl::protocol::admin::{EventStatus, PruneOutcome};
use mwctl::protocol::incident::{DeploymentRef, IncidentStatus};
use serde_json::{Value, json};

use super::{Backend, Fixture, at, counts, fixture, run};
use crate::ops::{Applied, Pruned};
use crate::store::{DeploymentQuery, IncidentQuery, IncidentRow, Inserted, RequestType};

/// An incident `key` (provider pagerduty) of acme/`repo`, created 2025-01-10T11:00:00Z.
pub fn incident(repo: &str, key: &str, status: &str) -> Value {
    let mut incident = json!({
        "incident_key": key,
        "provider": "pagerduty",
        "status": status,
        "title": format!("{key} is down"),
        "creation_date": "2025-01-10T11:00:00Z",
        "repo_urls": [format!("https://github.com/acme/{repo}")],
    });
    if status == "RESOLVED" {
        incident["resolved_date"] = json!("2025-01-10T11:45:00Z");
    }
    incident
}

impl Fixture {
    /// Stores an accepted incident event and returns its id.
    pub async fn ingest_incidents(&self, incidents: Vec<Value>, received_at: &str) -> String {
        let body = serde_json::to_vec(&json!({ "incidents": incidents })).expect("json");
        let mut event = self.event(EventStatus::Waiting, received_at, Some(body));
        event.request_type = RequestType::Incident;
        event.received = incidents.len() as u64;
        let id = event.id.clone();
        assert!(matches!(
            self.store.insert_event(event).await.expect("stored"),
            Inserted::New
        ));
        id
    }

    pub async fn incidents(&self, query: IncidentQuery) -> Vec<IncidentRow> {
        self.store
            .list_incidents(&IncidentQuery {
                limit: query.limit.max(1),
                ..query
            })
            .await
            .expect("lists")
            .items
    }

    async fn all_incidents(&self) -> Vec<IncidentRow> {
        self.incidents(IncidentQuery {
            limit: 100,
            ..IncidentQuery::default()
        })
        .await
    }
}

pub async fn incidents_are_created_merged_and_recorded(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let opened = f
        .ingest_incidents(
            vec![incident("shop", "P1", "triggered")],
            "2025-01-10T11:01:00Z",
        )
        .await;
    let claimed = f.claim_one(super::OWNER).await.expect("waiting");
    assert_eq!(claimed.request_type, Ok(RequestType::Incident));
    assert_eq!(f.apply(&claimed, super::OWNER).await, counts(1, 0, 0));
    let stored = f.all_incidents().await;
    assert_eq!(stored.len(), 1);
    let first = &stored[0];
    assert_eq!(
        (first.provider.as_str(), first.incident_key.as_str()),
        ("pagerduty", "P1")
    );
    assert_eq!(first.repo, "acme/shop");
    assert_eq!(first.fields.status, IncidentStatus::Triggered, "upper case");
    assert_eq!(first.fields.creation_date, at("2025-01-10T11:00:00Z"));
    assert_eq!(
        first.events,
        std::slice::from_ref(&opened),
        "the event that wrote it"
    );

    // RESOLVED moves it on; a late TRIGGERED changes nothing.
    let resolved = f
        .ingest_incidents(
            vec![incident("shop", "P1", "RESOLVED")],
            "2025-01-10T11:46:00Z",
        )
        .await;
    assert_eq!(f.process().await, counts(0, 1, 0));
    let late = f
        .ingest_incidents(
            vec![incident("shop", "P1", "TRIGGERED")],
            "2025-01-10T11:47:00Z",
        )
        .await;
    assert_eq!(f.process().await, counts(0, 0, 1));
    let stored = f.all_incidents().await;
    assert_eq!(stored.len(), 1, "one identity");
    assert_eq!(stored[0].id, first.id);
    assert_eq!(stored[0].fields.status, IncidentStatus::Resolved);
    assert_eq!(
        stored[0].fields.resolved_date,
        Some(at("2025-01-10T11:45:00Z"))
    );
    assert_eq!(
        stored[0].events,
        [opened.clone(), resolved.clone()],
        "the events that wrote it, oldest first; not the one that changed nothing"
    );

    // Each event records what it wrote, with its counts.
    let detail = f.detail(&opened).await;
    assert_eq!(detail.event.request_type, "incident");
    assert_eq!(detail.event.status, EventStatus::Success);
    assert_eq!(
        (
            detail.event.incidents_received,
            detail.event.incidents_created,
            detail.event.runs_received
        ),
        (1, 1, 0)
    );
    assert_eq!(detail.incidents.len(), 1);
    assert_eq!(detail.incidents[0].action, "created");
    assert_eq!(detail.incidents[0].status, "RESOLVED", "its status now");
    assert_eq!(detail.incidents[0].repo, "acme/shop");
    let detail = f.detail(&resolved).await;
    assert_eq!(detail.event.incidents_updated, 1);
    assert_eq!(detail.incidents[0].action, "updated");
    let detail = f.detail(&late).await;
    assert_eq!(detail.event.incidents_unchanged, 1);
    assert!(
        detail.incidents.is_empty(),
        "an unchanged incident is not a write"
    );
}

pub async fn a_reopen_is_stored_and_a_late_resolution_ignored(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest_incidents(
        vec![incident("shop", "P1", "RESOLVED")],
        "2025-01-10T11:46:00Z",
    )
    .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    let mut reopened = incident("shop", "P1", "TRIGGERED");
    reopened["reopened_date"] = json!("2025-01-10T13:00:00Z");
    f.ingest_incidents(vec![reopened], "2025-01-10T13:01:00Z")
        .await;
    assert_eq!(f.process().await, counts(0, 1, 0));
    let stored = &f.all_incidents().await[0];
    assert_eq!(stored.fields.status, IncidentStatus::Triggered);
    assert_eq!(stored.fields.resolved_date, None);
    assert_eq!(
        stored.fields.reopened_date,
        Some(at("2025-01-10T13:00:00Z"))
    );
    // The first resolution, delivered again: older than the reopen, it changes nothing.
    f.ingest_incidents(
        vec![incident("shop", "P1", "RESOLVED")],
        "2025-01-10T13:02:00Z",
    )
    .await;
    assert_eq!(f.process().await, counts(0, 0, 1));
    let filtered = f
        .incidents(IncidentQuery {
            status: Some(IncidentStatus::Triggered),
            limit: 10,
            ..IncidentQuery::default()
        })
        .await;
    assert_eq!(filtered.len(), 1, "the status column follows the fields");
}

pub async fn incidents_list_by_repo_status_and_since_with_a_cursor(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let mut early = incident("api", "A1", "TRIGGERED");
    early["creation_date"] = json!("2025-01-09T08:00:00Z");
    let mut both = incident("shop", "S2", "RESOLVED");
    both["repo_urls"] = json!([
        "https://github.com/acme/shop",
        "https://github.com/acme/api"
    ]);
    both["creation_date"] = json!("2025-01-10T09:00:00Z");
    f.ingest_incidents(
        vec![early, incident("shop", "S1", "TRIGGERED"), both],
        "2025-01-10T12:00:00Z",
    )
    .await;
    assert_eq!(f.process().await, counts(3, 0, 0));
    let keys = |rows: Vec<IncidentRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.incident_key).collect()
    };
    assert_eq!(
        keys(f.all_incidents().await),
        ["S1", "S2", "A1"],
        "newest creation_date first"
    );
    let repos = f.store.list_repos().await.expect("lists");
    let shop = repos.iter().find(|r| r.name == "shop").expect("linked").id;
    let api = repos.iter().find(|r| r.name == "api").expect("linked").id;
    let of = |ids: Vec<i64>| IncidentQuery {
        repo_ids: Some(ids),
        limit: 100,
        ..IncidentQuery::default()
    };
    assert_eq!(keys(f.incidents(of(vec![shop])).await), ["S1", "S2"]);
    assert_eq!(keys(f.incidents(of(vec![api])).await), ["S2", "A1"]);
    assert!(f.incidents(of(vec![])).await.is_empty());
    let s2 = f
        .all_incidents()
        .await
        .into_iter()
        .find(|r| r.incident_key == "S2")
        .expect("stored");
    assert_eq!(s2.repo, "acme/shop, acme/api");
    let resolved = IncidentQuery {
        status: Some(IncidentStatus::Resolved),
        limit: 100,
        ..IncidentQuery::default()
    };
    assert_eq!(keys(f.incidents(resolved).await), ["S2"]);
    let since = IncidentQuery {
        since: Some(at("2025-01-10T00:00:00Z")),
        limit: 100,
        ..IncidentQuery::default()
    };
    assert_eq!(keys(f.incidents(since).await), ["S1", "S2"]);

    // Pages of one, with the total of all.
    let page = f
        .store
        .list_incidents(&IncidentQuery {
            limit: 1,
            ..IncidentQuery::default()
        })
        .await
        .expect("lists");
    assert_eq!((page.total, page.more, page.items.len()), (3, true, 1));
    let last = &page.items[0];
    let next = f
        .store
        .list_incidents(&IncidentQuery {
            limit: 5,
            after: Some((last.fields.creation_date, last.id)),
            ..IncidentQuery::default()
        })
        .await
        .expect("lists");
    assert_eq!((next.total, next.more), (3, false));
    assert_eq!(keys(next.items), ["S2", "A1"]);
}

pub async fn pruning_incident_events_restores_and_deletes(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let opened = f
        .ingest_incidents(
            vec![incident("shop", "P1", "TRIGGERED")],
            "2025-01-10T11:01:00Z",
        )
        .await;
    assert_eq!(f.process().await, counts(1, 0, 0));
    let resolved = f
        .ingest_incidents(
            vec![incident("shop", "P1", "RESOLVED")],
            "2025-01-10T11:46:00Z",
        )
        .await;
    assert_eq!(f.process().await, counts(0, 1, 0));

    // The opening event: RESOLVED changed the incident since.
    let Pruned::Done(report) = f.prune(&opened, true).await else {
        panic!("prunable");
    };
    assert_eq!(report.incidents.len(), 1);
    assert_eq!(report.incidents[0].outcome, PruneOutcome::ChangedSince);

    // The resolving event: back to TRIGGERED (a dry run first, which changes nothing).
    let Pruned::Done(report) = f.prune(&resolved, true).await else {
        panic!("prunable");
    };
    assert_eq!(report.count_incidents(PruneOutcome::Restored), 1);
    assert_eq!(report.incidents[0].incident.status, "TRIGGERED");
    assert_eq!(
        f.all_incidents().await[0].fields.status,
        IncidentStatus::Resolved,
        "a dry run writes nothing"
    );
    let Pruned::Done(report) = f.prune(&resolved, false).await else {
        panic!("prunable");
    };
    assert_eq!(report.count_incidents(PruneOutcome::Restored), 1);
    let stored = f.all_incidents().await;
    assert_eq!(stored[0].fields.status, IncidentStatus::Triggered);
    assert_eq!(stored[0].fields.resolved_date, None);
    assert_eq!(f.detail(&resolved).await.event.status, EventStatus::Pruned);

    // Then the opening event: nothing that stands wrote it since, so it goes.
    let Pruned::Done(report) = f.prune(&opened, false).await else {
        panic!("prunable");
    };
    assert_eq!(report.count_incidents(PruneOutcome::Deleted), 1);
    assert!(f.all_incidents().await.is_empty());
}

pub async fn incidents_of_an_unlinked_repo_fail_the_event_without_writes(backend: &dyn Backend) {
    let f = fixture(backend).await;
    f.ingest_incidents(
        vec![
            incident("api", "A1", "TRIGGERED"),
            incident("shop", "S1", "TRIGGERED"),
        ],
        "2025-01-10T11:01:00Z",
    )
    .await;
    let shop = f.repo("shop").await.expect("linked");
    f.unlink(shop.id, false, false).await.expect("linked");
    let Applied::Unresolved(reason) = f.process().await else {
        panic!("expected a failure");
    };
    assert!(
        reason.contains("https://github.com/acme/shop is not linked"),
        "{reason}"
    );
    assert!(f.all_incidents().await.is_empty(), "all or nothing");
}

pub async fn deployments_are_found_since_latest_before_and_by_name(backend: &dyn Backend) {
    let f = fixture(backend).await;
    let mut runs = Vec::new();
    for (repo, id, status, started) in [
        ("shop", "1", "SUCCESS", "2025-01-01T10:00:00Z"),
        ("shop", "2", "SUCCESS", "2025-01-05T10:00:00Z"),
        ("shop", "3", "FAILURE", "2025-01-06T10:00:00Z"),
        ("shop", "4", "SUCCESS", "2025-01-08T10:00:00Z"),
        ("api", "5", "SUCCESS", "2025-01-04T10:00:00Z"),
    ] {
        let mut r = run(repo, "deploy", id, status, Some(60));
        r["workflow_run_conducted_at"] = json!(started);
        runs.push(r);
    }
    f.ingest(runs, "2025-01-10T10:01:00Z", None).await;
    assert_eq!(f.process().await, counts(5, 0, 0));
    let shop = f.repo("shop").await.expect("linked").id;
    let api = f.repo("api").await.expect("linked").id;
    let ids = |found: Vec<crate::rules::dora::Deployment>| -> Vec<String> {
        found.into_iter().map(|d| d.unique_id).collect()
    };
    let since = |repo_ids, workflow: Option<&str>| DeploymentQuery::Since {
        repo_ids,
        workflow: workflow.map(str::to_owned),
        since: at("2025-01-04T00:00:00Z"),
    };
    let found = f
        .store
        .deployments(&since(None, None))
        .await
        .expect("reads");
    assert_eq!(
        ids(found.clone()),
        ["5", "2", "4"],
        "SUCCESS only, oldest first"
    );
    let first = &found[0];
    assert_eq!(
        (first.repo_id, first.workflow.as_str(), first.duration),
        (api, "deploy", Some(60))
    );
    assert_eq!(first.started_at, at("2025-01-04T10:00:00Z"));
    let found = f
        .store
        .deployments(&since(Some(vec![shop]), Some("DEPLOY")))
        .await
        .expect("reads");
    assert_eq!(ids(found), ["2", "4"]);
    let found = f
        .store
        .deployments(&since(None, Some("release")))
        .await
        .expect("reads");
    assert!(found.is_empty());

    let latest = DeploymentQuery::LatestBefore {
        repo_ids: vec![shop, api],
        workflow: None,
        before: at("2025-01-07T00:00:00Z"),
    };
    let found = f.store.deployments(&latest).await.expect("reads");
    assert_eq!(
        ids(found),
        ["5", "2"],
        "per repo; the FAILURE is no deployment"
    );

    let named = DeploymentQuery::Named {
        repo_ids: vec![shop],
        refs: vec![
            DeploymentRef {
                workflow_name: "deploy".to_owned(),
                workflow_run_unique_id: "1".to_owned(),
            },
            DeploymentRef {
                workflow_name: "deploy".to_owned(),
                workflow_run_unique_id: "5".to_owned(),
            },
        ],
    };
    let found = f.store.deployments(&named).await.expect("reads");
    assert_eq!(ids(found), ["1"], "5 is another repo's");
}
