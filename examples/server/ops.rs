//! The operations that read, decide and write in one transaction: processing an event's runs,
//! pruning an event, unlinking a repo, revoking a key. Backend-neutral: each reads through a [`Tx`], asks
//! [`crate::rules`] what to write, writes it and commits. The worker and the routes call these;
//! the contract suite runs them against every backend.

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
    Action, Counts, IncidentRecord, IncidentSlot, IncidentUpdate, IncidentWrite, RunUpdate,
    RunWrite, Slot, Store, StoreResult, Tx, WriteRecord, Writer,
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
    let mut tx = store.begin(Writer::Worker).await?;
    let mut repos = None;
    let applied = apply_in(tx.as_mut(), &mut repos, id, owner, runs, received_at, now).await?;
    if matches!(applied, Applied::Done(_)) {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(applied)
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
    let mut repos = None;
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        let result = apply_in(
            tx.as_mut(),
            &mut repos,
            event.id,
            owner,
            event.runs,
            event.received_at,
            now,
        )
        .await?;
        applied.push(result);
    }
    if applied.iter().any(|a| matches!(a, Applied::Done(_))) {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(applied)
}

/// The writes of one event inside `tx` (not committed). `repos` is read (and locked) once per
/// transaction, after the first claim it holds.
async fn apply_in(
    tx: &mut dyn Tx,
    repos: &mut Option<Vec<Repo>>,
    id: &str,
    owner: &str,
    runs: &[Run],
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    if !tx.hold(id, owner).await? {
        return Ok(Applied::Lost);
    }
    let linked = match repos {
        Some(linked) => linked,
        None => repos.insert(tx.repos().await?),
    };
    let targets = match rules::resolve_runs(runs, linked) {
        Ok(targets) => targets,
        // Resolved before any write: nothing of this event is in the transaction.
        Err(errors) => return Ok(Applied::Unresolved(rules::unresolved_reason(&errors))),
    };
    // One write per (run, repo); `sources` remembers each write's run.
    let mut writes = Vec::with_capacity(runs.len());
    let mut sources = Vec::with_capacity(runs.len());
    for (index, (run, repo_ids)) in runs.iter().zip(&targets).enumerate() {
        for &repo_id in repo_ids {
            writes.push(RunWrite {
                repo_id,
                workflow: run.workflow_name.clone(),
                unique_id: run.workflow_run_unique_id.clone(),
                fields: rules::fields_of(run),
            });
            sources.push(index);
        }
    }
    let slots = tx.insert_runs(writes, now).await?;
    let mut counts = Counts::default();
    let mut written = Vec::with_capacity(slots.len());
    let mut updates = Vec::new();
    for (slot, index) in slots.into_iter().zip(sources) {
        match slot {
            Slot::Created(run_id) => {
                counts.created += 1;
                written.push(WriteRecord {
                    run_id,
                    action: Action::Created,
                    before: None,
                });
            }
            Slot::Exists { run_id, stored } => {
                match rules::merge(&stored, rules::fields_of(&runs[index]), received_at) {
                    None => counts.unchanged += 1,
                    Some(after) => {
                        counts.updated += 1;
                        written.push(WriteRecord {
                            run_id,
                            action: Action::Updated,
                            before: Some(stored.clone()),
                        });
                        updates.push(RunUpdate {
                            run_id,
                            before: stored,
                            after,
                        });
                    }
                }
            }
        }
    }
    if !updates.is_empty() {
        tx.update_runs(updates, now).await?;
    }
    tx.finish_event(id, written, counts, now).await?;
    Ok(Applied::Done(counts))
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
    if !tx.hold(id, owner).await? {
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
                    before: history.current.clone(),
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
