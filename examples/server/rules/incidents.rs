//! What an incident report brings, and how it merges over the stored incident with the same
//! identity (`provider`, `incident_key`).
//!
//! Reports arrive out of order, so the status only moves forward (TRIGGERED < ACKNOWLEDGED <
//! RESOLVED, [`IncidentStatus::rank`]):
//! - a report at the stored status or further on replaces the stored fields; a date it leaves
//!   out (`acknowledged_date`, `reopened_date`) keeps the one known;
//! - a report behind the stored status (a late TRIGGERED or ACKNOWLEDGED) changes nothing,
//!   except that it fills in an `acknowledged_date` not known yet;
//! - a **reopen** is said explicitly: a TRIGGERED or ACKNOWLEDGED report whose `reopened_date`
//!   is later than the stored `resolved_date` opens a RESOLVED incident again (its status and
//!   fields are the report's; `resolved_date` is cleared until the next RESOLVED);
//! - a RESOLVED report whose `resolved_date` is before the stored `reopened_date` is a late
//!   report of the resolution before the reopen: it changes nothing.

use chrono::{DateTime, Utc};
use mwctl::protocol::incident::{Incident, IncidentStatus};

use crate::store::IncidentFields;

/// A report's fields as stored: UTC at the stored precision (milliseconds), its repos resolved.
pub fn fields_of(incident: &Incident, repo_ids: Vec<i64>) -> IncidentFields {
    let utc = |at: chrono::DateTime<chrono::FixedOffset>| millis(at.to_utc());
    let mut repo_ids = repo_ids;
    repo_ids.sort_unstable();
    repo_ids.dedup();
    IncidentFields {
        repo_ids,
        status: incident.status,
        incident_type: incident.incident_type,
        title: incident.title.clone(),
        creation_date: utc(incident.creation_date),
        acknowledged_date: incident.acknowledged_date.map(utc),
        resolved_date: incident.resolved_date.map(utc),
        reopened_date: incident.reopened_date.map(utc),
        assignees: incident.assignees.clone(),
        url: incident.url.clone(),
        provider_service_name: incident.provider_service_name.clone(),
        deployment: incident.deployment.clone(),
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// The fields to store when `incoming` arrives for a stored incident (see the module's rules);
/// `None` when nothing changes.
pub fn merge(stored: &IncidentFields, mut incoming: IncidentFields) -> Option<IncidentFields> {
    let reopens = stored.status == IncidentStatus::Resolved
        && incoming.status != IncidentStatus::Resolved
        && matches!(
            (incoming.reopened_date, stored.resolved_date),
            (Some(reopened), Some(resolved)) if reopened > resolved
        );
    let stale_resolution = incoming.status == IncidentStatus::Resolved
        && stored.status != IncidentStatus::Resolved
        && matches!(
            (incoming.resolved_date, stored.reopened_date),
            (Some(resolved), Some(reopened)) if resolved < reopened
        );
    let behind = incoming.status.rank() < stored.status.rank();
    if stale_resolution || (behind && !reopens) {
        // Late: only an acknowledgement not known yet is worth keeping.
        if stored.acknowledged_date.is_none() && incoming.acknowledged_date.is_some() {
            let mut kept = stored.clone();
            kept.acknowledged_date = incoming.acknowledged_date;
            return Some(kept);
        }
        return None;
    }
    incoming.acknowledged_date = incoming.acknowledged_date.or(stored.acknowledged_date);
    incoming.reopened_date = incoming.reopened_date.or(stored.reopened_date);
    if reopens {
        incoming.resolved_date = None;
    }
    (incoming != *stored).then_some(incoming)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mwctl::protocol::incident::IncidentType;

    fn at(s: &str) -> DateTime<Utc> {
        crate::store::parse_ts(s).expect("valid")
    }

    fn report(status: IncidentStatus) -> IncidentFields {
        IncidentFields {
            repo_ids: vec![1],
            status,
            incident_type: IncidentType::Incident,
            title: "checkout down".to_owned(),
            creation_date: at("2025-03-04T12:00:00Z"),
            acknowledged_date: None,
            resolved_date: (status == IncidentStatus::Resolved).then(|| at("2025-03-04T12:45:00Z")),
            reopened_date: None,
            assignees: Vec::new(),
            url: None,
            provider_service_name: None,
            deployment: None,
        }
    }

    #[test]
    fn status_moves_forward() {
        let triggered = report(IncidentStatus::Triggered);
        let resolved = report(IncidentStatus::Resolved);
        assert_eq!(merge(&triggered, resolved.clone()), Some(resolved.clone()));
        assert_eq!(merge(&triggered, triggered.clone()), None, "same report");
        let mut acked = report(IncidentStatus::Acknowledged);
        acked.acknowledged_date = Some(at("2025-03-04T12:05:00Z"));
        let after = merge(&triggered, acked.clone()).expect("moves on");
        assert_eq!(after.status, IncidentStatus::Acknowledged);
        // RESOLVED after ACKNOWLEDGED keeps the acknowledgement it does not repeat.
        let after = merge(&after, resolved).expect("resolves");
        assert_eq!(after.status, IncidentStatus::Resolved);
        assert_eq!(after.acknowledged_date, acked.acknowledged_date);
    }

    #[test]
    fn a_late_report_does_not_reopen() {
        let resolved = report(IncidentStatus::Resolved);
        assert_eq!(merge(&resolved, report(IncidentStatus::Triggered)), None);
        assert_eq!(merge(&resolved, report(IncidentStatus::Acknowledged)), None);
        // A late ACKNOWLEDGED still tells when it was acknowledged.
        let mut acked = report(IncidentStatus::Acknowledged);
        acked.acknowledged_date = Some(at("2025-03-04T12:05:00Z"));
        let kept = merge(&resolved, acked).expect("acknowledgement kept");
        assert_eq!(kept.status, IncidentStatus::Resolved);
        assert_eq!(kept.resolved_date, resolved.resolved_date);
        assert_eq!(kept.acknowledged_date, Some(at("2025-03-04T12:05:00Z")));
        // A reopened_date before the resolution is no reopen either.
        let mut early = report(IncidentStatus::Triggered);
        early.reopened_date = Some(at("2025-03-04T12:30:00Z"));
        assert_eq!(merge(&resolved, early), None);
    }

    #[test]
    fn a_genuine_reopen_opens_it_again() {
        let resolved = report(IncidentStatus::Resolved);
        let mut again = report(IncidentStatus::Triggered);
        again.reopened_date = Some(at("2025-03-04T14:00:00Z"));
        let reopened = merge(&resolved, again).expect("reopens");
        assert_eq!(reopened.status, IncidentStatus::Triggered);
        assert_eq!(reopened.resolved_date, None);
        assert_eq!(reopened.reopened_date, Some(at("2025-03-04T14:00:00Z")));
        // The resolution from before the reopen, arriving late, does not close it.
        assert_eq!(merge(&reopened, report(IncidentStatus::Resolved)), None);
        // A resolution after the reopen does, keeping when it was reopened.
        let mut later = report(IncidentStatus::Resolved);
        later.resolved_date = Some(at("2025-03-04T15:00:00Z"));
        let closed = merge(&reopened, later).expect("resolved again");
        assert_eq!(closed.status, IncidentStatus::Resolved);
        assert_eq!(closed.resolved_date, Some(at("2025-03-04T15:00:00Z")));
        assert_eq!(closed.reopened_date, Some(at("2025-03-04T14:00:00Z")));
    }
}
