//! What a run brings, and how it merges over the stored run with the same identity.

use chrono::{DateTime, Utc};
use mwctl::protocol::{Run, RunStatus};

use crate::store::RunFields;

/// The workflow a run goes to: the one named `workflow_name` in its repo, created with these
/// (Middleware's `repo_workflows.provider` and `.type`).
pub const WORKFLOW_PROVIDER: &str = "WEBHOOK";
pub const WORKFLOW_TYPE: &str = "DEPLOYMENT";

/// A run's fields as stored: UTC, at the stored precision (milliseconds), `meta` as JSON text.
pub fn fields_of(run: &Run) -> RunFields {
    let conducted_at = run.workflow_run_conducted_at.to_utc();
    RunFields {
        event_actor: run.event_actor.clone(),
        head_branch: run.head_branch.clone(),
        status: run.status,
        conducted_at: DateTime::from_timestamp_millis(conducted_at.timestamp_millis())
            .unwrap_or(conducted_at),
        duration: run.duration,
        html_url: run.html_url.clone(),
        commit_sha: run.commit_sha.clone(),
        meta: run
            .meta
            .as_ref()
            .and_then(|m| serde_json::to_string(m).ok()),
    }
}

/// The fields to store when `incoming` (received at `received_at`) arrives for a stored run;
/// `None` when nothing changes.
///
/// - Events arrive out of order: a PENDING run never overwrites a final status.
/// - A final status over a stored PENDING run keeps the stored `conducted_at`: the PENDING run
///   said when the deployment started, the final one (e.g. a `deploy finish` that lost its
///   state) may only know when it ended.
/// - A final status without a duration, over a stored PENDING run, took from the stored start
///   until it was received: whole seconds, never negative (clock skew).
/// - Otherwise an absent duration, html_url, commit_sha or meta keeps what was known.
pub fn merge(
    stored: &RunFields,
    mut incoming: RunFields,
    received_at: DateTime<Utc>,
) -> Option<RunFields> {
    let stored_pending = stored.status == RunStatus::Pending;
    if incoming.status == RunStatus::Pending && !stored_pending {
        return None;
    }
    let final_over_pending = incoming.status.is_final() && stored_pending;
    if final_over_pending {
        incoming.conducted_at = stored.conducted_at;
    }
    if incoming.duration.is_none() {
        incoming.duration = if final_over_pending {
            Some(inferred_duration(stored.conducted_at, received_at))
        } else {
            stored.duration
        };
    }
    incoming.html_url = incoming.html_url.or_else(|| stored.html_url.clone());
    incoming.commit_sha = incoming.commit_sha.or_else(|| stored.commit_sha.clone());
    incoming.meta = incoming.meta.or_else(|| stored.meta.clone());
    (incoming != *stored).then_some(incoming)
}

/// Whole seconds from `started` to `finished`; 0 when the clocks disagree.
pub fn inferred_duration(started: DateTime<Utc>, finished: DateTime<Utc>) -> i64 {
    (finished - started).num_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::parse_ts;

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).expect("valid")
    }

    fn fields(status: RunStatus, duration: Option<i64>) -> RunFields {
        RunFields {
            event_actor: "alice".to_owned(),
            head_branch: "main".to_owned(),
            status,
            conducted_at: at("2025-01-10T10:00:00Z"),
            duration,
            html_url: None,
            commit_sha: None,
            meta: None,
        }
    }

    #[test]
    fn pending_never_overwrites_a_final_status() {
        let stored = fields(RunStatus::Success, Some(30));
        let late = fields(RunStatus::Pending, None);
        assert_eq!(merge(&stored, late, at("2025-01-10T10:02:00Z")), None);
        // A PENDING over a PENDING may still change other fields.
        let mut again = fields(RunStatus::Pending, None);
        again.event_actor = "bob".to_owned();
        let merged = merge(
            &fields(RunStatus::Pending, None),
            again,
            at("2025-01-10T10:02:00Z"),
        );
        assert_eq!(merged.map(|f| f.event_actor), Some("bob".to_owned()));
    }

    #[test]
    fn a_final_status_over_pending_infers_whole_seconds() {
        let stored = fields(RunStatus::Pending, None);
        let merged = merge(
            &stored,
            fields(RunStatus::Failure, None),
            at("2025-01-10T10:05:30.900Z"),
        )
        .expect("changed");
        assert_eq!(merged.duration, Some(330));
        // A given duration wins; clock skew gives 0, never negative.
        let given = merge(
            &stored,
            fields(RunStatus::Success, Some(7)),
            at("2025-01-10T10:05:30Z"),
        );
        assert_eq!(given.and_then(|f| f.duration), Some(7));
        let skewed = merge(
            &stored,
            fields(RunStatus::Success, None),
            at("2025-01-10T09:59:00Z"),
        );
        assert_eq!(skewed.and_then(|f| f.duration), Some(0));
    }

    #[test]
    fn a_final_status_over_pending_keeps_the_pending_start() {
        let stored = fields(RunStatus::Pending, None);
        let mut finish = fields(RunStatus::Success, None);
        finish.conducted_at = at("2025-01-10T10:04:00Z");
        let merged = merge(&stored, finish.clone(), at("2025-01-10T10:05:00Z")).expect("changed");
        assert_eq!(merged.conducted_at, stored.conducted_at);
        assert_eq!(merged.duration, Some(300), "inferred from the kept start");
        // With a duration given, the start is kept all the same.
        finish.duration = Some(42);
        let given = merge(&stored, finish.clone(), at("2025-01-10T10:05:00Z")).expect("changed");
        assert_eq!(
            (given.conducted_at, given.duration),
            (stored.conducted_at, Some(42))
        );
        // Over a final run, a later final one brings its own start.
        let over_final = merge(&given, finish, at("2025-01-10T10:06:00Z")).expect("changed");
        assert_eq!(over_final.conducted_at, at("2025-01-10T10:04:00Z"));
        // A PENDING arriving after the final one changes nothing.
        let mut late = fields(RunStatus::Pending, None);
        late.conducted_at = at("2025-01-10T09:00:00Z");
        assert_eq!(merge(&given, late, at("2025-01-10T10:07:00Z")), None);
    }

    #[test]
    fn absent_fields_keep_what_was_known_and_identical_is_unchanged() {
        let mut stored = fields(RunStatus::Success, Some(5));
        stored.html_url = Some("https://ci.example.com/1".to_owned());
        let received = at("2025-01-10T10:03:00Z");
        assert_eq!(
            merge(&stored, fields(RunStatus::Success, Some(5)), received),
            None
        );
        let merged = merge(&stored, fields(RunStatus::Failure, None), received).expect("changed");
        assert_eq!(
            merged.duration,
            Some(5),
            "a final run's known duration is kept"
        );
        assert_eq!(merged.html_url, stored.html_url);
        assert_eq!(merged.status, RunStatus::Failure);
    }

    #[test]
    fn fields_are_kept_at_millisecond_precision() {
        let run: Run = serde_json::from_value(serde_json::json!({
            "workflow_name": "deploy",
            "repo_urls": ["https://github.com/acme/shop"],
            "event_actor": "alice",
            "head_branch": "main",
            "workflow_run_unique_id": "1",
            "status": "SUCCESS",
            "workflow_run_conducted_at": "2025-01-10T12:00:00.123456+02:00",
            "meta": {"env": "prod"},
        }))
        .expect("a run");
        let f = fields_of(&run);
        assert_eq!(f.conducted_at, at("2025-01-10T10:00:00.123Z"));
        assert_eq!(f.meta.as_deref(), Some(r#"{"env":"prod"}"#));
    }
}
