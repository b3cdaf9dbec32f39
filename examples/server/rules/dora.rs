//! The DORA figures from stored deployments and incidents (docs/dora.md explains each with a
//! worked example; the `worked_example` test checks its numbers).
//!
//! - A **deployment** is a run whose status is SUCCESS, counted in the span it started in.
//! - An **incident** counts when its type is INCIDENT (alerts do not); it is **attributed** to
//!   the deployment it names, when that deployment is stored, else to the latest deployment of
//!   its repository that started before the incident's `creation_date`; else to none.
//! - A deployment **failed** when at least one incident is attributed to it, whenever that
//!   incident was created.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveTime, TimeDelta, Utc};
use mwctl::protocol::RunStatus;
use mwctl::protocol::admin::{Attribution, AttributionRule};
use mwctl::protocol::dora::{
    ChangeFailureRate, DeploymentDuration, DeploymentFrequency, DoraFigures, DoraInterval,
    Interval, TimeToRestore,
};
use mwctl::protocol::incident::{DeploymentRef, IncidentType};

/// A half-open time span `[start, end)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// Most intervals in one report (about 2.7 years of days).
pub const MAX_INTERVALS: usize = 1000;

/// A stored run, as the figures need it.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub run_id: i64,
    pub repo_id: i64,
    pub workflow: String,
    pub unique_id: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub duration: Option<i64>,
}

/// A stored incident, as the figures need it.
#[derive(Clone, Debug)]
pub struct IncidentFacts {
    /// The linked repositories it names.
    pub repo_ids: Vec<i64>,
    pub kind: IncidentType,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub deployment: Option<DeploymentRef>,
}

/// The figures over `[from, to)` in total and per interval. `deployments` may include runs
/// before `from` (incidents in the range may be attributed to them) and of any status.
pub fn figures(
    deployments: &[Deployment],
    incidents: &[IncidentFacts],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
) -> Result<(DoraFigures, Vec<DoraInterval>), String> {
    if from >= to {
        return Err("the range is empty: `from` must be before `to`".to_owned());
    }
    let spans = spans(from, to, interval)?;
    let successes: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| d.status == RunStatus::Success)
        .collect();
    let counted: Vec<&IncidentFacts> = incidents
        .iter()
        .filter(|i| i.kind == IncidentType::Incident)
        .collect();
    let candidates = Candidates::new(&successes);
    let attributed: Vec<Option<usize>> = counted
        .iter()
        .map(|i| attribute(i, &candidates).map(|(index, _)| index))
        .collect();
    let mut failed = vec![false; successes.len()];
    for index in attributed.iter().flatten() {
        failed[*index] = true;
    }
    let facts = Facts {
        successes: &successes,
        failed: &failed,
        incidents: &counted,
        attributed: &attributed,
    };
    let total = facts.over(from, to);
    let intervals = spans
        .into_iter()
        .map(|(start, end)| DoraInterval {
            start,
            end,
            figures: facts.over(start, end),
        })
        .collect();
    Ok((total, intervals))
}

/// SUCCESS deployments, indexed for [`attribute`]: per repository, positions in time order.
pub struct Candidates<'a> {
    successes: &'a [&'a Deployment],
    /// Repo id → indices into `successes`, by `(started_at, index)`.
    by_repo: HashMap<i64, Vec<usize>>,
}

impl<'a> Candidates<'a> {
    pub fn new(successes: &'a [&'a Deployment]) -> Candidates<'a> {
        let mut by_repo: HashMap<i64, Vec<usize>> = HashMap::new();
        for (index, d) in successes.iter().enumerate() {
            by_repo.entry(d.repo_id).or_default().push(index);
        }
        for indices in by_repo.values_mut() {
            indices.sort_by_key(|&i| (successes[i].started_at, i));
        }
        Candidates { successes, by_repo }
    }

    fn of_repo(&self, repo_id: i64) -> &[usize] {
        self.by_repo.get(&repo_id).map_or(&[], Vec::as_slice)
    }
}

/// The index in `successes` (SUCCESS deployments) of the deployment an incident is attributed
/// to, and by which rule: the one it names, when stored (the first in `successes`); else the
/// latest of its repositories that started before its creation (ties: the later in
/// `successes`). The one rule of `figures` and `GET /api/incidents`.
pub fn attribute(
    incident: &IncidentFacts,
    candidates: &Candidates<'_>,
) -> Option<(usize, AttributionRule)> {
    let successes = candidates.successes;
    if let Some(named) = &incident.deployment {
        let found = incident
            .repo_ids
            .iter()
            .flat_map(|&repo| candidates.of_repo(repo))
            .copied()
            .filter(|&i| {
                let d = successes[i];
                d.workflow == named.workflow_name && d.unique_id == named.workflow_run_unique_id
            })
            .min();
        if let Some(index) = found {
            return Some((index, AttributionRule::Named));
        }
    }
    incident
        .repo_ids
        .iter()
        .filter_map(|&repo| {
            let indices = candidates.of_repo(repo);
            let before =
                indices.partition_point(|&i| successes[i].started_at < incident.created_at);
            before.checked_sub(1).map(|k| indices[k])
        })
        .max_by_key(|&i| (successes[i].started_at, i))
        .map(|index| (index, AttributionRule::LatestBefore))
}

/// [`attribute`] as the wire type of `GET /api/incidents`.
pub fn attribution(incident: &IncidentFacts, successes: &[&Deployment]) -> Option<Attribution> {
    attribute(incident, &Candidates::new(successes)).map(|(index, by)| {
        let d = successes[index];
        Attribution {
            run_id: d.run_id,
            workflow: d.workflow.clone(),
            workflow_run_unique_id: d.unique_id.clone(),
            by,
        }
    })
}

struct Facts<'a> {
    successes: &'a [&'a Deployment],
    failed: &'a [bool],
    incidents: &'a [&'a IncidentFacts],
    attributed: &'a [Option<usize>],
}

impl Facts<'_> {
    fn over(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> DoraFigures {
        let within = |at: DateTime<Utc>| start <= at && at < end;
        let days = (end - start).num_milliseconds() as f64 / 86_400_000.0;

        let mut deployments = 0;
        let mut failed = 0;
        let mut durations = Vec::new();
        let mut without_duration = 0;
        for (index, d) in self.successes.iter().enumerate() {
            if !within(d.started_at) {
                continue;
            }
            deployments += 1;
            failed += u64::from(self.failed[index]);
            match d.duration {
                Some(secs) => durations.push(secs),
                None => without_duration += 1,
            }
        }

        let mut incidents = 0;
        let mut unattributed = 0;
        let mut restore_secs = Vec::new();
        let mut open = 0;
        for (incident, attributed) in self.incidents.iter().zip(self.attributed) {
            if !within(incident.created_at) {
                continue;
            }
            incidents += 1;
            unattributed += u64::from(attributed.is_none());
            match incident.resolved_at {
                Some(resolved) => restore_secs.push(seconds(resolved - incident.created_at)),
                None => open += 1,
            }
        }

        durations.sort_unstable();
        restore_secs.sort_unstable_by(f64::total_cmp);
        DoraFigures {
            deployment_frequency: DeploymentFrequency {
                deployments,
                days,
                per_day: (days > 0.0).then(|| deployments as f64 / days),
            },
            change_failure_rate: ChangeFailureRate {
                deployments,
                failed_deployments: failed,
                rate: (deployments > 0).then(|| failed as f64 / deployments as f64),
                incidents,
                unattributed_incidents: unattributed,
            },
            time_to_restore: TimeToRestore {
                resolved: restore_secs.len() as u64,
                open,
                mean_seconds: mean(&restore_secs),
                median_seconds: median(&restore_secs),
            },
            deployment_duration: DeploymentDuration {
                deployments: durations.len() as u64,
                without_duration,
                median_seconds: median(&durations.iter().map(|&s| s as f64).collect::<Vec<_>>()),
                p90_seconds: nearest_rank(&durations, 90),
            },
        }
    }
}

fn seconds(delta: TimeDelta) -> f64 {
    delta.num_milliseconds() as f64 / 1000.0
}

fn mean(sorted: &[f64]) -> Option<f64> {
    (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64)
}

/// The middle value; for an even count, the mean of the two middle values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `p`th percentile by nearest rank: the value at rank ceil(p/100 * n) (1-based).
fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    let n = sorted.len();
    let rank = (p * n).div_ceil(100).max(1);
    (n > 0).then(|| sorted[rank - 1])
}

/// The intervals that cover `[from, to)`: calendar days, ISO weeks or calendar months in UTC,
/// the first and last cut by `from` and `to`.
pub fn spans(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
) -> Result<Vec<Span>, String> {
    let mut spans = Vec::new();
    let mut start = interval_start(from, interval);
    while start < to {
        if spans.len() == MAX_INTERVALS {
            return Err(format!(
                "more than {MAX_INTERVALS} {interval}s in the range; choose a longer interval or a shorter range"
            ));
        }
        let end = next_start(start, interval)
            .ok_or_else(|| "the range ends beyond the dates this server handles".to_owned())?;
        spans.push((start.max(from), end.min(to)));
        start = end;
    }
    Ok(spans)
}

fn interval_start(at: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let date = at.date_naive();
    let date = match interval {
        Interval::Day => date,
        Interval::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Interval::Month => date.with_day(1).unwrap_or(date),
    };
    date.and_time(NaiveTime::MIN).and_utc()
}

fn next_start(start: DateTime<Utc>, interval: Interval) -> Option<DateTime<Utc>> {
    match interval {
        Interval::Day => start.checked_add_days(Days::new(1)),
        Interval::Week => start.checked_add_days(Days::new(7)),
        Interval::Month => start.checked_add_months(Months::new(1)),
    }
}

#[cfg(test)]
mod tests;
