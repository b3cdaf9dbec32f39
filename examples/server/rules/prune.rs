//! Pruning an event: undoing what it wrote.

use mwctl::protocol::admin::{EventStatus, RunRef};

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

/// The runs pruning an event deletes: every run it created or updated (workflows left without
/// runs go with them). Phase 3 of issue 10 restores an updated run to its state before the
/// event instead, from what the write log records.
pub fn runs_to_delete(written: &[RunRef]) -> Vec<i64> {
    written.iter().map(|r| r.run_id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
