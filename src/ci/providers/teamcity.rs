//! TeamCity. Few parameters are environment variables; the rest are in two Java properties
//! files the agent writes for each build: TEAMCITY_BUILD_PROPERTIES_FILE (system properties),
//! and the configuration parameters file it names.
//! <https://www.jetbrains.com/help/teamcity/predefined-build-parameters.html>

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{CiFacts, Field, Vars};

pub(super) fn extras(facts: &mut CiFacts, vars: &Vars) {
    let params = vars
        .get("TEAMCITY_BUILD_PROPERTIES_FILE")
        .map(|file| Params::read(Path::new(&file)))
        .unwrap_or_default();
    let param = |key: &str| {
        params
            .get(key)
            .map(|v| Field::new(v, format!("TeamCity parameter {key}")))
    };

    facts.workflow = vars.field("TEAMCITY_BUILDCONF_NAME");
    // teamcity.build.id is unique on the server (a re-run is a new build); BUILD_NUMBER is
    // a configurable label that may repeat.
    facts.run_id = param("teamcity.build.id").or(facts.run_id.take());
    facts.repo_url = param("vcsroot.url");
    facts.actor = param("teamcity.build.triggeredBy.username");
    if let (Some(server), Some(id)) = (
        params.get("teamcity.serverUrl"),
        params.get("teamcity.build.id"),
    ) {
        facts.run_url = Some(Field::new(
            format!("{}/viewLog.html?buildId={id}", server.trim_end_matches('/')),
            "TeamCity parameters teamcity.serverUrl, teamcity.build.id",
        ));
    }
    // `<default>` stands for the VCS root's default branch, which is not a branch name.
    facts.branch = param("teamcity.build.branch")
        .or(facts.branch.take())
        .filter(|b| b.value != "<default>");
    facts.job_key = params
        .get("teamcity.build.id")
        .cloned()
        .or_else(|| vars.key(&["TEAMCITY_BUILDCONF_NAME", "BUILD_NUMBER"]));
    facts.temp_dir = params.get("teamcity.build.tempDir").map(PathBuf::from);
}

/// The build's parameters from both files; an unreadable file contributes nothing.
#[derive(Default)]
struct Params(HashMap<String, String>);

impl Params {
    fn read(build_file: &Path) -> Params {
        let mut params = read_properties(build_file);
        if let Some(config_file) = params
            .get("teamcity.configuration.properties.file")
            .cloned()
        {
            for (k, v) in read_properties(Path::new(&config_file)) {
                params.entry(k).or_insert(v);
            }
        }
        Params(params)
    }

    fn get(&self, key: &str) -> Option<&String> {
        self.0.get(key).filter(|v| !v.trim().is_empty())
    }
}

fn read_properties(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .map(|text| parse_properties(&text))
        .unwrap_or_default()
}

/// The `java.util.Properties` text format: `key=value` or `key: value` lines, `#`/`!`
/// comments, backslash escapes (`\:`, `\=`, `\\`, `\uXXXX`...) and `\` line continuations.
fn parse_properties(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let (key, value) = split_entry(&logical);
        map.insert(unescape(key), unescape(value.trim_start()));
        logical.clear();
    }
    map
}

/// Splits at the first unescaped `=`, `:` or whitespace.
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], &line[i + 1..]),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix('=')
                    .or_else(|| rest.strip_prefix(':'))
                    .unwrap_or(rest);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use ci_env::CiProvider;

    use super::super::{extras_for, value};
    use super::*;

    #[test]
    fn properties_format() {
        let map = parse_properties(
            "# comment\n! also\nvcsroot.url=https\\://git.example.com/acme/shop.git\n\
             a.b : spaced value\nlong=first \\\n   second\nunicode=caf\\u00e9\nempty=\n",
        );
        assert_eq!(map["vcsroot.url"], "https://git.example.com/acme/shop.git");
        assert_eq!(map["a.b"], "spaced value");
        assert_eq!(map["long"], "first second");
        assert_eq!(map["unicode"], "café");
        assert_eq!(map["empty"], "");
    }

    #[test]
    fn documented_parameters_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("teamcity.config.parameters");
        std::fs::write(
            &config,
            "teamcity.serverUrl=https\\://teamcity.example.com\n\
             vcsroot.url=https\\://github.com/acme/shop.git\n\
             teamcity.build.branch=main\n\
             teamcity.build.triggeredBy.username=grace\n",
        )
        .expect("writes");
        let build = dir.path().join("build.properties");
        std::fs::write(
            &build,
            format!(
                "teamcity.build.id=4021\nteamcity.build.tempDir={}\nteamcity.configuration.properties.file={}\n",
                dir.path().join("buildTmp").display(),
                config.display().to_string().replace(':', "\\:")
            ),
        )
        .expect("writes");
        let build = build.display().to_string();
        let f = extras_for(
            CiProvider::TeamCity,
            &[
                ("TEAMCITY_BUILD_PROPERTIES_FILE", build.as_str()),
                ("TEAMCITY_BUILDCONF_NAME", "Deploy production"),
                ("BUILD_NUMBER", "112"),
            ],
        );
        assert_eq!(value(&f.workflow), Some("Deploy production"));
        assert_eq!(value(&f.run_id), Some("4021"));
        assert_eq!(value(&f.repo_url), Some("https://github.com/acme/shop.git"));
        assert_eq!(value(&f.actor), Some("grace"));
        assert_eq!(value(&f.branch), Some("main"));
        assert_eq!(
            value(&f.run_url),
            Some("https://teamcity.example.com/viewLog.html?buildId=4021")
        );
        assert_eq!(f.job_key.as_deref(), Some("4021"));
        assert_eq!(f.temp_dir, Some(dir.path().join("buildTmp")));
    }

    #[test]
    fn without_parameter_files() {
        let f = extras_for(
            CiProvider::TeamCity,
            &[("TEAMCITY_BUILDCONF_NAME", "Deploy"), ("BUILD_NUMBER", "7")],
        );
        assert_eq!(value(&f.workflow), Some("Deploy"));
        assert_eq!(f.job_key.as_deref(), Some("Deploy/7"));
    }
}
