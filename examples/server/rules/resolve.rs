//! Which linked repositories each run designates. Ingest rejects a batch with unresolvable runs;
//! the worker resolves again at processing time, since a repo may be unlinked in between.

use std::collections::{HashMap, HashSet};

use mwctl::protocol::admin::Repo;
use mwctl::protocol::incident::Incident;
use mwctl::protocol::{ExceptionType, FieldError, Rejection, RepoName, RepoRef, Run};

/// For each run, the ids of the linked repos it designates (at least one), or every run's
/// problem. An entry that does not resolve is ignored when another entry of the run does.
pub fn resolve_runs(runs: &[Run], repos: &[Repo]) -> Result<Vec<Vec<i64>>, Vec<FieldError>> {
    let items: Vec<(&[String], &[String])> = runs
        .iter()
        .map(|r| (r.repo_urls.as_slice(), r.repo_names.as_slice()))
        .collect();
    resolve(&items, repos)
}

/// As [`resolve_runs`], for incidents (the same fields, the same rules).
pub fn resolve_incidents(
    incidents: &[Incident],
    repos: &[Repo],
) -> Result<Vec<Vec<i64>>, Vec<FieldError>> {
    let items: Vec<(&[String], &[String])> = incidents
        .iter()
        .map(|i| (i.repo_urls.as_slice(), i.repo_names.as_slice()))
        .collect();
    resolve(&items, repos)
}

/// For each item's `(repo_urls, repo_names)`, the linked repos it designates.
fn resolve(
    items: &[(&[String], &[String])],
    repos: &[Repo],
) -> Result<Vec<Vec<i64>>, Vec<FieldError>> {
    let runs = items;
    let linked: Vec<(i64, RepoRef)> = repos
        .iter()
        .map(|r| {
            let repo = RepoRef {
                host: r.host.clone(),
                org: r.org.clone(),
                name: r.name.clone(),
            };
            (r.id, repo)
        })
        .collect();
    // A batch usually names the same few URLs again and again: look each up once.
    let mut by_url: HashMap<&str, Result<i64, String>> = HashMap::new();
    let mut all = Vec::with_capacity(runs.len());
    let mut errors = Vec::new();
    for (index, (repo_urls, repo_names)) in runs.iter().enumerate() {
        let mut ids = Vec::new();
        let mut problems = Vec::new();
        for url in *repo_urls {
            let found = by_url.entry(url).or_insert_with(|| {
                let wanted = RepoRef::parse_url(url)?;
                match linked.iter().find(|(_, r)| r.same_as(&wanted)) {
                    Some((id, _)) => Ok(*id),
                    None => {
                        let url = wanted.url();
                        Err(format!(
                            "{url} is not linked; link it with `mwctl repos link {url}`"
                        ))
                    }
                }
            });
            match found {
                Ok(id) => ids.push(*id),
                Err(message) => problems.push(("repo_urls", message.clone())),
            }
        }
        for name in *repo_names {
            match RepoName::parse(name) {
                Ok(wanted) => {
                    let found: Vec<&(i64, RepoRef)> = linked
                        .iter()
                        .filter(|(_, r)| r.matches_name(&wanted))
                        .collect();
                    match found.as_slice() {
                        [(id, _)] => ids.push(*id),
                        [] => problems.push(("repo_names", not_linked(name, &wanted))),
                        several => {
                            let names: Vec<String> =
                                several.iter().map(|(_, r)| r.full_name()).collect();
                            problems.push((
                                "repo_names",
                                format!(
                                    "{name} matches {} linked repos ({}); use org/name",
                                    names.len(),
                                    names.join(", ")
                                ),
                            ));
                        }
                    }
                }
                Err(message) => problems.push(("repo_names", message)),
            }
        }
        if ids.is_empty() {
            errors.extend(problems.into_iter().map(|(field, message)| FieldError {
                index,
                field: field.to_owned(),
                message,
            }));
        }
        // Two spellings of one repo (https and git@) must not write the run twice.
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(*id));
        all.push(ids);
    }
    if errors.is_empty() {
        Ok(all)
    } else {
        Err(errors)
    }
}

fn not_linked(name: &str, wanted: &RepoName) -> String {
    match &wanted.org {
        Some(org) => format!(
            "{name} is not linked; link it with `mwctl repos link <its URL>` (e.g. https://github.com/{org}/{})",
            wanted.name
        ),
        None => format!(
            "{name} is not linked; link it with `mwctl repos link <its URL>`, or give org/name"
        ),
    }
}

/// Why the worker wrote nothing: a repository was unlinked after the request was accepted (the
/// event's error, listing the first problems).
pub fn unresolved_reason(errors: &[FieldError]) -> String {
    let first: Vec<String> = errors.iter().take(3).map(|e| e.to_string()).collect();
    format!(
        "a repository was unlinked after the request was accepted; nothing was written ({}{}); link it again and re-send the batch",
        first.join("; "),
        if errors.len() > 3 { "; ..." } else { "" }
    )
}

/// The ingest rejection for items (`runs`, `incidents`) that name no linked repository.
pub fn unknown_repo_of(items: &str, errors: Vec<FieldError>, total: usize) -> Rejection {
    let bad: HashSet<usize> = errors.iter().map(|e| e.index).collect();
    let mut rejection = Rejection::new(
        ExceptionType::UnknownRepo,
        format!(
            "{} of {total} {items} name no linked repository; the batch was not stored",
            bad.len()
        ),
        "link the repositories listed in errors with `mwctl repos link URL` (or fix repo_urls / repo_names), then send the batch again",
    );
    rejection.errors = errors;
    rejection
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use mwctl::protocol::RunStatus;

    fn repo(id: i64, org: &str, name: &str) -> Repo {
        Repo {
            id,
            host: "github.com".to_owned(),
            org: org.to_owned(),
            name: name.to_owned(),
            url: format!("https://github.com/{org}/{name}"),
            created_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
        }
    }

    fn run(urls: &[&str], names: &[&str]) -> Run {
        Run {
            workflow_name: "deploy".to_owned(),
            repo_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
            repo_names: names.iter().map(|s| (*s).to_owned()).collect(),
            event_actor: "a".to_owned(),
            head_branch: "main".to_owned(),
            workflow_run_unique_id: "1".to_owned(),
            status: RunStatus::Success,
            workflow_run_conducted_at: Utc::now().fixed_offset(),
            duration: None,
            html_url: None,
            commit_sha: None,
            meta: None,
        }
    }

    #[test]
    fn urls_and_names_resolve() {
        let repos = [repo(1, "acme", "shop"), repo(2, "other", "shop")];
        let runs = [
            run(
                &[
                    "git@github.com:ACME/shop.git",
                    "https://github.com/acme/shop",
                ],
                &[],
            ),
            run(&["https://github.com/acme/gone"], &["other/shop"]),
        ];
        assert_eq!(resolve_runs(&runs, &repos).expect("ok"), [vec![1], vec![2]]);
    }

    #[test]
    fn unresolved_runs_are_listed() {
        let repos = [repo(1, "acme", "shop"), repo(2, "other", "shop")];
        let runs = [
            run(&["https://github.com/acme/x"], &[]),
            run(&[], &["shop"]),
            run(&[], &["shop", "acme/shop"]),
        ];
        let errors = resolve_runs(&runs, &repos).expect_err("unresolved");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "repo_urls");
        assert_eq!(
            errors[0].message,
            "https://github.com/acme/x is not linked; link it with `mwctl repos link https://github.com/acme/x`"
        );
        assert_eq!(errors[1].index, 1);
        assert!(
            errors[1].message.contains("use org/name"),
            "{}",
            errors[1].message
        );
        let rejection = unknown_repo_of("runs", errors, 3);
        assert_eq!(rejection.exception_type, ExceptionType::UnknownRepo);
        assert!(rejection.error.starts_with("2 of 3 runs"));
    }
}
