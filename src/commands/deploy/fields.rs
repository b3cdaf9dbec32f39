//! Resolving a run's fields: flag (or its MW_* variable), else what `deploy start` saved,
//! else the CI environment, else git, else a default; each with where it came from.

use crate::ci::git::Git;
use crate::ci::{CiFacts, Field};
use crate::cli::RunFieldArgs;
use crate::protocol::repo::canonical_repo_url;
use crate::protocol::strip_credentials;

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
    /// Why the branch is unknown, when git can tell (a detached HEAD).
    pub no_branch: Option<String>,
}

/// The field names as the wire protocol spells them, in the order `--explain` lists them.
pub const NAMES: [&str; 7] = [
    "workflow_name",
    "workflow_run_unique_id",
    "repo_url",
    "head_branch",
    "commit_sha",
    "event_actor",
    "html_url",
];

impl Fields {
    /// Flags, then `saved` (what `start` left), then the CI, then git (asked only for what
    /// is still missing, so a CI that knows everything runs no git process).
    pub fn resolve(args: &RunFieldArgs, saved: &Fields, facts: &CiFacts) -> Fields {
        let git = Git::default();
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
        let in_ci = facts.provider.is_some();
        let mut fields = Fields {
            repo_url: flag(&args.repo, "--repo / MW_REPO")
                .or_else(|| saved.repo_url.clone())
                .or_else(|| facts.repo_url.clone())
                .or_else(|| git.repo_url()),
            workflow: flag(&args.workflow, "--workflow / MW_WORKFLOW")
                .or_else(|| saved.workflow.clone())
                .or_else(|| facts.workflow.clone())
                .or_else(|| Some(Field::new("deploy", "default"))),
            branch: flag(&args.branch, "--branch / MW_BRANCH")
                .or_else(|| saved.branch.clone())
                .or_else(|| facts.branch.clone())
                .or_else(|| git.branch()),
            commit: flag(&args.commit, "--commit / MW_COMMIT")
                .or_else(|| saved.commit.clone())
                .or_else(|| facts.commit.clone())
                .or_else(|| git.commit()),
            run_id: flag(&args.run_id, "--run-id / MW_RUN_ID")
                .or_else(|| saved.run_id.clone())
                .or(run_id),
            run_url: flag(&args.run_url, "--run-url / MW_RUN_URL")
                .or_else(|| saved.run_url.clone())
                .or_else(|| facts.run_url.clone()),
            actor: flag(&args.actor, "--actor / MW_ACTOR")
                .or_else(|| saved.actor.clone())
                .or_else(|| facts.actor.clone())
                // On a CI machine $USER is the runner's account; the commit's author says
                // more. On a workstation, $USER is who deploys.
                .or_else(|| if in_ci { git.author() } else { None })
                .or_else(login_name),
            no_branch: None,
        };
        if fields.branch.is_none() {
            fields.no_branch = git.no_branch_reason();
        }
        // Whatever the source, a token in a URL (`https://ci:token@host/…`) goes no further.
        for url in [&mut fields.repo_url, &mut fields.run_url]
            .into_iter()
            .flatten()
        {
            url.value = strip_credentials(&url.value);
        }
        // The one form mwctl sends (upstream Middleware matches repositories by exact URL).
        if let Some(repo) = &mut fields.repo_url
            && let Ok(canonical) = canonical_repo_url(&repo.value)
        {
            repo.value = canonical;
        }
        fields
    }

    /// A field by its wire name (see [`NAMES`]).
    pub fn get(&self, name: &str) -> Option<&Field> {
        match name {
            "workflow_name" => self.workflow.as_ref(),
            "workflow_run_unique_id" => self.run_id.as_ref(),
            "repo_url" => self.repo_url.as_ref(),
            "head_branch" => self.branch.as_ref(),
            "commit_sha" => self.commit.as_ref(),
            "event_actor" => self.actor.as_ref(),
            "html_url" => self.run_url.as_ref(),
            _ => None,
        }
    }

    /// Each field's source ("not found" when none), for `--explain` and JSON output.
    pub fn sources(&self) -> std::collections::BTreeMap<&'static str, String> {
        NAMES
            .iter()
            .map(|name| {
                let source = self
                    .get(name)
                    .map_or_else(|| "not found".to_owned(), |f| f.source.clone());
                (*name, source)
            })
            .collect()
    }
}

fn login_name() -> Option<Field> {
    ["USER", "USERNAME"].iter().find_map(|key| {
        std::env::var(key)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(|u| Field::new(u, format!("env {key}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_saved_state_beat_ci() {
        let facts = CiFacts {
            provider: Some("github-actions".into()),
            workflow: Some(Field::new("CI name", "env GITHUB_WORKFLOW")),
            run_id: Some(Field::new("10", "env GITHUB_RUN_ID")),
            attempt: Some(Field::new("3", "env GITHUB_RUN_ATTEMPT")),
            branch: Some(Field::new("main", "ci")),
            commit: Some(Field::new("abcdef1", "ci")),
            repo_url: Some(Field::new("https://github.com/a/b", "ci")),
            actor: Some(Field::new("ci-actor", "ci")),
            ..CiFacts::default()
        };
        let saved = Fields {
            actor: Some(Field::new("saved-actor", "state")),
            ..Fields::default()
        };
        let args = RunFieldArgs {
            workflow: Some(" release ".into()),
            ..RunFieldArgs::default()
        };
        let f = Fields::resolve(&args, &saved, &facts);
        let workflow = f.workflow.expect("workflow");
        assert_eq!(workflow.value, "release");
        assert_eq!(workflow.source, "--workflow / MW_WORKFLOW");
        assert_eq!(f.actor.map(|a| a.value).as_deref(), Some("saved-actor"));
        let run_id = f.run_id.expect("run id");
        assert_eq!(run_id.value, "10-3", "the attempt makes a re-run a new run");
        assert_eq!(run_id.source, "env GITHUB_RUN_ID + env GITHUB_RUN_ATTEMPT");
        assert_eq!(f.branch.map(|b| b.value).as_deref(), Some("main"));
    }

    #[test]
    fn credentials_in_urls_are_dropped_whatever_their_source() {
        let args = RunFieldArgs {
            repo: Some("https://deploy:s3cret@git.example.com/acme/shop.git".into()),
            run_url: Some("https://user:pw@ci.example.com/runs/1".into()),
            ..RunFieldArgs::default()
        };
        let facts = CiFacts {
            provider: Some("jenkins".into()),
            ..CiFacts::default()
        };
        let f = Fields::resolve(&args, &Fields::default(), &facts);
        assert_eq!(
            f.repo_url.map(|r| r.value).as_deref(),
            Some("https://git.example.com/acme/shop")
        );
        assert_eq!(
            f.run_url.map(|r| r.value).as_deref(),
            Some("https://ci.example.com/runs/1")
        );
    }

    #[test]
    fn sources_name_every_field() {
        let f = Fields {
            workflow: Some(Field::new("deploy", "default")),
            ..Fields::default()
        };
        let sources = f.sources();
        assert_eq!(sources.len(), NAMES.len());
        assert_eq!(sources["workflow_name"], "default");
        assert_eq!(sources["repo_url"], "not found");
    }
}
