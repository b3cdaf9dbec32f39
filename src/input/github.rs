//! GitHub Actions runs exports (`gh api repos/O/R/actions/runs --paginate`), mapped the way
//! Middleware's own GitHub Actions sync maps a workflow run, with the identity `mwctl deploy`
//! gives the same run when it reports it live from the job: id `RUNID-ATTEMPT`, workflow = the
//! workflow's name, actor = whoever started the attempt. A run reported live and then
//! backfilled is one run on the server, not two.

use serde::Deserialize;
use serde_json::Value;

use super::Overrides;
use crate::protocol::validate::parse_timestamp;
use crate::protocol::{Element, RawRun, RunElement};

/// The fields of a workflow run object that the mapping reads; the rest is skipped unparsed.
/// Every field is lenient (any JSON value), so a wrong type is reported by validation, per field.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GithubRun {
    id: Option<Value>,
    run_attempt: Option<Value>,
    name: Option<Value>,
    actor: Option<Element<Login>>,
    triggering_actor: Option<Element<Login>>,
    head_branch: Option<Value>,
    head_sha: Option<Value>,
    status: Option<Value>,
    conclusion: Option<Value>,
    run_started_at: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    html_url: Option<Value>,
    repository: Option<Element<Repository>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Login {
    login: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Repository {
    html_url: Option<Value>,
}

/// Maps one element of `workflow_runs` to a run.
pub(crate) fn map(element: Element<GithubRun>, overrides: &Overrides) -> RunElement {
    let run = match element {
        Element::Object(run) => *run,
        Element::NotAnObject(kind) => return Element::NotAnObject(kind),
    };
    let completed = run.status.as_ref().and_then(Value::as_str) == Some("completed");
    let status = run.status.as_ref().map(|status| match status.as_str() {
        Some("completed") => Value::from(match run.conclusion.as_ref().and_then(Value::as_str) {
            Some("success") => "SUCCESS",
            Some("cancelled") => "CANCELLED",
            // failure, timed_out, startup_failure, action_required, neutral, skipped, stale...
            _ => "FAILURE",
        }),
        Some(_) => Value::from("PENDING"),
        // Not a string: validation names the wrong type.
        None => status.clone(),
    });
    let started = run.run_started_at.or(run.created_at);
    // A run still in progress has no duration yet.
    let duration = completed
        .then(|| seconds_between(started.as_ref()?, run.updated_at.as_ref()?))
        .flatten();
    let repo_url = match run.repository {
        Some(Element::Object(repository)) => repository.html_url,
        _ => None,
    };
    // As `mwctl deploy` reads GITHUB_TRIGGERING_ACTOR before GITHUB_ACTOR.
    let login = |actor: Option<Element<Login>>| match actor {
        Some(Element::Object(actor)) => actor.login.filter(|l| !l.is_null()),
        _ => None,
    };
    let actor = login(run.triggering_actor).or_else(|| login(run.actor));
    Element::Object(Box::new(RawRun {
        workflow_name: overrides.workflow_name().or(run.name),
        repo_urls: overrides
            .repo_urls()
            .or_else(|| repo_url.map(|url| Value::Array(vec![url]))),
        event_actor: actor,
        head_branch: run.head_branch,
        workflow_run_unique_id: run.id.map(|id| with_attempt(id, run.run_attempt.as_ref())),
        status,
        workflow_run_conducted_at: started,
        duration,
        html_url: run.html_url,
        commit_sha: run.head_sha,
        ..RawRun::default()
    }))
}

/// `ID-ATTEMPT`, as `mwctl deploy` names a run in GitHub Actions (`GITHUB_RUN_ID` and
/// `GITHUB_RUN_ATTEMPT`); the first attempt when the export has no `run_attempt`. An id of
/// another type is left for validation to report.
fn with_attempt(id: Value, attempt: Option<&Value>) -> Value {
    let id = match &id {
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return id,
    };
    let attempt = match attempt {
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => s.trim().to_owned(),
        _ => "1".to_owned(),
    };
    Value::from(format!("{id}-{attempt}"))
}

/// Whole seconds from `from` to `to`, when both are timestamps and `to` is not earlier.
pub(crate) fn seconds_between(from: &Value, to: &Value) -> Option<Value> {
    let from = parse_timestamp(from.as_str()?)?;
    let to = parse_timestamp(to.as_str()?)?;
    let secs = (to - from).num_seconds();
    (secs >= 0).then(|| Value::from(secs))
}

/// Where a run field comes from in the export, for error messages.
pub(crate) fn source_of(field: &str) -> Option<&'static str> {
    Some(match field.split('[').next().unwrap_or(field) {
        "workflow_name" => "the run's name (or --workflow-name)",
        "repo_urls" => "repository.html_url (or --repo)",
        "event_actor" => "triggering_actor.login, else actor.login",
        "head_branch" => "head_branch",
        "workflow_run_unique_id" => "id and run_attempt",
        "status" => "status and conclusion",
        "workflow_run_conducted_at" => "run_started_at",
        "duration" => "updated_at - run_started_at",
        "html_url" => "html_url",
        "commit_sha" => "head_sha",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapped(run: Value, overrides: &Overrides) -> RawRun {
        let element: Element<GithubRun> = serde_json::from_value(run).expect("parses");
        match map(element, overrides) {
            Element::Object(raw) => *raw,
            Element::NotAnObject(kind) => panic!("{kind}"),
        }
    }

    fn run(status: &str, conclusion: Value) -> Value {
        json!({
            "id": 30433642,
            "name": "Build",
            "head_branch": "main",
            "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "status": status,
            "conclusion": conclusion,
            "run_started_at": "2024-01-22T19:33:08Z",
            "updated_at": "2024-01-22T19:35:38Z",
            "html_url": "https://github.com/octo-org/octo-repo/actions/runs/30433642",
            "actor": {"login": "octocat", "id": 1, "avatar_url": "https://x"},
            "repository": {"id": 1, "full_name": "octo-org/octo-repo", "html_url": "https://github.com/octo-org/octo-repo"},
            "pull_requests": [],
        })
    }

    #[test]
    fn a_completed_run() {
        let raw = mapped(run("completed", json!("success")), &Overrides::default());
        assert_eq!(raw.workflow_run_unique_id, Some(json!("30433642-1")));
        assert_eq!(raw.workflow_name, Some(json!("Build")));
        assert_eq!(raw.event_actor, Some(json!("octocat")));
        assert_eq!(raw.head_branch, Some(json!("main")));
        assert_eq!(raw.status, Some(json!("SUCCESS")));
        assert_eq!(
            raw.workflow_run_conducted_at,
            Some(json!("2024-01-22T19:33:08Z"))
        );
        assert_eq!(raw.duration, Some(json!(150)));
        assert_eq!(
            raw.repo_urls,
            Some(json!(["https://github.com/octo-org/octo-repo"]))
        );
        assert_eq!(
            raw.commit_sha,
            Some(json!("acb5820ced9479c074f688cc328bf03f341a511d"))
        );
    }

    #[test]
    fn ids_and_actors_are_those_of_a_live_report() {
        let mut second = run("completed", json!("success"));
        second["run_attempt"] = json!(2);
        second["triggering_actor"] = json!({"login": "monalisa"});
        let raw = mapped(second, &Overrides::default());
        assert_eq!(raw.workflow_run_unique_id, Some(json!("30433642-2")));
        assert_eq!(raw.event_actor, Some(json!("monalisa")));
        let raw = mapped(
            json!({"id": "77", "run_attempt": "3"}),
            &Overrides::default(),
        );
        assert_eq!(raw.workflow_run_unique_id, Some(json!("77-3")));
        let raw = mapped(json!({"id": [1]}), &Overrides::default());
        assert_eq!(
            raw.workflow_run_unique_id,
            Some(json!([1])),
            "left for validation"
        );
    }

    #[test]
    fn statuses() {
        let status = |s: &str, c: Value| mapped(run(s, c), &Overrides::default()).status;
        assert_eq!(
            status("completed", json!("failure")),
            Some(json!("FAILURE"))
        );
        assert_eq!(
            status("completed", json!("timed_out")),
            Some(json!("FAILURE"))
        );
        assert_eq!(status("completed", Value::Null), Some(json!("FAILURE")));
        assert_eq!(
            status("completed", json!("cancelled")),
            Some(json!("CANCELLED"))
        );
        assert_eq!(status("in_progress", Value::Null), Some(json!("PENDING")));
        assert_eq!(status("queued", Value::Null), Some(json!("PENDING")));
        let pending = mapped(run("in_progress", Value::Null), &Overrides::default());
        assert_eq!(pending.duration, None, "no duration before the end");
    }

    #[test]
    fn overrides_and_odd_shapes() {
        let overrides = Overrides {
            repo: Some("https://github.com/acme/other".to_owned()),
            workflow_name: Some("deploy".to_owned()),
        };
        let raw = mapped(run("completed", json!("success")), &overrides);
        assert_eq!(raw.workflow_name, Some(json!("deploy")));
        assert_eq!(
            raw.repo_urls,
            Some(json!(["https://github.com/acme/other"]))
        );

        let raw = mapped(
            json!({"id": 1, "actor": "someone", "repository": null}),
            &Overrides::default(),
        );
        assert_eq!(raw.event_actor, None);
        assert_eq!(raw.repo_urls, None);
        let element: Element<GithubRun> = serde_json::from_value(json!(7)).expect("parses");
        assert!(matches!(
            map(element, &Overrides::default()),
            Element::NotAnObject(_)
        ));
    }
}
