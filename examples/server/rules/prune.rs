//! Pruning an event: undoing exactly what it wrote.
//!
//! Every write an event makes to a run is recorded in order, an update with the fields it
//! replaced. Pruning an event looks at each run it wrote:
//! - a later write by an event that still stands means the run *changed since*: it is left as
//!   it is (undoing our write would throw the later one away);
//! - otherwise every write after ours was pruned too, and the run goes back to its state
//!   before the oldest write of that pruned tail: deleted when that write created it, else
//!   restored to what that update replaced.
//!
//! Walking back over the pruned tail makes the result independent of the order in which
//! events are pruned: C creates X, A and then B update it; pruning B then A, or A (left
//! "changed since", B stands) then B, both end with C's version of X.

use mwctl::protocol::admin::{EventStatus, PruneOutcome};

use crate::store::{Action, PastWrite, RunFields};

/// Whether an event in `status` can be pruned now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneStart {
    Proceed,
    /// Pruned before: nothing to do (pruning is idempotent).
    AlreadyPruned,
    /// Still waiting or running: pruning now would race the worker.
    NotProcessed(EventStatus),
}

pub fn prune_start(status: EventStatus) -> PruneStart {
    match status {
        EventStatus::Waiting | EventStatus::Running => PruneStart::NotProcessed(status),
        EventStatus::Pruned => PruneStart::AlreadyPruned,
        EventStatus::Success | EventStatus::Failure | EventStatus::Rejected => PruneStart::Proceed,
    }
}

/// What pruning an event does to one run (or incident: `F` = its fields) it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undo<F = RunFields> {
    /// Nothing that stands wrote it before: the run goes.
    Delete,
    /// Back to the fields before the pruned writes.
    Restore(F),
    /// A later event that stands changed it (or its earlier state was never recorded): left.
    ChangedSince,
}

impl<F> Undo<F> {
    pub fn outcome(&self) -> PruneOutcome {
        match self {
            Undo::Delete => PruneOutcome::Deleted,
            Undo::Restore(_) => PruneOutcome::Restored,
            Undo::ChangedSince => PruneOutcome::ChangedSince,
        }
    }
}

/// What pruning `event_id` does to the run (or incident) whose recorded writes are `writes`
/// (oldest first).
pub fn undo<F: Clone>(event_id: &str, writes: &[PastWrite<F>]) -> Undo<F> {
    let Some(ours) = writes.iter().rposition(|w| w.event_id == event_id) else {
        return Undo::ChangedSince;
    };
    if writes[ours + 1..].iter().any(|w| !w.pruned) {
        return Undo::ChangedSince;
    }
    // The oldest write of the pruned tail that ends with ours.
    let mut first = ours;
    while first > 0 && writes[first - 1].pruned {
        first -= 1;
    }
    let write = &writes[first];
    match (write.action, &write.before) {
        (Action::Created, _) => Undo::Delete,
        (Action::Updated, Some(before)) => Undo::Restore(before.clone()),
        // Recorded by an older server that did not keep what updates replaced.
        (Action::Updated, None) => Undo::ChangedSince,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunHistory;
    use mwctl::protocol::RunStatus;

    fn fields(branch: &str) -> RunFields {
        RunFields {
            event_actor: "alice".to_owned(),
            head_branch: branch.to_owned(),
            status: RunStatus::Success,
            conducted_at: crate::store::parse_ts("2025-01-10T10:00:00Z").expect("valid"),
            duration: None,
            html_url: None,
            commit_sha: None,
            meta: None,
        }
    }

    fn write(event_id: &str, pruned: bool, before: Option<&str>) -> PastWrite {
        PastWrite {
            event_id: event_id.to_owned(),
            pruned,
            action: if before.is_some() {
                Action::Updated
            } else {
                Action::Created
            },
            before: before.map(fields),
        }
    }

    fn history(writes: Vec<PastWrite>) -> RunHistory {
        RunHistory {
            run_id: 1,
            current: fields("now"),
            writes,
        }
    }

    #[test]
    fn only_processed_events_are_pruned() {
        assert_eq!(
            prune_start(EventStatus::Running),
            PruneStart::NotProcessed(EventStatus::Running)
        );
        assert_eq!(prune_start(EventStatus::Pruned), PruneStart::AlreadyPruned);
        for status in [
            EventStatus::Success,
            EventStatus::Failure,
            EventStatus::Rejected,
        ] {
            assert_eq!(prune_start(status), PruneStart::Proceed);
        }
    }

    #[test]
    fn the_latest_write_is_undone_exactly() {
        // C created the run (state "c"), A updated it (to "a").
        let h = history(vec![write("C", false, None), write("A", false, Some("c"))]);
        assert_eq!(undo("A", &h.writes), Undo::Restore(fields("c")));
        assert_eq!(
            undo("C", &h.writes),
            Undo::ChangedSince,
            "A changed it since"
        );
        let alone = history(vec![write("C", false, None)]);
        assert_eq!(undo("C", &alone.writes), Undo::Delete);
        assert_eq!(undo("X", &alone.writes), Undo::ChangedSince, "not ours");
    }

    #[test]
    fn any_pruning_order_ends_the_same() {
        // C creates, A updates to "a", B updates to "b".
        let c = write("C", false, None);
        let a = |pruned| write("A", pruned, Some("c"));
        let b = |pruned| write("B", pruned, Some("a"));
        // B then A.
        assert_eq!(
            undo("B", &history(vec![c.clone(), a(false), b(false)]).writes),
            Undo::Restore(fields("a"))
        );
        assert_eq!(
            undo("A", &history(vec![c.clone(), a(false), b(true)]).writes),
            Undo::Restore(fields("c"))
        );
        // A (B still stands) then B.
        assert_eq!(
            undo("A", &history(vec![c.clone(), a(false), b(false)]).writes),
            Undo::ChangedSince
        );
        assert_eq!(
            undo("B", &history(vec![c.clone(), a(true), b(false)]).writes),
            Undo::Restore(fields("c")),
            "A's pruned write is undone with B's"
        );
        // Then C: everything after it is pruned, so the run goes.
        assert_eq!(
            undo("C", &history(vec![c, a(true), b(true)]).writes),
            Undo::Delete
        );
    }

    #[test]
    fn an_update_without_its_earlier_state_is_left() {
        let h = history(vec![PastWrite {
            event_id: "A".to_owned(),
            pruned: false,
            action: Action::Updated,
            before: None,
        }]);
        assert_eq!(undo("A", &h.writes), Undo::ChangedSince);
    }
}
