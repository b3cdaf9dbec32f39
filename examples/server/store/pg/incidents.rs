//! PostgreSQL: incidents, what incident events wrote, and the deployments the DORA rules read
//! (as SQLite's `sqlite/incidents.rs`). Functions over a connection, called by
//! [`super::PgStore`] and [`super::tx::PgTx`]; a transaction's reads that decide writes lock
//! their rows (`FOR UPDATE`).

use std::collections::HashMap;

use mwctl::protocol::RunStatus;
use mwctl::protocol::admin::IncidentRef;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{Arg, Args, bad, listed, ts_of, where_clause};
use crate::rules::dora::Deployment;
use crate::store::event_list;
use crate::store::{
    Action, Counts, DeploymentQuery, IncidentFields, IncidentHistory, IncidentQuery,
    IncidentRecord, IncidentRow, IncidentSlot, IncidentUpdate, IncidentWrite, Listed, PastWrite,
    StoreError, StoreResult, repo_id_pattern, repo_ids_text, repo_label, ts,
};

fn to_json(fields: &IncidentFields) -> StoreResult<String> {
    serde_json::to_string(fields)
        .map_err(|e| StoreError::Other(format!("an incident's fields as JSON: {e}")))
}

fn fields_of(row: &PgRow, column: &str) -> StoreResult<IncidentFields> {
    let json: String = row.try_get(column)?;
    serde_json::from_str(&json).map_err(|_| bad(column, &json))
}

/// `org/name` of every repo, linked or not.
async fn repo_names(conn: &mut PgConnection) -> StoreResult<HashMap<i64, String>> {
    let rows = sqlx::query("SELECT id, org || '/' || name AS label FROM repos")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("label")?)))
        .collect()
}

pub(super) async fn list(
    conn: &mut PgConnection,
    query: &IncidentQuery,
) -> StoreResult<Listed<IncidentRow>> {
    let mut filters = Vec::new();
    let mut args = Args::default();
    if let Some(ids) = &query.repo_ids {
        let mut any = vec!["FALSE".to_owned()];
        for id in ids {
            let p = args.push(Arg::Text(repo_id_pattern(*id)));
            any.push(format!("repo_ids LIKE {p}"));
        }
        filters.push(format!("({})", any.join(" OR ")));
    }
    if let Some(status) = query.status {
        let p = args.push(Arg::Text(status.as_str().to_owned()));
        filters.push(format!("status = {p}"));
    }
    if let Some(since) = query.since {
        let p = args.push(Arg::Text(ts(since)));
        filters.push(format!("creation_date >= {p}"));
    }
    let sql = format!("SELECT count(*) FROM incidents {}", where_clause(&filters));
    let total: i64 = args.bind(&sql).fetch_one(&mut *conn).await?.try_get(0)?;
    if let Some((created, id)) = query.after {
        let a = args.push(Arg::Text(ts(created)));
        let b = args.push(Arg::Int(id));
        filters.push(format!("(creation_date, id) < ({a}, {b})"));
    }
    let p = args.push(Arg::Int(i64::from(query.limit).saturating_add(1)));
    let sql = format!(
        "SELECT id, provider, incident_key, fields, created_at, updated_at, \
             (SELECT string_agg(event_id, ',' ORDER BY seq) FROM event_incidents e \
              WHERE e.incident_id = incidents.id) AS events \
         FROM incidents {} ORDER BY creation_date DESC, id DESC LIMIT {p}",
        where_clause(&filters)
    );
    let rows = args.bind(&sql).fetch_all(&mut *conn).await?;
    let names = repo_names(conn).await?;
    let items = rows
        .iter()
        .map(|row| {
            let fields = fields_of(row, "fields")?;
            Ok(IncidentRow {
                id: row.try_get("id")?,
                provider: row.try_get("provider")?,
                incident_key: row.try_get("incident_key")?,
                repo: repo_label(&names, &fields.repo_ids),
                fields,
                events: event_list(row.try_get("events")?),
                created_at: ts_of(row, "created_at")?,
                updated_at: ts_of(row, "updated_at")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(listed(items, total.unsigned_abs(), query.limit))
}

const DEPLOYMENT_SELECT: &str = "SELECT wr.id, w.repo_id, w.name, wr.provider_workflow_run_id, \
        wr.status, wr.conducted_at, wr.duration \
     FROM repo_workflow_runs wr JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
     WHERE wr.status = 'SUCCESS'";

fn deployment_of(row: &PgRow) -> StoreResult<Deployment> {
    let status: String = row.try_get("status")?;
    Ok(Deployment {
        run_id: row.try_get("id")?,
        repo_id: row.try_get("repo_id")?,
        workflow: row.try_get("name")?,
        unique_id: row.try_get("provider_workflow_run_id")?,
        status: RunStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        started_at: ts_of(row, "conducted_at")?,
        duration: row.try_get("duration")?,
    })
}

/// `w.repo_id IN (...)`, its ids added to `args`.
fn repo_in(ids: &[i64], args: &mut Args) -> String {
    let marks: Vec<String> = ids.iter().map(|id| args.push(Arg::Int(*id))).collect();
    if marks.is_empty() {
        return "FALSE".to_owned();
    }
    format!("w.repo_id IN ({})", marks.join(", "))
}

async fn select(conn: &mut PgConnection, sql: &str, args: &Args) -> StoreResult<Vec<Deployment>> {
    args.bind(sql)
        .fetch_all(conn)
        .await?
        .iter()
        .map(deployment_of)
        .collect()
}

pub(super) async fn deployments(
    conn: &mut PgConnection,
    query: &DeploymentQuery,
) -> StoreResult<Vec<Deployment>> {
    let mut found = Vec::new();
    match query {
        DeploymentQuery::Since {
            repo_ids,
            workflow,
            since,
        } => {
            let mut args = Args::default();
            let p = args.push(Arg::Text(ts(*since)));
            let mut sql = format!("{DEPLOYMENT_SELECT} AND wr.conducted_at >= {p}");
            if let Some(ids) = repo_ids {
                sql += &format!(" AND {}", repo_in(ids, &mut args));
            }
            if let Some(workflow) = workflow {
                let p = args.push(Arg::Text(workflow.to_ascii_lowercase()));
                sql += &format!(" AND lower(w.name) = {p}");
            }
            found = select(conn, &sql, &args).await?;
        }
        DeploymentQuery::LatestBefore {
            repo_ids,
            workflow,
            before,
        } => {
            for id in repo_ids {
                let mut args = Args::default();
                let r = args.push(Arg::Int(*id));
                let b = args.push(Arg::Text(ts(*before)));
                let mut sql =
                    format!("{DEPLOYMENT_SELECT} AND w.repo_id = {r} AND wr.conducted_at < {b}");
                if let Some(workflow) = workflow {
                    let p = args.push(Arg::Text(workflow.to_ascii_lowercase()));
                    sql += &format!(" AND lower(w.name) = {p}");
                }
                sql += " ORDER BY wr.conducted_at DESC, wr.id DESC LIMIT 1";
                found.extend(select(conn, &sql, &args).await?);
            }
        }
        DeploymentQuery::Named { repo_ids, refs } => {
            for named in refs {
                let mut args = Args::default();
                let w = args.push(Arg::Text(named.workflow_name.clone()));
                let u = args.push(Arg::Text(named.workflow_run_unique_id.clone()));
                let sql = format!(
                    "{DEPLOYMENT_SELECT} AND w.name = {w} AND wr.provider_workflow_run_id = {u} AND {}",
                    repo_in(repo_ids, &mut args)
                );
                found.extend(select(conn, &sql, &args).await?);
            }
        }
    }
    found.sort_by_key(|d| (d.started_at, d.run_id));
    found.dedup_by_key(|d| d.run_id);
    Ok(found)
}

pub(super) async fn event_incident_refs(
    conn: &mut PgConnection,
    event_id: &str,
) -> StoreResult<Vec<IncidentRef>> {
    let rows = sqlx::query(
        "SELECT ei.incident_id, ei.action, i.provider, i.incident_key, i.fields \
         FROM event_incidents ei JOIN incidents i ON i.id = ei.incident_id \
         WHERE ei.event_id = $1 ORDER BY ei.incident_id",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let names = repo_names(conn).await?;
    rows.iter()
        .map(|row| {
            let fields = fields_of(row, "fields")?;
            Ok(IncidentRef {
                incident_id: row.try_get("incident_id")?,
                action: row.try_get("action")?,
                repo: repo_label(&names, &fields.repo_ids),
                provider: row.try_get("provider")?,
                incident_key: row.try_get("incident_key")?,
                status: fields.status.as_str().to_owned(),
            })
        })
        .collect()
}

pub(super) async fn insert(
    conn: &mut PgConnection,
    writes: &[IncidentWrite],
    now: &str,
) -> StoreResult<Vec<IncidentSlot>> {
    let mut slots = Vec::with_capacity(writes.len());
    for write in writes {
        let f = &write.fields;
        // A concurrent creator of the same incident: the loser waits for the winner's commit
        // on the unique constraint, then reads (and locks) its row.
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO incidents (provider, incident_key, repo_ids, status, creation_date, \
                fields, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&write.provider)
        .bind(&write.incident_key)
        .bind(repo_ids_text(&f.repo_ids))
        .bind(f.status.as_str())
        .bind(ts(f.creation_date))
        .bind(to_json(f)?)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = created {
            slots.push(IncidentSlot::Created(id));
            continue;
        }
        let row = sqlx::query(
            "SELECT id, fields FROM incidents WHERE provider = $1 AND incident_key = $2 \
             FOR UPDATE",
        )
        .bind(&write.provider)
        .bind(&write.incident_key)
        .fetch_one(&mut *conn)
        .await?;
        slots.push(IncidentSlot::Exists {
            incident_id: row.try_get("id")?,
            stored: Box::new(fields_of(&row, "fields")?),
        });
    }
    Ok(slots)
}

pub(super) async fn update(
    conn: &mut PgConnection,
    updates: &[IncidentUpdate],
    now: &str,
) -> StoreResult<()> {
    for update in updates {
        let f = &update.after;
        sqlx::query(
            "UPDATE incidents SET repo_ids = $1, status = $2, creation_date = $3, fields = $4, \
                updated_at = $5 WHERE id = $6",
        )
        .bind(repo_ids_text(&f.repo_ids))
        .bind(f.status.as_str())
        .bind(ts(f.creation_date))
        .bind(to_json(f)?)
        .bind(now)
        .bind(update.incident_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn finish(
    conn: &mut PgConnection,
    event_id: &str,
    written: &[IncidentRecord],
    counts: Counts,
    now: &str,
) -> StoreResult<()> {
    // Reprocessing after a crash starts from a clean slate for this event.
    sqlx::query("DELETE FROM event_incidents WHERE event_id = $1")
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    for record in written {
        let replaced = record.before.as_ref().map(to_json).transpose()?;
        sqlx::query(
            "INSERT INTO event_incidents (event_id, incident_id, action, replaced, seq) \
             VALUES ($1, $2, $3, $4, \
                (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_incidents WHERE incident_id = $2))",
        )
        .bind(event_id)
        .bind(record.incident_id)
        .bind(record.action.as_str())
        .bind(replaced)
        .execute(&mut *conn)
        .await?;
    }
    let n = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE events SET status = 'SUCCESS', error = NULL, processed_at = $1, \
            lease_until = NULL, incidents_created = $2, incidents_updated = $3, \
            incidents_unchanged = $4 WHERE id = $5",
    )
    .bind(now)
    .bind(n(counts.created))
    .bind(n(counts.updated))
    .bind(n(counts.unchanged))
    .bind(event_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn history(
    conn: &mut PgConnection,
    ids: &[i64],
) -> StoreResult<Vec<IncidentHistory>> {
    let mut histories = Vec::with_capacity(ids.len());
    for &incident_id in ids {
        let current = sqlx::query("SELECT fields FROM incidents WHERE id = $1 FOR UPDATE")
            .bind(incident_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(current) = current else { continue };
        let current = fields_of(&current, "fields")?;
        let rows = sqlx::query(
            "SELECT ei.event_id, e.status = 'PRUNED' AS pruned, ei.action, ei.replaced \
             FROM event_incidents ei JOIN events e ON e.id = ei.event_id \
             WHERE ei.incident_id = $1 ORDER BY ei.seq, ei.event_id",
        )
        .bind(incident_id)
        .fetch_all(&mut *conn)
        .await?;
        let writes = rows
            .iter()
            .map(|row| {
                let action: String = row.try_get("action")?;
                let replaced: Option<String> = row.try_get("replaced")?;
                Ok(PastWrite {
                    event_id: row.try_get("event_id")?,
                    pruned: row.try_get("pruned")?,
                    action: Action::parse(&action).ok_or_else(|| bad("action", &action))?,
                    before: replaced
                        .map(|json| serde_json::from_str(&json).map_err(|_| bad("replaced", &json)))
                        .transpose()?,
                })
            })
            .collect::<StoreResult<_>>()?;
        histories.push(IncidentHistory {
            incident_id,
            current,
            writes,
        });
    }
    Ok(histories)
}

pub(super) async fn delete(conn: &mut PgConnection, ids: &[i64]) -> StoreResult<()> {
    // event_incidents rows go with them (ON DELETE CASCADE).
    sqlx::query("DELETE FROM incidents WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
