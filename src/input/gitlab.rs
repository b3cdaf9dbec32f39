//! GitLab pipelines exports (the pipelines API: `glab api projects/:id/pipelines --paginate`),
//! one pipeline per run. The API has no repository URL (it is derived from `web_url`) and no
//! workflow name unless pipelines are named: `--repo` and `--workflow-name` supply them.
//!
//! A jobs export (`glab api projects/:id/jobs --paginate`) is read the same way, one job per
//! run: id = the job's id and workflow = its name, which is how `mwctl deploy` names a run it
//! reports from a GitLab job (`CI_JOB_ID`, `CI_JOB_NAME`); so a deployment job reported live
//! and then backfilled from a jobs export is one run. The commit is `commit.id` there.

use serde::Deserialize;
use serde_json::Value;

use super::Overrides;
use super::github::seconds_between;
use crate::protocol::{Element, RawRun, RunElement};

/// The fields of a pipeline object that the mapping reads; the rest is skipped unparsed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GitlabPipeline {
    id: Option<Value>,
    name: Option<Value>,
    sha: Option<Value>,
    #[serde(rename = "ref")]
    git_ref: Option<Value>,
    status: Option<Value>,
    web_url: Option<Value>,
    created_at: Option<Value>,
    started_at: Option<Value>,
    finished_at: Option<Value>,
    duration: Option<Value>,
    user: Option<Element<User>>,
    /// Jobs: the commit and the pipeline they ran in.
    commit: Option<Element<Commit>>,
    pipeline: Option<Element<PipelineRef>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Commit {
    id: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PipelineRef {
    sha: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct User {
    username: Option<Value>,
}

/// GitLab's pipeline statuses on the protocol's four; others pass through for validation to
/// report.
fn status(gitlab: &str) -> Option<&'static str> {
    Some(match gitlab {
        "success" => "SUCCESS",
        "failed" => "FAILURE",
        "canceled" | "cancelled" | "skipped" => "CANCELLED",
        "created"
        | "waiting_for_resource"
        | "preparing"
        | "pending"
        | "running"
        | "manual"
        | "scheduled"
        | "waiting_for_callback" => "PENDING",
        _ => return None,
    })
}

/// Maps one pipeline to a run.
pub(crate) fn map(element: Element<GitlabPipeline>, overrides: &Overrides) -> RunElement {
    let pipeline = match element {
        Element::Object(pipeline) => *pipeline,
        Element::NotAnObject(kind) => return Element::NotAnObject(kind),
    };
    let status = pipeline
        .status
        .map(|s| s.as_str().and_then(status).map_or(s.clone(), Value::from));
    let started = pipeline.started_at.or(pipeline.created_at);
    let duration = match pipeline.duration {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.round() as i64))
            .map(Value::from),
        _ => started
            .as_ref()
            .zip(pipeline.finished_at.as_ref())
            .and_then(|(from, to)| seconds_between(from, to)),
    };
    let repo = overrides.repo_urls().or_else(|| {
        let url = pipeline.web_url.as_ref()?.as_str()?;
        let (project, _) = url.split_once("/-/")?;
        Some(Value::Array(vec![Value::from(project)]))
    });
    let actor = match pipeline.user {
        Some(Element::Object(user)) => user.username,
        _ => None,
    };
    let name = pipeline
        .name
        .filter(|n| n.as_str().is_some_and(|s| !s.trim().is_empty()));
    let job_commit = match pipeline.commit {
        Some(Element::Object(commit)) => commit.id,
        _ => None,
    };
    let job_pipeline = match pipeline.pipeline {
        Some(Element::Object(p)) => p.sha,
        _ => None,
    };
    let commit = pipeline.sha.or(job_commit).or(job_pipeline);
    Element::Object(Box::new(RawRun {
        workflow_name: overrides.workflow_name().or(name),
        repo_urls: repo,
        event_actor: actor,
        head_branch: pipeline.git_ref,
        workflow_run_unique_id: pipeline.id,
        status,
        workflow_run_conducted_at: started,
        duration,
        html_url: pipeline.web_url,
        commit_sha: commit,
        ..RawRun::default()
    }))
}

/// Where a run field comes from in the export, for error messages.
pub(crate) fn source_of(field: &str) -> Option<&'static str> {
    Some(match field.split('[').next().unwrap_or(field) {
        "workflow_name" => {
            "the pipeline's name; pipelines list no workflow unless named: pass --workflow-name"
        }
        "repo_urls" => "web_url (or --repo)",
        "event_actor" => "user.username",
        "head_branch" => "ref",
        "workflow_run_unique_id" => "id",
        "status" => "status",
        "workflow_run_conducted_at" => "started_at or created_at",
        "duration" => "duration, or finished_at - started_at",
        "html_url" => "web_url",
        "commit_sha" => "sha (jobs: commit.id)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapped(pipeline: Value, overrides: &Overrides) -> RawRun {
        let element: Element<GitlabPipeline> = serde_json::from_value(pipeline).expect("parses");
        match map(element, overrides) {
            Element::Object(raw) => *raw,
            Element::NotAnObject(kind) => panic!("{kind}"),
        }
    }

    fn pipeline(status: &str) -> Value {
        json!({
            "id": 47, "iid": 12, "project_id": 1,
            "status": status, "source": "push", "ref": "main",
            "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
            "web_url": "https://gitlab.example.com/group/sub/project/-/pipelines/47",
            "created_at": "2016-08-11T11:28:34.085Z",
            "updated_at": "2016-08-11T11:32:35.169Z",
            "started_at": "2016-08-11T11:28:40.000Z",
            "finished_at": "2016-08-11T11:32:35.145Z",
            "duration": 235,
            "user": {"id": 1, "username": "root", "name": "Administrator"}
        })
    }

    #[test]
    fn a_pipeline() {
        let overrides = Overrides {
            repo: None,
            workflow_name: Some("deploy".to_owned()),
        };
        let raw = mapped(pipeline("success"), &overrides);
        assert_eq!(raw.workflow_run_unique_id, Some(json!(47)));
        assert_eq!(raw.workflow_name, Some(json!("deploy")));
        assert_eq!(
            raw.repo_urls,
            Some(json!(["https://gitlab.example.com/group/sub/project"]))
        );
        assert_eq!(raw.event_actor, Some(json!("root")));
        assert_eq!(raw.head_branch, Some(json!("main")));
        assert_eq!(raw.status, Some(json!("SUCCESS")));
        assert_eq!(
            raw.workflow_run_conducted_at,
            Some(json!("2016-08-11T11:28:40.000Z"))
        );
        assert_eq!(raw.duration, Some(json!(235)));
    }

    #[test]
    fn a_job_is_named_as_a_live_report_names_it() {
        let job = json!({
            "id": 4242, "name": "deploy:production", "stage": "deploy", "status": "success",
            "ref": "main", "created_at": "2025-02-01T08:59:00Z",
            "started_at": "2025-02-01T09:00:00Z", "finished_at": "2025-02-01T09:04:00Z",
            "duration": 240.4, "web_url": "https://gitlab.com/acme/platform/api/-/jobs/4242",
            "commit": {"id": "1ecfd275763eff1d6b4844ea3168962458c9f27a", "short_id": "1ecfd275"},
            "pipeline": {"id": 1000, "sha": "1ecfd275763eff1d6b4844ea3168962458c9f27a"},
            "user": {"username": "dev1"}
        });
        let raw = mapped(job, &Overrides::default());
        assert_eq!(raw.workflow_run_unique_id, Some(json!(4242)));
        assert_eq!(raw.workflow_name, Some(json!("deploy:production")));
        assert_eq!(
            raw.repo_urls,
            Some(json!(["https://gitlab.com/acme/platform/api"]))
        );
        assert_eq!(
            raw.commit_sha,
            Some(json!("1ecfd275763eff1d6b4844ea3168962458c9f27a"))
        );
        assert_eq!(raw.duration, Some(json!(240)));
    }

    #[test]
    fn statuses_and_fallbacks() {
        let st = |s: &str| mapped(pipeline(s), &Overrides::default()).status;
        assert_eq!(st("failed"), Some(json!("FAILURE")));
        assert_eq!(st("canceled"), Some(json!("CANCELLED")));
        assert_eq!(st("skipped"), Some(json!("CANCELLED")));
        assert_eq!(st("running"), Some(json!("PENDING")));
        assert_eq!(st("manual"), Some(json!("PENDING")));
        assert_eq!(
            st("exploded"),
            Some(json!("exploded")),
            "left for validation"
        );

        let mut p = pipeline("success");
        p["duration"] = Value::Null;
        p["name"] = json!("Release");
        let raw = mapped(p, &Overrides::default());
        assert_eq!(raw.duration, Some(json!(235)), "finished_at - started_at");
        assert_eq!(raw.workflow_name, Some(json!("Release")));
        let overrides = Overrides {
            repo: Some("https://gitlab.example.com/group/project".to_owned()),
            workflow_name: None,
        };
        assert_eq!(
            mapped(pipeline("success"), &overrides).repo_urls,
            Some(json!(["https://gitlab.example.com/group/project"]))
        );
    }
}
