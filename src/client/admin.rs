//! Typed calls to the admin API (`/api/...`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{ApiError, Client};
use crate::protocol::admin::IncidentPage;
use crate::protocol::dora::{DoraReport, Interval};
use crate::protocol::incident::IncidentStatus;

/// The filters of `GET /api/incidents`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IncidentQuery<'a> {
    /// Any form `runs list --repo` takes.
    pub repo: Option<&'a str>,
    pub status: Option<IncidentStatus>,
    /// Only incidents created at or after this.
    pub since: Option<DateTime<Utc>>,
}
use crate::protocol::admin::{
    ApiKey, CreateKey, CreatedKey, EventDetail, EventPage, EventStatus, LinkRepo, PruneReport,
    Repo, RunPage, UnlinkReport,
};

impl Client {
    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        Ok(self.call_with_status(request).await?.0)
    }

    /// [`Self::call`], with the answer's status (201 Created and 200 OK say different things).
    async fn call_with_status<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(T, reqwest::StatusCode), ApiError> {
        let url = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map_or_else(|| self.base.clone(), |r| r.url().to_string());
        let answer = self.fetch(&self.base, request).await?;
        if !answer.status.is_success() {
            return Err(ApiError::from_admin_status(
                &url,
                answer.status,
                &answer.headers,
                &answer.body,
            ));
        }
        serde_json::from_slice(&answer.body)
            .map(|value| (value, answer.status))
            .map_err(|e| ApiError::Protocol(format!("{e} in {:?}", answer.snippet())))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        self.call(self.http.get(self.url(path)).query(query)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        Ok(self.post_with_status(path, body).await?.0)
    }

    async fn post_with_status<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(T, reqwest::StatusCode), ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| ApiError::Protocol(e.to_string()))?;
        let request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.call_with_status(request).await
    }

    /// Reachability without a key: `GET /healthz`.
    pub async fn health(&self) -> Result<(), ApiError> {
        let _: serde_json::Value = self.get("/healthz", &[]).await?;
        Ok(())
    }

    pub async fn create_key(&self, request: &CreateKey) -> Result<CreatedKey, ApiError> {
        self.post("/api/keys", request).await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, ApiError> {
        self.get("/api/keys", &[]).await
    }

    pub async fn revoke_key(&self, id: &str) -> Result<ApiKey, ApiError> {
        self.call(
            self.http
                .delete(self.url(&format!("/api/keys/{}", path_segment(id)))),
        )
        .await
    }

    /// Links a repo; the flag is `true` when it was not linked before (the server answers
    /// 201 Created for a new link, 200 OK for one that exists).
    pub async fn link_repo(&self, url: &str) -> Result<(Repo, bool), ApiError> {
        let request = LinkRepo {
            url: url.to_owned(),
        };
        let (repo, status) = self.post_with_status("/api/repos", &request).await?;
        Ok((repo, status == reqwest::StatusCode::CREATED))
    }

    pub async fn list_repos(&self) -> Result<Vec<Repo>, ApiError> {
        self.get("/api/repos", &[]).await
    }

    /// Unlinks a repo; `delete_runs` deletes its runs too; `dry_run` changes nothing.
    pub async fn unlink_repo(
        &self,
        id: &str,
        delete_runs: bool,
        dry_run: bool,
    ) -> Result<UnlinkReport, ApiError> {
        let request = self
            .http
            .delete(self.url(&format!("/api/repos/{}", path_segment(id))))
            .query(&[
                ("delete_runs", delete_runs.to_string()),
                ("dry_run", dry_run.to_string()),
            ]);
        self.call(request).await
    }

    /// One page of runs, newest first; `cursor` is the previous page's `next`.
    pub async fn list_runs(
        &self,
        repo: Option<&str>,
        workflow: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, ApiError> {
        let mut query = vec![("limit", limit.to_string())];
        for (name, value) in [("repo", repo), ("workflow", workflow), ("cursor", cursor)] {
            if let Some(value) = value {
                query.push((name, value.to_owned()));
            }
        }
        self.get("/api/runs", &query).await
    }

    /// One page of events, newest first; `cursor` is the previous page's `next` (or an event
    /// id: only older events).
    pub async fn list_events(
        &self,
        status: Option<EventStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<EventPage, ApiError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(status) = status {
            query.push(("status", status.as_str().to_owned()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        self.get("/api/events", &query).await
    }

    /// One page of incidents, newest first; `cursor` is the previous page's `next`.
    pub async fn list_incidents(
        &self,
        filter: &IncidentQuery<'_>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(repo) = filter.repo {
            query.push(("repo", repo.to_owned()));
        }
        if let Some(status) = filter.status {
            query.push(("status", status.as_str().to_owned()));
        }
        if let Some(since) = filter.since {
            query.push(("since", since.to_rfc3339_opts(SecondsFormat::Secs, true)));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        self.get("/api/incidents", &query).await
    }

    /// The DORA figures over `[from, to)`.
    pub async fn dora(
        &self,
        repo: Option<&str>,
        workflow: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        interval: Interval,
    ) -> Result<DoraReport, ApiError> {
        let mut query = vec![
            ("from", from.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ("to", to.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ("interval", interval.as_str().to_owned()),
        ];
        for (name, value) in [("repo", repo), ("workflow", workflow)] {
            if let Some(value) = value {
                query.push((name, value.to_owned()));
            }
        }
        self.get("/api/dora", &query).await
    }

    pub async fn event(&self, id: &str) -> Result<EventDetail, ApiError> {
        self.get(&format!("/api/events/{}", path_segment(id)), &[])
            .await
    }

    pub async fn prune(&self, id: &str, dry_run: bool) -> Result<PruneReport, ApiError> {
        let path = format!("/api/events/{}/prune", path_segment(id));
        let request = self
            .http
            .post(self.url(&path))
            .query(&[("dry_run", dry_run.to_string())]);
        self.call(request).await
    }
}

/// Percent-encodes an id for use as one path segment (dots too), so `..`, `/` or `?` in user
/// input cannot change which endpoint is called.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_cannot_escape_their_segment() {
        assert_eq!(super::path_segment("evt_01"), "evt_01");
        assert_eq!(super::path_segment("../keys?x"), "%2E%2E%2Fkeys%3Fx");
    }
}
