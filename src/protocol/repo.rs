//! Repository references: URLs in the forms CI systems and git remotes use, and `org/name`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A repository identified by host, organisation (may contain `/` for GitLab subgroups) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    pub host: String,
    pub org: String,
    pub name: String,
}

impl RepoRef {
    /// Parses `https://host/org/name[.git]`, `http://…`, `ssh://[user@]host[:port]/org/name.git`
    /// and scp-like `git@host:org/name.git`. Credentials, query and fragment are ignored.
    pub fn parse_url(input: &str) -> Result<RepoRef, String> {
        let url = input.trim();
        let bad = |why: &str| {
            format!(
                "{why}: expected https://host/org/name or git@host:org/name.git, got {:?}",
                strip_credentials(url)
            )
        };
        let (host, path) = if let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .or_else(|| url.strip_prefix("ssh://"))
            .or_else(|| url.strip_prefix("git://"))
        {
            let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no path"))?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.split_once(':').map_or(host, |(h, _)| h);
            (host, path)
        } else if let Some((user_host, path)) = url.split_once(':') {
            // scp-like syntax: [user@]host:org/name.git
            if user_host.contains('/') || path.starts_with("//") {
                return Err(bad("unsupported URL scheme"));
            }
            let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
            (host, path)
        } else {
            return Err(bad("not a repository URL"));
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(bad("invalid host"));
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let (org, name) = path
            .rsplit_once('/')
            .ok_or_else(|| bad("missing org/name"))?;
        let org = org.trim_matches('/');
        if org.is_empty() || !org.split('/').all(valid_segment) || !valid_segment(name) {
            return Err(bad("invalid org/name"));
        }
        Ok(RepoRef {
            host: host.to_ascii_lowercase(),
            org: org.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `org/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.org, self.name)
    }

    /// The canonical https URL.
    pub fn url(&self) -> String {
        format!("https://{}/{}/{}", self.host, self.org, self.name)
    }

    /// Whether this repo is the one `repo_name` (`org/name` or bare `name`) designates,
    /// ignoring case like the forges do.
    pub fn matches_name(&self, repo_name: &RepoName) -> bool {
        self.name.eq_ignore_ascii_case(&repo_name.name)
            && repo_name
                .org
                .as_deref()
                .is_none_or(|org| self.org.eq_ignore_ascii_case(org))
    }

    /// Same repository, ignoring case.
    pub fn same_as(&self, other: &RepoRef) -> bool {
        self.host == other.host
            && self.org.eq_ignore_ascii_case(&other.org)
            && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.host, self.org, self.name)
    }
}

/// An entry of `repo_names`: `org/name` or a bare `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoName {
    pub org: Option<String>,
    pub name: String,
}

impl RepoName {
    pub fn parse(input: &str) -> Result<RepoName, String> {
        let s = input.trim().trim_matches('/');
        let bad = || format!("expected org/name or name, got {input:?}");
        match s.rsplit_once('/') {
            Some((org, name)) if org.split('/').all(valid_segment) && valid_segment(name) => {
                Ok(RepoName {
                    org: Some(org.to_owned()),
                    name: name.to_owned(),
                })
            }
            None if valid_segment(s) => Ok(RepoName {
                org: None,
                name: s.to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// Removes `user:password@` from a URL so tokens never reach a log, a payload or the server.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, String, String) {
        let r = RepoRef::parse_url(url).expect(url);
        (r.host, r.org, r.name)
    }

    #[test]
    fn url_forms() {
        let want = (
            "github.com".to_owned(),
            "acme".to_owned(),
            "shop".to_owned(),
        );
        for url in [
            "https://github.com/acme/shop",
            "https://github.com/acme/shop.git",
            "https://github.com/acme/shop/",
            "https://x-access-token:secret@github.com/acme/shop.git",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com:22/acme/shop.git",
            "HTTPS://GitHub.com/acme/shop".to_lowercase().as_str(),
        ] {
            assert_eq!(parsed(url), want, "{url}");
        }
        assert_eq!(
            parsed("https://gitlab.com/group/sub/proj.git"),
            ("gitlab.com".into(), "group/sub".into(), "proj".into())
        );
    }

    #[test]
    fn bad_urls() {
        for url in [
            "",
            "github.com",
            "https://github.com/",
            "https://github.com/acme",
            "ftp://github.com/a/b",
            "https://git hub.com/a/b",
            "https://github.com/a/b c",
            "https://github.com/../b",
        ] {
            assert!(RepoRef::parse_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn errors_never_echo_credentials() {
        let err = RepoRef::parse_url("https://u:tok@github.com/").expect_err("invalid");
        assert!(!err.contains("tok"), "{err}");
    }

    #[test]
    fn names() {
        assert_eq!(
            RepoName::parse("acme/shop"),
            Ok(RepoName {
                org: Some("acme".into()),
                name: "shop".into()
            })
        );
        assert_eq!(RepoName::parse("shop").map(|n| n.org), Ok(None));
        assert!(RepoName::parse("a b").is_err());
        assert!(RepoName::parse("").is_err());
        let repo = RepoRef::parse_url("https://github.com/Acme/Shop").expect("valid");
        assert!(repo.matches_name(&RepoName::parse("acme/shop").expect("valid")));
        assert!(repo.matches_name(&RepoName::parse("shop").expect("valid")));
        assert!(!repo.matches_name(&RepoName::parse("other/shop").expect("valid")));
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://user:tok@gitlab.com/a/b.git"),
            "https://gitlab.com/a/b.git"
        );
        assert_eq!(
            strip_credentials("https://gitlab.com/a@b"),
            "https://gitlab.com/a@b"
        );
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }
}
