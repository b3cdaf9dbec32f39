//! The repository filter of `runs list --repo` and `GET /api/runs?repo=`: every form mwctl
//! prints or accepts designates the same repository.

use std::fmt;
use std::str::FromStr;

use super::{RepoName, RepoRef};

/// One reading of a filter: host only when the input named one, org unless a bare name.
/// Matching ignores ASCII case, as the forges do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoPattern {
    /// Lowercase, without a leading `www.`.
    pub host: Option<String>,
    pub org: Option<String>,
    pub name: String,
}

/// A parsed `--repo`/`repo=`; it matches a repository that fits any of its readings.
///
/// `host/org/name` (what `repos link` prints) and `group/subgroup/name` (a GitLab org with a
/// subgroup) look alike, so a three-part path is read both ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoFilter {
    input: String,
    pub patterns: Vec<RepoPattern>,
}

/// The forms, for error messages and help.
pub const REPO_FILTER_FORMS: &str =
    "https://host/org/name, host/org/name, org/name, name or git@host:org/name.git";

impl RepoFilter {
    pub fn parse(input: &str) -> Result<RepoFilter, String> {
        let s = input.trim();
        let bad = || format!("{s:?} is not a repository; give one of {REPO_FILTER_FORMS}");
        if s.is_empty() || s.len() > 512 || s.chars().any(char::is_control) {
            return Err(bad());
        }
        let mut patterns = Vec::new();
        if s.contains("://") || s.contains(':') {
            // A URL or scp form: nothing else.
            let repo = RepoRef::parse_url(s).map_err(|_| bad())?;
            patterns.push(RepoPattern::from_ref(repo));
        } else {
            if let Ok(repo) = RepoRef::parse_url(&format!("https://{s}")) {
                // `host/org/name[.git]` needs a host that looks like one (a dot or localhost),
                // so `acme/shop` is never read as host `acme`.
                if repo.host.contains('.') || repo.host == "localhost" {
                    patterns.push(RepoPattern::from_ref(repo));
                }
            }
            if let Ok(name) = RepoName::parse(s) {
                patterns.push(RepoPattern {
                    host: None,
                    org: name.org,
                    name: name.name,
                });
            }
        }
        if patterns.is_empty() {
            return Err(bad());
        }
        Ok(RepoFilter {
            input: s.to_owned(),
            patterns,
        })
    }

    /// Whether the repository `host`/`org`/`name` is one this filter designates.
    pub fn matches(&self, host: &str, org: &str, name: &str) -> bool {
        self.patterns.iter().any(|p| {
            p.name.eq_ignore_ascii_case(name)
                && p.org.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(org))
                && p.host.as_deref().is_none_or(|h| h == bare_host(host))
        })
    }

    /// The filter as given (trimmed), to send on.
    pub fn as_str(&self) -> &str {
        &self.input
    }
}

impl RepoPattern {
    fn from_ref(repo: RepoRef) -> RepoPattern {
        RepoPattern {
            host: Some(bare_host(&repo.host)),
            org: Some(repo.org),
            name: repo.name,
        }
    }
}

/// The host lowercased and without `www.`: `www.github.com` is `github.com`.
pub fn bare_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.strip_prefix("www.") {
        Some(rest) => rest.to_owned(),
        None => host,
    }
}

impl FromStr for RepoFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<RepoFilter, String> {
        RepoFilter::parse(s)
    }
}

impl fmt::Display for RepoFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_form_designates_the_repo() {
        for input in [
            "https://github.com/acme/shop",
            "https://github.com/acme/shop.git",
            "http://www.GitHub.com/Acme/Shop/",
            "github.com/acme/shop",
            "GitHub.com/acme/shop.git",
            "www.github.com/acme/shop",
            "acme/shop",
            "ACME/SHOP",
            "shop",
            " shop ",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com:22/acme/shop.git",
        ] {
            let filter = RepoFilter::parse(input).expect(input);
            assert!(filter.matches("github.com", "acme", "shop"), "{input}");
            assert!(
                !filter.matches("github.com", "acme", "api"),
                "{input} matched another repo"
            );
        }
    }

    #[test]
    fn hosts_and_orgs_narrow_the_match() {
        let filter = RepoFilter::parse("gitlab.com/acme/shop").expect("parses");
        assert!(!filter.matches("github.com", "acme", "shop"));
        assert!(!RepoFilter::parse("other/shop").expect("parses").matches(
            "github.com",
            "acme",
            "shop"
        ));
        // A GitLab subgroup path is read as org too.
        let filter = RepoFilter::parse("group/sub/proj").expect("parses");
        assert!(filter.matches("gitlab.com", "group/sub", "proj"));
        let filter = RepoFilter::parse("gitlab.com/group/sub/proj").expect("parses");
        assert!(filter.matches("gitlab.com", "group/sub", "proj"));
        // `acme/shop` is never host `acme`.
        assert_eq!(
            RepoFilter::parse("acme/shop")
                .expect("parses")
                .patterns
                .len(),
            1
        );
    }

    #[test]
    fn bad_filters_say_which_forms_work() {
        for input in [
            "",
            "   ",
            "a b",
            "acme/../shop",
            "ftp://github.com/a/b",
            "https://github.com/",
            "shop\u{1b}[2J",
            &"x".repeat(600),
        ] {
            let err = RepoFilter::parse(input).expect_err(input);
            assert!(err.contains("org/name"), "{err}");
        }
    }
}
