//! Incidents end to end, on SQLite and on PostgreSQL: deployments recorded with the real
//! `mwctl deploy record`, incidents posted as signed webhook requests (as PagerDuty relays or
//! `mwctl incident` send them), and the DORA figures and incident list the server reports.

mod common;

use common::{Server, pg};
use mwctl::protocol::signing::{key_digest, sign};
use serde_json::{Value, json};

const SHOP: &str = "https://github.com/acme/shop";

/// `mwctl deploy record` of a successful deployment `run_id` of acme/shop.
fn deploy(server: &Server, run_id: &str, started: &str) {
    server
        .mwctl()
        .args([
            "deploy",
            "record",
            "--status",
            "success",
            "--started-at",
            started,
        ])
        .args(["--duration", "300", "--repo", SHOP, "--workflow", "deploy"])
        .args(["--branch", "main", "--run-id", run_id, "--actor", "alice"])
        .arg("--strict")
        .assert()
        .success();
}

/// Posts `{"incidents": [incident]}`, signed with the admin key; the accepted event's id.
fn report(server: &Server, incident: Value, webhook_id: &str) -> String {
    let body = serde_json::to_vec(&json!({ "incidents": [incident] })).expect("json");
    let ts = chrono::Utc::now().timestamp();
    let response = server
        .http()
        .post(format!("{}/public/webhook/incidents", server.url))
        .header("content-type", "application/json")
        .header("x-api-key", &server.admin_key)
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            sign(&key_digest(&server.admin_key), webhook_id, ts, &body),
        )
        .body(body)
        .send()
        .expect("answers");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().expect("JSON answer");
    assert_eq!(answer["status"], "accepted", "{answer}");
    answer["event_id"].as_str().expect("event id").to_owned()
}

fn incident(status: &str) -> Value {
    let mut incident = json!({
        "incident_key": "PD-42",
        "provider": "pagerduty",
        "status": status,
        "title": "checkout returns 500",
        "creation_date": "2025-03-05T12:00:00Z",
        "repo_urls": [SHOP],
        "provider_service_name": "checkout",
    });
    if status == "RESOLVED" {
        // 45 minutes later.
        incident["resolved_date"] = json!("2025-03-05T12:45:00Z");
    }
    incident
}

fn dora(server: &Server) -> Value {
    server.get("/api/dora?repo=acme/shop&from=2025-03-01&to=2025-03-08&interval=day")
}

/// Two deployments, an incident after the second opened and resolved 45 min later: change
/// failure rate 1/2, time to restore 2700 s; pruning the RESOLVED report opens it again.
fn incidents_make_the_dora_figures(server: &Server) {
    server.link(SHOP);
    deploy(server, "101", "2025-03-03T10:00:00Z");
    deploy(server, "102", "2025-03-05T10:00:00Z");
    report(server, incident("TRIGGERED"), "pd-42-1");
    server.wait_processed();

    let open = dora(server);
    let total = &open["total"];
    assert_eq!(total["deployment_frequency"]["deployments"], 2, "{open}");
    assert_eq!(total["change_failure_rate"]["failed_deployments"], 1);
    assert_eq!(total["change_failure_rate"]["rate"], 0.5);
    assert_eq!(total["time_to_restore"]["open"], 1);
    assert_eq!(total["time_to_restore"]["mean_seconds"], Value::Null);

    let resolved = report(server, incident("RESOLVED"), "pd-42-2");
    // A late TRIGGERED (a retried delivery) does not reopen it.
    report(server, incident("TRIGGERED"), "pd-42-3");
    server.wait_processed();
    let figures = dora(server);
    let total = &figures["total"];
    assert_eq!(total["change_failure_rate"]["deployments"], 2, "{figures}");
    assert_eq!(total["change_failure_rate"]["failed_deployments"], 1);
    assert_eq!(total["change_failure_rate"]["rate"], 0.5);
    assert_eq!(total["time_to_restore"]["resolved"], 1);
    assert_eq!(total["time_to_restore"]["open"], 0);
    assert_eq!(total["time_to_restore"]["mean_seconds"], 2700.0);
    assert_eq!(total["time_to_restore"]["median_seconds"], 2700.0);
    // Per day: the failure counts on March 5, the day of deployment 102.
    let days = figures["intervals"].as_array().expect("intervals");
    assert_eq!(days.len(), 7);
    assert_eq!(days[4]["start"], "2025-03-05T00:00:00Z");
    assert_eq!(days[4]["change_failure_rate"]["failed_deployments"], 1);
    assert_eq!(days[2]["change_failure_rate"]["failed_deployments"], 0);

    let listed = server.get("/api/incidents?repo=acme/shop");
    let first = &listed["incidents"][0];
    assert_eq!(first["status"], "RESOLVED", "{listed}");
    assert_eq!(first["attributed_to"]["workflow_run_unique_id"], "102");
    assert_eq!(first["attributed_to"]["by"], "latest_before");

    // The event as mwctl shows it: what it carried and the incident it wrote.
    let shown = server
        .mwctl()
        .args(["events", "show", &resolved])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    assert!(
        text.contains("incidents    1 received, 0 created, 1 updated"),
        "{text}"
    );
    assert!(
        text.contains("PD-42") && text.contains("RESOLVED"),
        "{text}"
    );

    // Pruning the RESOLVED report (mwctl prune) restores the TRIGGERED incident.
    let out = server
        .mwctl()
        .args(["prune", &resolved, "--yes"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("restored 1 incident"), "{said}");
    let detail = server.get(&format!("/api/events/{resolved}"));
    assert_eq!(detail["status"], "PRUNED");
    let listed = server.get("/api/incidents");
    assert_eq!(listed["incidents"][0]["status"], "TRIGGERED", "{listed}");
    assert_eq!(listed["incidents"][0]["resolved_date"], Value::Null);
    let reopened = dora(server);
    assert_eq!(reopened["total"]["time_to_restore"]["resolved"], 0);
    assert_eq!(reopened["total"]["time_to_restore"]["open"], 1);
    assert_eq!(
        reopened["total"]["change_failure_rate"]["failed_deployments"],
        1
    );
}

#[test]
fn incidents_make_the_dora_figures_on_sqlite() {
    let server = Server::start();
    incidents_make_the_dora_figures(&server);
}

#[test]
fn incidents_make_the_dora_figures_on_postgres() {
    let Some(database) = pg::database() else {
        return;
    };
    let server = Server::start_pg(&database, None, &[]);
    incidents_make_the_dora_figures(&server);
}
