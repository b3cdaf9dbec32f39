//! Repository references: URLs in the forms CI systems and git remotes use, and `org/name`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// A repository identified by host, organisation (may contain `/` for GitLab subgroups) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    pub host: String,
    pub org: String,
    pub name: String,
}

impl RepoRef {
    /// Parses `https://host/org/name[.git]`, `http://…`, `ssh://[user@]host[:port]/org/name.git`,
    /// `git://…` and scp-like `[user@]host:org/name.git`, with the `url` crate. Credentials,
    /// port, query and fragment are ignored; a leading `www.` is dropped from the host (forges
    /// redirect it); a GitLab page URL stops at its `/-/` (`…/group/app/-/pipelines/7`).
    pub fn parse_url(input: &str) -> Result<RepoRef, String> {
        Self::with_parsed(input, RepoRef::clone)
    }

    /// What `f` makes of [`RepoRef::parse_url`]'s result, without a copy of it: a backfill
    /// checks one of the same few URLs in every run, and three strings cloned per run showed.
    /// `f` runs while the remembered URLs are borrowed: it must not parse URLs itself.
    pub fn with_parsed<R>(input: &str, f: impl FnOnce(&RepoRef) -> R) -> Result<R, String> {
        // The last URLs parsed are remembered per thread (parsing is pure): it saves a URL
        // parse per run.
        const REMEMBERED: usize = 8;
        thread_local! {
            static RECENT: RefCell<VecDeque<(String, RepoRef)>> =
                const { RefCell::new(VecDeque::new()) };
        }
        let hit = RECENT.with_borrow(|recent| recent.iter().position(|(url, _)| url == input));
        if let Some(i) = hit {
            return Ok(RECENT.with_borrow(|recent| f(&recent[i].1)));
        }
        let repo = Self::parse_url_uncached(input)?;
        let made = f(&repo);
        RECENT.with_borrow_mut(|recent| {
            if recent.len() == REMEMBERED {
                recent.pop_back();
            }
            recent.push_front((input.to_owned(), repo));
        });
        Ok(made)
    }

    fn parse_url_uncached(input: &str) -> Result<RepoRef, String> {
        let input = input.trim();
        let bad = |why: &str| {
            format!(
                "{why}: expected https://host/org/name or git@host:org/name.git, got {:?}",
                strip_credentials(input)
            )
        };
        let url = if input.contains("://") {
            Url::parse(input).map_err(|e| bad(&format!("not a URL ({e})")))?
        } else {
            // scp-like syntax: [user@]host:path. Rebuilt as ssh://, which the url crate parses.
            let (user_host, path) = input
                .split_once(':')
                .ok_or_else(|| bad("not a repository URL"))?;
            if user_host.is_empty() || user_host.contains(['/', '\\']) || path.starts_with("//") {
                return Err(bad("unsupported URL scheme"));
            }
            let path = path.trim_start_matches('/');
            Url::parse(&format!("ssh://{user_host}/{path}"))
                .map_err(|e| bad(&format!("not a URL ({e})")))?
        };
        if !matches!(url.scheme(), "https" | "http" | "ssh" | "git" | "git+ssh") {
            return Err(bad("unsupported URL scheme"));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host);
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(bad("invalid host"));
        }
        let mut segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if let Some(dash) = segments.iter().position(|s| *s == "-") {
            segments.truncate(dash);
        }
        let Some((name, org)) = segments.split_last() else {
            return Err(bad("missing org/name"));
        };
        let name = name.strip_suffix(".git").unwrap_or(name);
        if org.is_empty() || !org.iter().all(|s| valid_segment(s)) || !valid_segment(name) {
            return Err(bad("invalid org/name"));
        }
        Ok(RepoRef {
            host: host.to_owned(),
            org: org.join("/"),
            name: name.to_owned(),
        })
    }

    /// `org/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.org, self.name)
    }

    /// The canonical URL, the one form mwctl sends: `https://host/org/name`, host in lower
    /// case, no `.git`, no trailing slash, no credentials.
    pub fn url(&self) -> String {
        format!("https://{}/{}/{}", self.host, self.org, self.name)
    }

    /// Whether `url` is exactly [`RepoRef::url`], without building it.
    pub fn is_url(&self, url: &str) -> bool {
        url.strip_prefix("https://")
            .and_then(|rest| rest.strip_prefix(self.host.as_str()))
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_prefix(self.org.as_str()))
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| name == self.name)
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

/// The canonical form of a repository URL (see [`RepoRef::url`]), or why it is not one.
pub fn canonical_repo_url(input: &str) -> Result<String, String> {
    RepoRef::with_parsed(input, RepoRef::url)
}

/// Removes `user:password@` from a URL so tokens never reach a log, a payload, a file or the
/// server: the one place mwctl does it (deploy fields, CI detection, send, rejects, errors).
/// Anything that is not a URL with credentials comes back unchanged.
pub fn strip_credentials(url: &str) -> String {
    // No `@`, no user info: the common case, without parsing the URL.
    if !url.contains('@') {
        return url.to_owned();
    }
    if let Ok(mut parsed) = Url::parse(url)
        && (!parsed.username().is_empty() || parsed.password().is_some())
        && parsed.set_username("").is_ok()
        && parsed.set_password(None).is_ok()
    {
        return parsed.into();
    }
    // Not parseable as a URL (a space in the host, say), but it may still carry a token.
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// [`strip_credentials`] on every URL in a piece of text (an error message, a server's
/// answer), so that a token quoted anywhere goes no further.
pub fn strip_credentials_in_text(text: &str) -> String {
    if !text.contains('@') || !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters (and + - .) just before "://".
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..scheme_start]);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&strip_credentials(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, String, String) {
        let r = RepoRef::parse_url(url).expect(url);
        (r.host, r.org, r.name)
    }

    #[test]
    fn is_url_agrees_with_url() {
        for input in [
            "https://github.com/acme/shop",
            "git@GitHub.com:acme/shop.git",
            "https://gitlab.com/g/sub/app/-/pipelines/7",
        ] {
            let repo = RepoRef::parse_url(input).expect(input);
            assert!(repo.is_url(&repo.url()), "{input}");
            for other in [
                input,
                "https://github.com/acme/shop/",
                "https://github.com/acme/sho",
                "https://github.com/acm/eshop",
                "http://github.com/acme/shop",
                "",
            ] {
                assert_eq!(
                    repo.is_url(other),
                    repo.url() == other,
                    "{input} vs {other}"
                );
            }
        }
    }

    #[test]
    fn remembered_parses_are_the_parses() {
        // More distinct URLs than are remembered, twice over: each gives its own parse.
        let urls: Vec<String> = (0..20)
            .map(|i| format!("https://github.com/org{i}/app{i}.git"))
            .collect();
        for _ in 0..2 {
            for (i, url) in urls.iter().enumerate() {
                assert_eq!(
                    parsed(url),
                    ("github.com".into(), format!("org{i}"), format!("app{i}"))
                );
            }
        }
        assert!(RepoRef::parse_url("not a url").is_err());
        assert!(
            RepoRef::parse_url("not a url").is_err(),
            "errors are not remembered"
        );
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
            "HTTPS://GitHub.com/acme/shop",
            "https://www.github.com/acme/shop",
            "git+ssh://git@github.com/acme/shop.git",
            "github.com:acme/shop.git",
            "  https://github.com//acme/shop.git?x=1#frag ",
        ] {
            assert_eq!(parsed(url), want, "{url}");
        }
        assert_eq!(
            parsed("https://gitlab.com/group/sub/proj.git"),
            ("gitlab.com".into(), "group/sub".into(), "proj".into())
        );
    }

    #[test]
    fn one_canonical_form() {
        for (input, want) in [
            (
                "git@GitHub.com:Acme/Shop.git",
                "https://github.com/Acme/Shop",
            ),
            (
                "ssh://git@gitlab.example.com:2222/g/sub/app.git",
                "https://gitlab.example.com/g/sub/app",
            ),
            (
                "https://ci:tok@WWW.GitLab.com/g/app/",
                "https://gitlab.com/g/app",
            ),
            (
                "https://gitlab.com/g/sub/app/-/pipelines/47",
                "https://gitlab.com/g/sub/app",
            ),
            (
                "http://git.example.com:8080/a/b.git",
                "https://git.example.com/a/b",
            ),
        ] {
            assert_eq!(canonical_repo_url(input).as_deref(), Ok(want), "{input}");
        }
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
            "https://[::1]/a/b",
            "file:///a/b",
            "C:\\repos\\a",
            "/srv/git/a/b",
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
        assert_eq!(
            strip_credentials("https://x-access-token:ghs_1@github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(
            strip_credentials("https://tok@git hub.com/a"),
            "https://git hub.com/a"
        );
        assert_eq!(strip_credentials("not a url"), "not a url");
        assert_eq!(
            strip_credentials_in_text(
                "cannot fetch https://u:ghp_secret@github.com/a/b.git: refused (see \"https://ok.example.com/x\")"
            ),
            "cannot fetch https://github.com/a/b.git: refused (see \"https://ok.example.com/x\")"
        );
    }
}
