//! Resolving a run's fields: flag, else the CI environment, else git, else a default.

use std::collections::BTreeMap;

use crate::ci::{self, CiFacts, Field};
use crate::cli::RunFieldArgs;

/// The fields of a deployment run, each with where it came from.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    pub repo_url: Option<Field>,
    pub workflow: Option<Field>,
    pub branch: Option<Field>,
    pub commit: Option<Field>,
    pub run_id: Option<Field>,
    pub run_url: Option<Field>,
    pub actor: Option<Field>,
}

impl Fields {
    /// Flags (and their MW_* variables), then `fallback` (e.g. the state `start` left), then
    /// the CI, then git.
    pub fn resolve(args: &RunFieldArgs, fallback: &Fields, facts: &CiFacts) -> Fields {
        let flag = |value: &Option<String>, name: &str| {
            value
                .as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Field::new(v.trim(), name))
        };
        let run_id = facts.run_id.clone().map(|id| match &facts.attempt {
            // A re-run of the same CI run is a new deployment.
            Some(attempt) => Field::new(
                format!("{}-{}", id.value, attempt.value),
                format!("{} + {}", id.source, attempt.source),
            ),
            None => id,
        });
        Fields {
            repo_url: flag(&args.repo, "--repo / MW_REPO")
                .or_else(|| fallback.repo_url.clone())
                .or_else(|| facts.repo_url.clone())
                .or_else(ci::git::repo_url),
            workflow: flag(&args.workflow, "--workflow / MW_WORKFLOW")
                .or_else(|| fallback.workflow.clone())
                .or_else(|| facts.workflow.clone())
                .or_else(|| Some(Field::new("deploy", "default"))),
            branch: flag(&args.branch, "--branch / MW_BRANCH")
                .or_else(|| fallback.branch.clone())
                .or_else(|| facts.branch.clone())
                .or_else(ci::git::branch),
            commit: flag(&args.commit, "--commit / MW_COMMIT")
                .or_else(|| fallback.commit.clone())
                .or_else(|| facts.commit.clone())
                .or_else(ci::git::commit),
            run_id: flag(&args.run_id, "--run-id / MW_RUN_ID")
                .or_else(|| fallback.run_id.clone())
                .or(run_id),
            run_url: flag(&args.run_url, "--run-url / MW_RUN_URL")
                .or_else(|| fallback.run_url.clone())
                .or_else(|| facts.run_url.clone()),
            actor: flag(&args.actor, "--actor / MW_ACTOR")
                .or_else(|| fallback.actor.clone())
                .or_else(|| facts.actor.clone())
                .or_else(|| {
                    std::env::var("USER")
                        .or_else(|_| std::env::var("USERNAME"))
                        .ok()
                        .filter(|u| !u.is_empty())
                        .map(|u| Field::new(u, "env USER"))
                }),
        }
    }

    /// Each field's source, for `--dry-run` and JSON output.
    pub fn sources(&self) -> BTreeMap<&'static str, String> {
        let mut map = BTreeMap::new();
        for (name, field) in [
            ("repo_url", &self.repo_url),
            ("workflow_name", &self.workflow),
            ("head_branch", &self.branch),
            ("commit_sha", &self.commit),
            ("workflow_run_unique_id", &self.run_id),
            ("html_url", &self.run_url),
            ("event_actor", &self.actor),
        ] {
            map.insert(
                name,
                field
                    .as_ref()
                    .map_or_else(|| "not found".to_owned(), |f| f.source.clone()),
            );
        }
        map
    }
}
