//! `GET /api/incidents` (the stored incidents, each with the deployment it is attributed to) and
//! `GET /api/dora` (the DORA figures). Both attribute incidents by one rule,
//! [`rules::dora::attribute`], over the deployments the store returns for it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use mwctl::protocol::admin::{IncidentPage, Repo, StoredIncident};
use mwctl::protocol::dora::{DoraReport, Interval, NotAvailable, WHEN_FORMS, parse_when};
use mwctl::protocol::incident::{DeploymentRef, IncidentStatus};
use mwctl::protocol::{REPO_FILTER_FORMS, RepoFilter};
use serde::Deserialize;

use super::{cursor, parse_limit};
use crate::app::AppState;
use crate::auth::AppError;
use crate::extract::ApiQuery;
use crate::rules::dora::{self, Deployment, IncidentFacts};
use crate::store::{DeploymentQuery, IncidentQuery, IncidentRow, Store, StoreResult, now};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;
/// The DORA range without `from`: this many days before `to`.
const DEFAULT_DAYS: i64 = 90;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list))
        .route("/dora", get(report))
}

#[derive(Deserialize)]
struct ListParams {
    repo: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A query parameter, trimmed; absent when empty.
fn given(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// The linked repos `repo=` designates (`None`: no filter).
fn repo_ids(raw: Option<&str>, repos: &[Repo]) -> Result<Option<Vec<i64>>, AppError> {
    let Some(raw) = given(raw) else {
        return Ok(None);
    };
    let filter = RepoFilter::parse(raw).map_err(|message| {
        AppError::bad_request(
            message,
            format!("filter with repo= one of {REPO_FILTER_FORMS}"),
        )
    })?;
    let ids: Vec<i64> = repos
        .iter()
        .filter(|r| filter.matches(&r.host, &r.org, &r.name))
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return Err(AppError::bad_request(
            format!("repo={raw:?} matches no linked repository"),
            "give a linked repository (see `mwctl repos list`), or link it with `mwctl repos link URL`",
        ));
    }
    Ok(Some(ids))
}

/// `name=` as a time ([`parse_when`]).
fn when(name: &str, raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    parse_when(raw, now).map_err(|message| {
        AppError::bad_request(
            format!("{name}: {message}"),
            format!("give {name} as {WHEN_FORMS}"),
        )
    })
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<IncidentPage>, AppError> {
    let repos = state.store.list_repos().await?;
    let status = match given(params.status.as_deref()) {
        None => None,
        Some(raw) => Some(IncidentStatus::parse(raw).ok_or_else(|| {
            AppError::bad_request(
                format!("unknown incident status {raw:?}"),
                "filter by one of: triggered, acknowledged, resolved",
            )
        })?),
    };
    let since = given(params.since.as_deref())
        .map(|raw| when("since", raw, now()))
        .transpose()?;
    let max = state.config.page_max(MAX_LIMIT);
    let query = IncidentQuery {
        repo_ids: repo_ids(params.repo.as_deref(), &repos)?,
        status,
        since,
        limit: parse_limit(params.limit.as_deref(), DEFAULT_LIMIT.min(max), max)?,
        after: given(params.cursor.as_deref())
            .map(cursor::parse_incident)
            .transpose()?,
    };
    let listed = state.store.list_incidents(&query).await?;
    let next = listed
        .more
        .then(|| listed.items.last().map(cursor::after_incident))
        .flatten();
    let mut incidents = Vec::with_capacity(listed.items.len());
    for row in listed.items {
        incidents.push(stored(state.store.as_ref(), row).await?);
    }
    Ok(Json(IncidentPage {
        incidents,
        total: listed.total,
        next,
    }))
}

fn facts(row: &IncidentRow) -> IncidentFacts {
    let f = &row.fields;
    IncidentFacts {
        repo_ids: f.repo_ids.clone(),
        kind: f.incident_type,
        created_at: f.creation_date,
        resolved_at: f.resolved_date,
        deployment: f.deployment.clone(),
    }
}

/// The listed incident, attributed: the deployments the rule can choose from are the one it
/// names and, per repository, the latest before its creation.
async fn stored(store: &dyn Store, row: IncidentRow) -> StoreResult<StoredIncident> {
    let facts = facts(&row);
    let mut candidates = store
        .deployments(&DeploymentQuery::LatestBefore {
            repo_ids: facts.repo_ids.clone(),
            workflow: None,
            before: facts.created_at,
        })
        .await?;
    if let Some(named) = &facts.deployment {
        candidates.extend(
            store
                .deployments(&DeploymentQuery::Named {
                    repo_ids: facts.repo_ids.clone(),
                    refs: vec![named.clone()],
                })
                .await?,
        );
    }
    let successes: Vec<&Deployment> = candidates.iter().collect();
    let attributed_to = dora::attribution(&facts, &successes);
    let f = row.fields;
    Ok(StoredIncident {
        id: row.id,
        repo: row.repo,
        provider: row.provider,
        incident_key: row.incident_key,
        status: f.status.as_str().to_owned(),
        incident_type: f.incident_type.as_str().to_owned(),
        title: f.title,
        creation_date: f.creation_date,
        acknowledged_date: f.acknowledged_date,
        resolved_date: f.resolved_date,
        reopened_date: f.reopened_date,
        assignees: f.assignees,
        url: f.url,
        provider_service_name: f.provider_service_name,
        deployment: f.deployment,
        attributed_to,
        events: row.events,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[derive(Deserialize)]
struct DoraParams {
    repo: Option<String>,
    workflow: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The same as `from` (as `mwctl dora --since` names it).
    since: Option<String>,
    interval: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<DoraParams>,
) -> Result<Json<DoraReport>, AppError> {
    let now = now();
    let to = match given(params.to.as_deref()) {
        Some(raw) => when("to", raw, now)?,
        None => now,
    };
    let from = match (
        given(params.from.as_deref()),
        given(params.since.as_deref()),
    ) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
                "from and since are both given",
                "give one of them: from (or since, the same) is where the range starts",
            ));
        }
        (Some(raw), None) => when("from", raw, now)?,
        (None, Some(raw)) => when("since", raw, now)?,
        (None, None) => to - TimeDelta::days(DEFAULT_DAYS),
    };
    if from >= to {
        return Err(AppError::bad_request(
            format!(
                "the range is empty: from {} is not before to {}",
                from.to_rfc3339(),
                to.to_rfc3339()
            ),
            "give from (or since) earlier than to; without to, the range ends now",
        ));
    }
    let interval = match given(params.interval.as_deref()) {
        None => Interval::default(),
        Some(raw) => raw.parse::<Interval>().map_err(|message| {
            AppError::bad_request(message, "give interval=day, week or month")
        })?,
    };
    let workflow = given(params.workflow.as_deref()).map(str::to_owned);
    let repos = state.store.list_repos().await?;
    let filter = repo_ids(params.repo.as_deref(), &repos)?;
    let store = state.store.as_ref();

    // Incidents created since `from`: those after `to` still mark their deployment failed.
    let incidents: Vec<IncidentFacts> = store
        .list_incidents(&IncidentQuery {
            repo_ids: filter.clone(),
            since: Some(from),
            limit: u32::MAX - 1,
            ..IncidentQuery::default()
        })
        .await?
        .items
        .iter()
        .map(facts)
        .collect();
    // The deployments the rules can count or attribute to: those since `from`, per repository
    // the latest before it, and the ones incidents name.
    let mut deployments = store
        .deployments(&DeploymentQuery::Since {
            repo_ids: filter.clone(),
            workflow: workflow.clone(),
            since: from,
        })
        .await?;
    let all_ids = filter
        .clone()
        .unwrap_or_else(|| repos.iter().map(|r| r.id).collect());
    deployments.extend(
        store
            .deployments(&DeploymentQuery::LatestBefore {
                repo_ids: all_ids.clone(),
                workflow: workflow.clone(),
                before: from,
            })
            .await?,
    );
    let mut named: Vec<DeploymentRef> = incidents
        .iter()
        .filter_map(|i| i.deployment.clone())
        .filter(|d| {
            workflow
                .as_ref()
                .is_none_or(|w| w.eq_ignore_ascii_case(&d.workflow_name))
        })
        .collect();
    named.sort_by(|a, b| {
        (&a.workflow_name, &a.workflow_run_unique_id)
            .cmp(&(&b.workflow_name, &b.workflow_run_unique_id))
    });
    named.dedup();
    if !named.is_empty() {
        deployments.extend(
            store
                .deployments(&DeploymentQuery::Named {
                    repo_ids: all_ids,
                    refs: named,
                })
                .await?,
        );
    }
    deployments.sort_by_key(|d| (d.started_at, d.run_id));
    deployments.dedup_by_key(|d| d.run_id);

    let (total, intervals) =
        dora::figures(&deployments, &incidents, from, to, interval).map_err(|message| {
            AppError::bad_request(message, "give a shorter range or a longer interval")
        })?;
    Ok(Json(DoraReport {
        from,
        to,
        interval,
        repo: given(params.repo.as_deref()).map(str::to_owned),
        workflow,
        total,
        intervals,
        lead_time_for_changes: NotAvailable::lead_time(),
    }))
}

#[cfg(test)]
mod tests;
