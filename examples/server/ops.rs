//! The operations that read, decide and write in one transaction: processing an event's runs,
//! pruning an event, unlinking a repo, revoking a key. Backend-neutral: each reads through a [`Tx`], asks
//! [`crate::rules`] what to write, writes it and commits. The worker and the routes call these;
//! the contract suite runs them against every backend.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mwctl::protocol::Run;
use mwctl::protocol::admin::{
    ApiKey, EventStatus, PruneReport, PrunedIncident, PrunedRun, Repo, UnlinkReport,
};
use mwctl::protocol::incident::Incident;

use crate::rules;
use crate::rules::keys::Revocation;
use crate::rules::prune::{PruneStart, Undo};
use crate::store::{
    Action, Counts, Finished, IncidentRecord, IncidentSlot, IncidentUpdate, IncidentWrite,
    RunFields, RunUpdate, RunWrite, Slot, Store, StoreResult, Tx, WriteRecord, Writer,
};

/// What [`apply_event`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Runs written and the event marked `SUCCESS`, in one transaction.
    Done(Counts),
    /// Nothing written: a run's repository is no longer linked (the reason, for the event).
    Unresolved(String),
    /// Nothing written: the worker's lease ran out and another worker took the event over.
    Lost,
}

/// Writes a claimed event's runs and marks it `SUCCESS`, all or nothing, if `owner` still
/// holds the claim. Per run and linked repo: a new run is inserted; an existing one is merged
/// by [`rules::merge`] (and left alone when nothing changes). The event records the runs it
/// created or updated, and what each update replaced (so that pruning it can undo exactly
/// that).
pub async fn apply_event(
    store: &dyn Store,
    id: &str,
    owner: &str,
    runs: &[Run],
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    let event = Pending {
        id,
        runs,
        received_at,
    };
    let mut applied = apply_events(store, owner, std::slice::from_ref(&event), now).await?;
    Ok(applied.pop().unwrap_or(Applied::Lost))
}

/// A claimed event of a batch for [`apply_events`].
pub struct Pending<'a> {
    pub id: &'a str,
    pub runs: &'a [Run],
    pub received_at: DateTime<Utc>,
}

/// [`apply_event`] for several claimed events in ONE transaction (one commit instead of one
/// per event, which is what bounds processing), oldest first, each seeing the runs the earlier
/// ones wrote. Each gets the result it would get alone: an event whose lease was lost or whose
/// repo is no longer linked writes nothing (it is resolved before any of its writes) and the
/// others are still written. A storage error rolls the whole batch back: the caller then
/// applies the events one by one, so that the error is charged to the event that causes it.
pub async fn apply_events(
    store: &dyn Store,
    owner: &str,
    events: &[Pending<'_>],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Applied>> {
    let mut tx = store.begin(Writer::Worker).await?;
    let applied = apply_in(tx.as_mut(), owner, events, now).await?;
    if applied.iter().any(|a| matches!(a, Applied::Done(_))) {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(applied)
}

/// The writes of the events inside `tx` (not committed), each kind in one call for the whole
/// batch (claims held, runs inserted, runs updated, events finished): on PostgreSQL a batch
/// costs a few round trips, not a few per event, and so holds its locks (which another
/// instance's worker may be waiting for) only briefly.
async fn apply_in(
    tx: &mut dyn Tx,
    owner: &str,
    events: &[Pending<'_>],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Applied>> {
    let ids: Vec<&str> = events.iter().map(|e| e.id).collect();
    let held = tx.hold(&ids, owner).await?;
    // Per event: the outcome decided before writing (lost, unresolved), or its record so far.
    let mut outcomes: Vec<Result<Finished, Applied>> = Vec::with_capacity(events.len());
    let mut repos: Option<Vec<Repo>> = None;
    // One write per (run, repo) of every event; `sources` remembers each write's event and run.
    let mut writes = Vec::new();
    let mut sources = Vec::new();
    for (e, (event, held)) in events.iter().zip(held).enumerate() {
        if !held {
            outcomes.push(Err(Applied::Lost));
            continue;
        }
        let linked = match &repos {
            Some(linked) => linked,
            None => repos.insert(tx.repos().await?),
        };
        let targets = match rules::resolve_runs(event.runs, linked) {
            Ok(targets) => targets,
            // Resolved before any write: nothing of this event is in the transaction.
            Err(errors) => {
                outcomes.push(Err(Applied::Unresolved(rules::unresolved_reason(&errors))));
                continue;
            }
        };
        for (index, (run, repo_ids)) in event.runs.iter().zip(&targets).enumerate() {
            for &repo_id in repo_ids {
                writes.push(RunWrite {
                    repo_id,
                    workflow: run.workflow_name.clone(),
                    unique_id: run.workflow_run_unique_id.clone(),
                    fields: rules::fields_of(run),
                });
                sources.push((e, index));
            }
        }
        outcomes.push(Ok(Finished {
            id: event.id.to_owned(),
            ..Finished::default()
        }));
    }
    let slots = if writes.is_empty() {
        Vec::new()
    } else {
        tx.insert_runs(writes, now).await?
    };
    // The fields each run has after the updates decided so far: a later event of the batch
    // merges onto them (the store reports what it held before the batch).
    let mut latest: HashMap<i64, RunFields> = HashMap::new();
    for (slot, (e, index)) in slots.into_iter().zip(sources) {
        let (event, Ok(finished)) = (&events[e], &mut outcomes[e]) else {
            continue;
        };
        match slot {
            Slot::Created(run_id) => {
                finished.counts.created += 1;
                finished.written.push(WriteRecord {
                    run_id,
                    action: Action::Created,
                    before: None,
                });
            }
            Slot::Exists { run_id, stored } => {
                let before = latest.get(&run_id).cloned().unwrap_or(stored);
                let new = rules::fields_of(&event.runs[index]);
                match rules::merge(&before, new, event.received_at) {
                    None => finished.counts.unchanged += 1,
                    Some(after) => {
                        finished.counts.updated += 1;
                        finished.written.push(WriteRecord {
                            run_id,
                            action: Action::Updated,
                            before: Some(before),
                        });
                        latest.insert(run_id, after);
                    }
                }
            }
        }
    }
    if !latest.is_empty() {
        let mut updates: Vec<RunUpdate> = latest
            .into_iter()
            .map(|(run_id, after)| RunUpdate { run_id, after })
            .collect();
        // Rows in key order, as the store locks them.
        updates.sort_unstable_by_key(|u| u.run_id);
        tx.update_runs(updates, now).await?;
    }
    let mut applied = Vec::with_capacity(outcomes.len());
    let mut finished = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(done) => {
                applied.push(Applied::Done(done.counts));
                finished.push(done);
            }
            Err(not) => applied.push(not),
        }
    }
    if !finished.is_empty() {
        tx.finish_events(finished, now).await?;
    }
    Ok(applied)
}

/// Writes a claimed incident event's incidents and marks it `SUCCESS`, all or nothing, if
/// `owner` still holds the claim: as [`apply_event`], an incident's repositories resolved as a
/// run's, a new incident inserted, an existing one merged by [`rules::incidents::merge`].
pub async fn apply_incident_event(
    store: &dyn Store,
    id: &str,
    owner: &str,
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    let mut tx = store.begin(Writer::Worker).await?;
    if tx.hold(&[id], owner).await? != [true] {
        tx.rollback().await?;
        return Ok(Applied::Lost);
    }
    let repos = tx.repos().await?;
    let targets = match rules::resolve_incidents(incidents, &repos) {
        Ok(targets) => targets,
        Err(errors) => {
            tx.rollback().await?;
            return Ok(Applied::Unresolved(rules::unresolved_reason(&errors)));
        }
    };
    let writes: Vec<IncidentWrite> = incidents
        .iter()
        .zip(targets)
        .map(|(incident, repo_ids)| IncidentWrite {
            provider: incident.provider.clone(),
            incident_key: incident.incident_key.clone(),
            fields: rules::incidents::fields_of(incident, repo_ids),
        })
        .collect();
    let slots = tx.insert_incidents(writes.clone(), now).await?;
    let mut counts = Counts::default();
    let mut written = Vec::with_capacity(slots.len());
    let mut updates = Vec::new();
    for (slot, write) in slots.into_iter().zip(writes) {
        match slot {
            IncidentSlot::Created(incident_id) => {
                counts.created += 1;
                written.push(IncidentRecord {
                    incident_id,
                    action: Action::Created,
                    before: None,
                });
            }
            IncidentSlot::Exists {
                incident_id,
                stored,
            } => match rules::incidents::merge(&stored, write.fields) {
                None => counts.unchanged += 1,
                Some(after) => {
                    counts.updated += 1;
                    written.push(IncidentRecord {
                        incident_id,
                        action: Action::Updated,
                        before: Some(*stored),
                    });
                    updates.push(IncidentUpdate { incident_id, after });
                }
            },
        }
    }
    if !updates.is_empty() {
        tx.update_incidents(updates, now).await?;
    }
    tx.finish_incident_event(id, written, counts, now).await?;
    tx.commit().await?;
    Ok(Applied::Done(counts))
}

/// What [`prune_event`] did.
#[derive(Debug)]
pub enum Pruned {
    Done(PruneReport),
    NotFound,
    /// Still waiting or running: pruning now would race the worker.
    NotProcessed(EventStatus),
}

/// Undoes what the event wrote ([`rules::prune`]: each run deleted, restored or left as
/// changed since) and marks it `PRUNED`. A dry run does all of it and rolls back, so its
/// report is exactly what would happen.
pub async fn prune_event(
    store: &dyn Store,
    id: &str,
    dry_run: bool,
    at: DateTime<Utc>,
) -> StoreResult<Pruned> {
    let mut tx = store.begin(Writer::Request).await?;
    let Some(status) = tx.event_status(id).await? else {
        tx.rollback().await?;
        return Ok(Pruned::NotFound);
    };
    let mut report = PruneReport {
        event_id: id.to_owned(),
        dry_run,
        already_pruned: false,
        runs: Vec::new(),
        workflows_deleted: 0,
        incidents: Vec::new(),
    };
    match rules::prune::prune_start(status) {
        PruneStart::NotProcessed(status) => {
            tx.rollback().await?;
            return Ok(Pruned::NotProcessed(status));
        }
        PruneStart::AlreadyPruned => {
            tx.rollback().await?;
            report.already_pruned = true;
            return Ok(Pruned::Done(report));
        }
        PruneStart::Proceed => {}
    }
    let refs = tx.event_runs(id).await?;
    let histories = tx
        .run_history(refs.iter().map(|r| r.run_id).collect())
        .await?;
    let mut doomed = Vec::new();
    let mut restores = Vec::new();
    for mut run in refs {
        let Some(history) = histories.iter().find(|h| h.run_id == run.run_id) else {
            continue;
        };
        let undo = rules::prune::undo(id, &history.writes);
        match &undo {
            Undo::Delete => doomed.push(run.run_id),
            Undo::Restore(fields) => {
                run.status = fields.status.as_str().to_owned();
                restores.push(RunUpdate {
                    run_id: run.run_id,
                    after: fields.clone(),
                });
            }
            Undo::ChangedSince => {}
        }
        report.runs.push(PrunedRun {
            outcome: undo.outcome(),
            run,
        });
    }
    if !restores.is_empty() {
        tx.update_runs(restores, at).await?;
    }
    if !doomed.is_empty() {
        report.workflows_deleted = tx.delete_runs(doomed).await?;
    }
    prune_incidents(tx.as_mut(), id, &mut report, at).await?;
    tx.mark_pruned(id, at).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(Pruned::Done(report))
}

/// The incident half of [`prune_event`]: the same rule ([`rules::prune::undo`]) over the
/// incidents the event wrote.
async fn prune_incidents(
    tx: &mut dyn crate::store::Tx,
    id: &str,
    report: &mut PruneReport,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let refs = tx.event_incidents(id).await?;
    if refs.is_empty() {
        return Ok(());
    }
    let histories = tx
        .incident_history(refs.iter().map(|r| r.incident_id).collect())
        .await?;
    let mut doomed = Vec::new();
    let mut restores = Vec::new();
    for mut incident in refs {
        let Some(history) = histories
            .iter()
            .find(|h| h.incident_id == incident.incident_id)
        else {
            continue;
        };
        let undo = rules::prune::undo(id, &history.writes);
        match &undo {
            Undo::Delete => doomed.push(incident.incident_id),
            Undo::Restore(fields) => {
                incident.status = fields.status.as_str().to_owned();
                restores.push(IncidentUpdate {
                    incident_id: incident.incident_id,
                    after: fields.clone(),
                });
            }
            Undo::ChangedSince => {}
        }
        report.incidents.push(PrunedIncident {
            outcome: undo.outcome(),
            incident,
        });
    }
    if !restores.is_empty() {
        tx.update_incidents(restores, at).await?;
    }
    if !doomed.is_empty() {
        tx.delete_incidents(doomed).await?;
    }
    Ok(())
}

/// Unlinks a linked repo. Its runs stay (linking it again brings it back with them), unless
/// `delete_runs`: then they go, with the workflows left empty, and the events that wrote them
/// are marked `PRUNED` so that re-sending them stores them again. A dry run does all of it and
/// rolls back. `None`: no linked repo has this id.
pub async fn unlink_repo(
    store: &dyn Store,
    id: i64,
    delete_runs: bool,
    dry_run: bool,
    at: DateTime<Utc>,
) -> StoreResult<Option<UnlinkReport>> {
    let mut tx = store.begin(Writer::Request).await?;
    let Some(repo) = tx.repos().await?.into_iter().find(|r| r.id == id) else {
        tx.rollback().await?;
        return Ok(None);
    };
    let runs = tx.repo_runs(id).await?;
    let mut report = UnlinkReport {
        repo,
        dry_run,
        runs_kept: 0,
        runs_deleted: 0,
        workflows_deleted: 0,
        events_released: 0,
    };
    if delete_runs {
        report.runs_deleted = runs.len() as u64;
        if !runs.is_empty() {
            report.events_released = tx.release_events(runs.clone(), at).await?;
            report.workflows_deleted = tx.delete_runs(runs).await?;
        }
    } else {
        report.runs_kept = runs.len() as u64;
    }
    tx.unlink_repo(id, at).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(Some(report))
}

/// What [`revoke_key`] did.
#[derive(Debug)]
pub enum Revoked {
    Done(ApiKey),
    NotFound,
    /// Refused: it is the last admin key usable now and without expiry.
    LastAdmin,
}

/// Revokes a key at once ([`rules::keys`]); revoking a revoked key changes nothing.
pub async fn revoke_key(store: &dyn Store, id: &str, at: DateTime<Utc>) -> StoreResult<Revoked> {
    let mut tx = store.begin(Writer::Request).await?;
    let keys = tx.keys().await?;
    let Some(target) = keys.iter().find(|k| k.key.id == id) else {
        tx.rollback().await?;
        return Ok(Revoked::NotFound);
    };
    match rules::keys::revocation(target, &keys, at) {
        Revocation::AlreadyRevoked => {
            let key = target.key.clone();
            tx.rollback().await?;
            Ok(Revoked::Done(key))
        }
        Revocation::LastAdmin => {
            tx.rollback().await?;
            Ok(Revoked::LastAdmin)
        }
        Revocation::Revoke => {
            let mut key = target.key.clone();
            tx.revoke_key(id, at).await?;
            tx.commit().await?;
            key.revoked_at = Some(at);
            Ok(Revoked::Done(key))
        }
    }
}
