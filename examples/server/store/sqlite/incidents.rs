//! SQLite: incidents, what incident events wrote, and the deployments the DORA rules read.
//! Functions over a connection, called by [`super::SqliteStore`] and [`super::tx::SqliteTx`].

use std::collections::HashMap;

use mwctl::protocol::RunStatus;
use mwctl::protocol::admin::IncidentRef;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{bad_column, count, listed, ts_col, where_clause};
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

fn fields_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<IncidentFields> {
    let json: String = row.get(idx)?;
    serde_json::from_str(&json).map_err(|_| bad_column(idx, &json))
}

/// `org/name` of every repo, linked or not.
fn repo_names(conn: &Connection) -> StoreResult<HashMap<i64, String>> {
    let names = conn
        .prepare_cached("SELECT id, org || '/' || name FROM repos")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

pub(super) fn list(conn: &Connection, query: &IncidentQuery) -> StoreResult<Listed<IncidentRow>> {
    // One read transaction: the total and the page see the same incidents.
    let tx = conn.unchecked_transaction()?;
    let mut filters = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(ids) = &query.repo_ids {
        let mut any = vec!["0".to_owned()];
        for id in ids {
            args.push(SqlValue::Text(repo_id_pattern(*id)));
            any.push(format!("repo_ids LIKE ?{}", args.len()));
        }
        filters.push(format!("({})", any.join(" OR ")));
    }
    if let Some(status) = query.status {
        args.push(SqlValue::Text(status.as_str().to_owned()));
        filters.push(format!("status = ?{}", args.len()));
    }
    if let Some(since) = query.since {
        args.push(SqlValue::Text(ts(since)));
        filters.push(format!("creation_date >= ?{}", args.len()));
    }
    let total = count(&tx, "SELECT count(*) FROM incidents", &filters, &args)?;
    if let Some((created, id)) = query.after {
        args.push(SqlValue::Text(ts(created)));
        args.push(SqlValue::Integer(id));
        filters.push(format!(
            "(creation_date, id) < (?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    args.push(SqlValue::Integer(i64::from(query.limit).saturating_add(1)));
    let sql = format!(
        "SELECT id, provider, incident_key, fields, created_at, updated_at, \
             (SELECT group_concat(event_id, ',') FROM (SELECT event_id FROM event_incidents e \
              WHERE e.incident_id = incidents.id ORDER BY seq)) \
         FROM incidents {} ORDER BY creation_date DESC, id DESC LIMIT ?{}",
        where_clause(&filters),
        args.len()
    );
    let names = repo_names(&tx)?;
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |row| {
            let fields = fields_col(row, 3)?;
            Ok(IncidentRow {
                id: row.get(0)?,
                provider: row.get(1)?,
                incident_key: row.get(2)?,
                repo: repo_label(&names, &fields.repo_ids),
                fields,
                events: event_list(row.get(6)?),
                created_at: ts_col(row, 4)?,
                updated_at: ts_col(row, 5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(listed(rows, total, query.limit))
}

const DEPLOYMENT_SELECT: &str = "SELECT wr.id, w.repo_id, w.name, wr.provider_workflow_run_id, \
        wr.status, wr.conducted_at, wr.duration \
     FROM repo_workflow_runs wr JOIN repo_workflows w ON w.id = wr.repo_workflow_id \
     WHERE wr.status = 'SUCCESS'";

fn deployment_row(row: &Row<'_>) -> rusqlite::Result<Deployment> {
    let status: String = row.get(4)?;
    Ok(Deployment {
        run_id: row.get(0)?,
        repo_id: row.get(1)?,
        workflow: row.get(2)?,
        unique_id: row.get(3)?,
        status: RunStatus::parse(&status).ok_or_else(|| bad_column(4, &status))?,
        started_at: ts_col(row, 5)?,
        duration: row.get(6)?,
    })
}

/// `w.repo_id IN (?n, ...)`, its ids pushed to `args`.
fn repo_in(ids: &[i64], args: &mut Vec<SqlValue>) -> String {
    let mut marks = Vec::with_capacity(ids.len());
    for id in ids {
        args.push(SqlValue::Integer(*id));
        marks.push(format!("?{}", args.len()));
    }
    if marks.is_empty() {
        return "0".to_owned();
    }
    format!("w.repo_id IN ({})", marks.join(", "))
}

fn select(conn: &Connection, sql: &str, args: Vec<SqlValue>) -> StoreResult<Vec<Deployment>> {
    let found = conn
        .prepare_cached(sql)?
        .query_map(params_from_iter(args), deployment_row)?
        .collect::<Result<_, _>>()?;
    Ok(found)
}

pub(super) fn deployments(
    conn: &Connection,
    query: &DeploymentQuery,
) -> StoreResult<Vec<Deployment>> {
    let mut found = Vec::new();
    match query {
        DeploymentQuery::Since {
            repo_ids,
            workflow,
            since,
        } => {
            let mut args = vec![SqlValue::Text(ts(*since))];
            let mut sql = format!("{DEPLOYMENT_SELECT} AND wr.conducted_at >= ?1");
            if let Some(ids) = repo_ids {
                sql += &format!(" AND {}", repo_in(ids, &mut args));
            }
            if let Some(workflow) = workflow {
                args.push(SqlValue::Text(workflow.to_ascii_lowercase()));
                sql += &format!(" AND lower(w.name) = ?{}", args.len());
            }
            found = select(conn, &sql, args)?;
        }
        DeploymentQuery::LatestBefore {
            repo_ids,
            workflow,
            before,
        } => {
            // Backwards along the time index from `before`: the latest is usually recent. (The
            // planner would otherwise take the repo's runs by workflow and sort them all:
            // 70 ms per call at 100,000 runs, once per listed incident.)
            let by_time = DEPLOYMENT_SELECT.replace(
                "FROM repo_workflow_runs wr",
                "FROM repo_workflow_runs wr INDEXED BY repo_workflow_runs_conducted",
            );
            for id in repo_ids {
                let mut args = vec![SqlValue::Integer(*id), SqlValue::Text(ts(*before))];
                let mut sql = format!("{by_time} AND w.repo_id = ?1 AND wr.conducted_at < ?2");
                if let Some(workflow) = workflow {
                    args.push(SqlValue::Text(workflow.to_ascii_lowercase()));
                    sql += " AND lower(w.name) = ?3";
                }
                sql += " ORDER BY wr.conducted_at DESC, wr.id DESC LIMIT 1";
                found.extend(select(conn, &sql, args)?);
            }
        }
        DeploymentQuery::Named { repo_ids, refs } => {
            for named in refs {
                let mut args = vec![
                    SqlValue::Text(named.workflow_name.clone()),
                    SqlValue::Text(named.workflow_run_unique_id.clone()),
                ];
                let sql = format!(
                    "{DEPLOYMENT_SELECT} AND w.name = ?1 AND wr.provider_workflow_run_id = ?2 AND {}",
                    repo_in(repo_ids, &mut args)
                );
                found.extend(select(conn, &sql, args)?);
            }
        }
    }
    found.sort_by_key(|d| (d.started_at, d.run_id));
    found.dedup_by_key(|d| d.run_id);
    Ok(found)
}

pub(super) fn event_incident_refs(
    conn: &Connection,
    event_id: &str,
) -> StoreResult<Vec<IncidentRef>> {
    let names = repo_names(conn)?;
    let refs = conn
        .prepare_cached(
            "SELECT ei.incident_id, ei.action, i.provider, i.incident_key, i.fields \
             FROM event_incidents ei JOIN incidents i ON i.id = ei.incident_id \
             WHERE ei.event_id = ?1 ORDER BY ei.incident_id",
        )?
        .query_map([event_id], |row| {
            let fields = fields_col(row, 4)?;
            Ok(IncidentRef {
                incident_id: row.get(0)?,
                action: row.get(1)?,
                repo: repo_label(&names, &fields.repo_ids),
                provider: row.get(2)?,
                incident_key: row.get(3)?,
                status: fields.status.as_str().to_owned(),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(refs)
}

pub(super) fn insert(
    conn: &Connection,
    writes: &[IncidentWrite],
    now: &str,
) -> StoreResult<Vec<IncidentSlot>> {
    let mut slots = Vec::with_capacity(writes.len());
    for write in writes {
        let f = &write.fields;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO incidents (provider, incident_key, repo_ids, status, creation_date, \
                    fields, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                write.provider,
                write.incident_key,
                repo_ids_text(&f.repo_ids),
                f.status.as_str(),
                ts(f.creation_date),
                to_json(f)?,
                now
            ])?;
        if inserted == 1 {
            slots.push(IncidentSlot::Created(conn.last_insert_rowid()));
            continue;
        }
        let (incident_id, stored) = conn
            .prepare_cached(
                "SELECT id, fields FROM incidents WHERE provider = ?1 AND incident_key = ?2",
            )?
            .query_row(params![write.provider, write.incident_key], |row| {
                Ok((row.get::<_, i64>(0)?, fields_col(row, 1)?))
            })?;
        slots.push(IncidentSlot::Exists {
            incident_id,
            stored: Box::new(stored),
        });
    }
    Ok(slots)
}

pub(super) fn update(conn: &Connection, updates: &[IncidentUpdate], now: &str) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE incidents SET repo_ids = ?1, status = ?2, creation_date = ?3, fields = ?4, \
            updated_at = ?5 WHERE id = ?6",
    )?;
    for update in updates {
        let f = &update.after;
        stmt.execute(params![
            repo_ids_text(&f.repo_ids),
            f.status.as_str(),
            ts(f.creation_date),
            to_json(f)?,
            now,
            update.incident_id
        ])?;
    }
    Ok(())
}

pub(super) fn finish(
    conn: &Connection,
    event_id: &str,
    written: &[IncidentRecord],
    counts: Counts,
    now: &str,
) -> StoreResult<()> {
    // Reprocessing after a crash starts from a clean slate for this event.
    conn.prepare_cached("DELETE FROM event_incidents WHERE event_id = ?1")?
        .execute([event_id])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO event_incidents (event_id, incident_id, action, replaced, seq) \
         VALUES (?1, ?2, ?3, ?4, \
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_incidents WHERE incident_id = ?2))",
    )?;
    for record in written {
        let replaced = record.before.as_ref().map(to_json).transpose()?;
        stmt.execute(params![
            event_id,
            record.incident_id,
            record.action.as_str(),
            replaced
        ])?;
    }
    let n = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE events SET status = 'SUCCESS', error = NULL, processed_at = ?1, \
            lease_until = NULL, incidents_created = ?2, incidents_updated = ?3, \
            incidents_unchanged = ?4 WHERE id = ?5",
    )?
    .execute(params![
        now,
        n(counts.created),
        n(counts.updated),
        n(counts.unchanged),
        event_id
    ])?;
    Ok(())
}

pub(super) fn history(conn: &Connection, ids: &[i64]) -> StoreResult<Vec<IncidentHistory>> {
    let mut histories = Vec::with_capacity(ids.len());
    for &incident_id in ids {
        let current = conn
            .prepare_cached("SELECT fields FROM incidents WHERE id = ?1")?
            .query_row([incident_id], |row| fields_col(row, 0))
            .optional()?;
        let Some(current) = current else { continue };
        let writes = conn
            .prepare_cached(
                "SELECT ei.event_id, e.status = 'PRUNED', ei.action, ei.replaced \
                 FROM event_incidents ei JOIN events e ON e.id = ei.event_id \
                 WHERE ei.incident_id = ?1 ORDER BY ei.seq, ei.event_id",
            )?
            .query_map([incident_id], |row| {
                let action: String = row.get(2)?;
                let replaced: Option<String> = row.get(3)?;
                Ok(PastWrite {
                    event_id: row.get(0)?,
                    pruned: row.get(1)?,
                    action: Action::parse(&action).ok_or_else(|| bad_column(2, &action))?,
                    before: replaced
                        .map(|json| serde_json::from_str(&json).map_err(|_| bad_column(3, &json)))
                        .transpose()?,
                })
            })?
            .collect::<Result<_, _>>()?;
        histories.push(IncidentHistory {
            incident_id,
            current,
            writes,
        });
    }
    Ok(histories)
}

pub(super) fn delete(conn: &Connection, ids: &[i64]) -> StoreResult<()> {
    for id in ids {
        conn.prepare_cached("DELETE FROM incidents WHERE id = ?1")?
            .execute([id])?;
        conn.prepare_cached("DELETE FROM event_incidents WHERE incident_id = ?1")?
            .execute([id])?;
    }
    Ok(())
}
